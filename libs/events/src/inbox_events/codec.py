"""Events on the wire: a protobuf payload inside the common EventEnvelope."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import DecodeError, Message
from inbox.events.v1 import envelope_pb2

M = TypeVar("M", bound=Message)

DEFAULT_TENANT = "default"


class MalformedEvent(ValueError):
    """Bytes that are not an envelope of the expected type; retrying cannot help."""


def encode(
    event: Message,
    *,
    event_id: str,
    tenant_id: str = DEFAULT_TENANT,
    correlation_id: str = "",
    trace: dict[str, str] | None = None,
    occurred_at: datetime | None = None,
) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(
        event_id=event_id,
        type=event.DESCRIPTOR.full_name,
        tenant_id=tenant_id,
        correlation_id=correlation_id,
    )
    if occurred_at is not None:
        envelope.occurred_at.FromDatetime(occurred_at)
    else:  # the common case, without FromDatetime's conversions (they showed in publishers' profiles)
        envelope.occurred_at.FromNanoseconds(time.time_ns())
    if trace:  # the publishing span's W3C context (inbox_runtime.tracing), when tracing is on
        envelope.trace.traceparent = trace.get("traceparent", "")
        envelope.trace.tracestate = trace.get("tracestate", "")
    envelope.payload.Pack(event)
    return envelope


def decode(data: bytes, expected: type[M]) -> tuple[envelope_pb2.EventEnvelope, M]:
    envelope = envelope_pb2.EventEnvelope()
    try:
        envelope.ParseFromString(data)
    except DecodeError as exc:
        raise MalformedEvent(f"not an event envelope: {exc}") from exc
    payload = expected()
    try:
        unpacked = envelope.type == expected.DESCRIPTOR.full_name and envelope.payload.Unpack(payload)
    except DecodeError as exc:
        raise MalformedEvent(f"payload of {envelope.type} does not parse: {exc}") from exc
    if not unpacked:
        raise MalformedEvent(f"expected {expected.DESCRIPTOR.full_name}, got {envelope.type or 'nothing'!r}")
    if not envelope.event_id:
        raise MalformedEvent("envelope has no event_id")
    return envelope, payload
