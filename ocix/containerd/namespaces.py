"""containerd.services.namespaces.v1.Namespaces."""

from __future__ import annotations

from dataclasses import dataclass, field

from .connection import Connection, load_stub_module

_pb = load_stub_module("services.namespaces.v1.namespace_pb2")


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NamespaceUsage:
    name: str
    labels: dict[str, str]
    images: int
    containers: int


def list_namespaces(conn: Connection) -> list[Namespace]:
    r = conn.unary("namespaces", "List", _pb.ListNamespacesRequest(), what="list namespaces")
    return sorted((Namespace(n.name, dict(n.labels)) for n in r.namespaces), key=lambda n: n.name)


def create(conn: Connection, name: str, labels: dict[str, str] | None = None) -> Namespace:
    req = _pb.CreateNamespaceRequest(namespace=_pb.Namespace(name=name, labels=labels or {}))
    r = conn.unary("namespaces", "Create", req, what=f"create namespace {name}")
    return Namespace(r.namespace.name, dict(r.namespace.labels))


def remove(conn: Connection, name: str) -> None:
    conn.unary("namespaces", "Delete", _pb.DeleteNamespaceRequest(name=name),
               what=f"remove namespace {name}")


def usage(conn: Connection) -> list[NamespaceUsage]:
    """Every namespace with how many images and containers it holds."""
    from . import containers, images

    out = []
    for ns in list_namespaces(conn):
        scoped = conn.in_namespace(ns.name)
        out.append(NamespaceUsage(ns.name, ns.labels, len(images.list_images(scoped)),
                                  len(containers.list_containers(scoped))))
    return out
