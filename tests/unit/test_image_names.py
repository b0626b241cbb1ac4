"""The one short-name rule: a user's image name, else its normalized docker.io name."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from ocix.containerd.connection import Connection
from ocix.containerd.images import Image
from ocix.errors import NotFoundError
from ocix.jobs.images import tree as imagetree
from ocix.oci.descriptor import Descriptor

CONN = cast(Connection, SimpleNamespace(namespace="default"))  # only its namespace is read
TARGET = Descriptor("application/vnd.oci.image.index.v1+json", "sha256:" + "a" * 64, 1)


@pytest.fixture
def stored(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Image records by name in a fake images service; `asked` lists every name looked up."""
    state: dict[str, list[str]] = {"names": ["docker.io/library/busybox:latest", "local-only"],
                                   "asked": []}

    def get(conn: Any, name: str) -> Image:
        state["asked"].append(name)
        if name not in state["names"]:
            raise NotFoundError(f"image {name}: image \"{name}\": not found")
        return Image(name, TARGET)

    def delete(conn: Any, name: str, sync: bool = False) -> None:
        get(conn, name)
        state["names"].remove(name)

    monkeypatch.setattr(imagetree.images, "get", get)
    monkeypatch.setattr(imagetree.images, "delete", delete)
    return state


def test_a_short_name_finds_the_docker_io_record(stored: dict[str, list[str]]) -> None:
    assert imagetree.find_image(CONN, "busybox").name == "docker.io/library/busybox:latest"
    assert stored["asked"] == ["busybox", "docker.io/library/busybox:latest"]


def test_a_name_stored_as_given_wins(stored: dict[str, list[str]]) -> None:
    assert imagetree.find_image(CONN, "local-only").name == "local-only"
    assert stored["asked"] == ["local-only"]


def test_remove_returns_the_name_it_removed(stored: dict[str, list[str]]) -> None:
    assert imagetree.remove_image(CONN, "busybox") == "docker.io/library/busybox:latest"
    assert stored["names"] == ["local-only"]


def test_unknown_names_are_one_not_found_error(stored: dict[str, list[str]]) -> None:
    with pytest.raises(NotFoundError) as e:
        imagetree.find_image(CONN, "nosuch")
    assert (e.value.message, e.value.kind, e.value.subject) == (
        "no image 'nosuch' in namespace 'default'", "image-unknown", "nosuch")
    with pytest.raises(NotFoundError) as e:  # already normalized: asked once
        imagetree.remove_image(CONN, "docker.io/library/nosuch:latest")
    assert stored["asked"][-1] == "docker.io/library/nosuch:latest"
    with pytest.raises(NotFoundError):  # no valid reference: no second try
        imagetree.find_image(CONN, "Not A Ref")
    assert stored["asked"][-1] == "Not A Ref"
