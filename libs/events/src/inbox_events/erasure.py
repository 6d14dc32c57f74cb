"""Which stored events are about an erased customer: the decision behind erasing them from the streams.

Mechanism (why not per-customer encryption): JetStream deletes a message by sequence and, unless told not
to, overwrites its bytes on disk (`STREAM.MSG.DELETE` without `no_erase`), so removing the customer's
events leaves nothing to decrypt or to find; encryption would cost every event on the hot path a key
look-up, and inbound events are published before anyone knows whose they are.

An event is the customer's when any of its fields, at any depth (dead letters are opened to the event
they carry), holds the customer's id or one of their conversations' ids, or when a contact point in it
is one of theirs and the event is not newer than the erasure: a later one is a new customer's who took
over the address or number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.events.v1 import envelope_pb2
from inbox.message.v1 import message_pb2

# Registers every event type with the default descriptor pool, so any envelope's payload can be opened.
from inbox_events import subjects as _subjects  # noqa: F401

_CONTACT_POINT = message_pb2.ContactPoint.DESCRIPTOR.full_name
_DEAD_LETTER = envelope_pb2.DeadLetter.DESCRIPTOR.full_name


@dataclass(frozen=True)
class ErasureScope:
    """What identifies one erased customer's events."""

    ids: frozenset[str]
    # (kind, value lower-cased): addresses differ in case between a provider and our store.
    contact_points: frozenset[tuple[int, str]]
    erased_at_ns: int

    @classmethod
    def of(cls, erased: conversation_events.CustomerErased) -> ErasureScope:
        return cls(
            ids=frozenset(i for i in (erased.customer_id, *erased.conversation_ids) if i),
            contact_points=frozenset((c.kind, c.value.lower()) for c in erased.contact_points),
            erased_at_ns=erased.erased_at.ToNanoseconds(),
        )


def payload_of(envelope: envelope_pb2.EventEnvelope) -> Message | None:
    """The envelope's event, or None for a type this release does not know (or a payload that does not parse)."""
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(envelope.type)
    except KeyError:
        return None
    payload = message_factory.GetMessageClass(descriptor)()
    try:
        return payload if envelope.payload.Unpack(payload) else None
    except DecodeError:
        return None


def is_about(envelope: envelope_pb2.EventEnvelope, scope: ErasureScope) -> bool:
    """Whether a stored event is about the erased customer (see the module's docstring)."""
    payload = payload_of(envelope)
    if payload is None:
        return False
    contacts_count = envelope.occurred_at.ToNanoseconds() <= scope.erased_at_ns
    for kind, value in _identifying_values(payload):
        if kind == "id" and value in scope.ids:
            return True
        if kind == "contact" and contacts_count and value in scope.contact_points:
            return True
        if kind == "inner" and isinstance(value, envelope_pb2.EventEnvelope) and is_about(value, scope):
            return True
    return False


def _identifying_values(message: Message) -> Iterator[tuple[str, object]]:
    """Every string of `message` at any depth ("id"), its contact points ("contact"), and the event inside
    a dead letter ("inner")."""
    if message.DESCRIPTOR.full_name == _CONTACT_POINT:
        assert isinstance(message, message_pb2.ContactPoint)
        yield "contact", (int(message.kind), message.value.lower())
        return
    if message.DESCRIPTOR.full_name == _DEAD_LETTER:
        assert isinstance(message, envelope_pb2.DeadLetter)
        inner = envelope_pb2.EventEnvelope()
        try:
            inner.ParseFromString(message.original_data)
        except DecodeError:
            pass
        else:
            yield "inner", inner
    for field, value in message.ListFields():
        yield from _field_values(field, value)


def _field_values(field: FieldDescriptor, value: object) -> Iterator[tuple[str, object]]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        assert isinstance(value, dict) or hasattr(value, "items")
        for key, item in value.items():  # type: ignore[attr-defined]
            yield "id", key
            if isinstance(item, Message):
                yield from _identifying_values(item)
            elif isinstance(item, str):
                yield "id", item
        return
    values: Iterable[object] = value if field.is_repeated else (value,)  # type: ignore[assignment]
    for item in values:
        if isinstance(item, Message):
            yield from _identifying_values(item)
        elif isinstance(item, str):
            yield "id", item


# An erasure notice names the customer's contact points, so it is erased too, once every service that
# takes it has handled it; it waits for them with growing pauses (2 s, 4 s, ... then every 5 minutes),
# about 16 hours in all, before it goes anyway: a consumer that silent is one nobody runs any more.
NOTICE_WAIT_TRIES = 200


def notice_wait_seconds(deliveries: int) -> float | None:
    """How long the notice waits before looking again; None: it has waited long enough."""
    if deliveries >= NOTICE_WAIT_TRIES:
        return None
    return min(300.0, 2.0 * float(2 ** min(max(deliveries - 1, 0), 8)))
