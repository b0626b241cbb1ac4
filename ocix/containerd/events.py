"""containerd.services.events.v1.Events: Subscribe, with each envelope's payload decoded.

An envelope carries its payload as an Any whose type URL is the message's full protobuf name
(`containerd.events.TaskExit`, `containerd.services.images.v1.ImageCreate`), sometimes with a
`.../` prefix; the message is looked up by that name among the compiled event protos.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import OcixError
from ._convert import timestamp
from .connection import Connection, load_stub_module

_pb = load_stub_module("services.events.v1.events_pb2")
_EVENT_MODULES = ("container", "content", "image", "namespace", "snapshot", "task")


@dataclass(frozen=True)
class Event:
    timestamp: datetime | None
    namespace: str
    topic: str
    type: str  # the payload's message name
    payload: dict[str, Any] = field(default_factory=dict)


def _load_event_types() -> None:
    for name in _EVENT_MODULES:
        load_stub_module(f"events.{name}_pb2")  # registers the messages in the default pool


def decode(type_url: str, value: bytes) -> tuple[str, dict[str, Any]]:
    """(message name, fields) of one payload; unknown types give their name and no fields."""
    from google.protobuf import descriptor_pool, json_format, message_factory

    _load_event_types()
    name = type_url.rsplit("/", 1)[-1]
    try:
        desc = descriptor_pool.Default().FindMessageTypeByName(name)
    except KeyError:
        return name, {}
    msg = message_factory.GetMessageClass(desc)()
    msg.ParseFromString(value)
    return name, json_format.MessageToDict(msg, preserving_proto_field_name=True)


def _event(env: Any) -> Event:
    name, payload = decode(env.event.type_url, env.event.value)
    return Event(timestamp(env.timestamp), env.namespace, env.topic, name, payload)


def subscribe(conn: Connection, filters: list[str] | None = None,
              timeout: float | None = None) -> Iterator[Event]:
    """Events as containerd publishes them, in every namespace unless a filter says otherwise.
    With `timeout`, the stream ends quietly after that many seconds."""
    req = _pb.SubscribeRequest(filters=filters or [])
    deadline = time.monotonic() + timeout if timeout is not None else None
    try:
        for env in conn.server_stream("events", "Subscribe", req, timeout=timeout,
                                      what="subscribe to events"):
            yield _event(env)
    except OcixError:
        # The deadline ends the stream from either side: grpc's DEADLINE_EXCEEDED, or
        # containerd's own "subscription error: context deadline exceeded".
        if deadline is None or time.monotonic() < deadline - 0.05:
            raise
