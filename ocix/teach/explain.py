"""`ocix explain`: load a topic's text from package data and mark which of its parts run here."""

from __future__ import annotations

import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources

from ..errors import NotFoundError, OcixError
from .probe import Mark, probe

TOPIC_ORDER = ("docker", "containerd", "cri", "cri-o", "podman", "runc", "oci", "shims",
               "namespaces", "cgroups", "capabilities", "storage", "rootless")
ALIASES = {"crio": "cri-o", "caps": "capabilities", "cgroup": "cgroups", "ns": "namespaces",
           "namespace": "namespaces", "shim": "shims", "conmon": "shims", "dockerd": "docker",
           "crun": "runc", "image": "oci", "images": "oci", "snapshotters": "storage",
           "overlay2": "storage", "userns": "rootless"}


@dataclass(frozen=True)
class Part:
    name: str
    probe: str


@dataclass
class Topic:
    name: str
    title: str
    summary: str
    diagram: str
    text: str
    commands: list[str]
    parts: list[Part]
    marks: list[Mark] = field(default_factory=list)


def _topics_dir() -> resources.abc.Traversable:
    return resources.files("ocix.teach") / "topics"


def topic_names() -> list[str]:
    """Every topic file, in teaching order (unknown extras last, by name)."""
    found = sorted(p.name.removesuffix(".toml") for p in _topics_dir().iterdir()
                   if p.name.endswith(".toml"))
    return [t for t in TOPIC_ORDER if t in found] + [t for t in found if t not in TOPIC_ORDER]


def resolve_name(name: str) -> str:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in topic_names():
        raise NotFoundError(f"no topic {name!r}",
                            hint="topics: " + ", ".join(topic_names()))
    return key


def load(name: str) -> Topic:
    """The topic's text without live marks; raises NotFoundError for an unknown topic."""
    key = resolve_name(name)
    try:
        data = tomllib.loads((_topics_dir() / f"{key}.toml").read_text())
    except tomllib.TOMLDecodeError as e:
        raise OcixError(f"topic file {key}.toml is broken: {e}") from e
    return Topic(name=key, title=data["title"], summary=data["summary"],
                 diagram=data["diagram"].strip("\n"), text=data["text"].strip("\n"),
                 commands=list(data.get("commands", [])),
                 parts=[Part(p["name"], p["probe"]) for p in data.get("parts", [])])


def all_topics() -> list[Topic]:
    return [load(n) for n in topic_names()]


def explain(name: str, *, live: bool = True) -> Topic:
    """The topic with one live mark per part (probes run in parallel: each may exec a binary)."""
    topic = load(name)
    if live and topic.parts:
        with ThreadPoolExecutor(max_workers=min(8, len(topic.parts))) as pool:
            topic.marks = list(pool.map(lambda p: probe(p.name, p.probe), topic.parts))
    return topic
