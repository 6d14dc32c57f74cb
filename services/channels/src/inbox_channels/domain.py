"""Delivery status rules and the order of a sender's items, pure."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TypeAlias

from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_sdk import Capabilities
from inbox_events import StoredEvent
from inbox_runtime.errors import InvalidInput

DeliveryStatus: TypeAlias = events_pb2.DeliveryStatus.ValueType

# Providers report out of order (a "delivered" callback can beat our own "sent"); a status only
# moves forward, except that a failure is always recorded.
_RANK: dict[int, int] = {
    events_pb2.DELIVERY_STATUS_UNSPECIFIED: 0,
    events_pb2.DELIVERY_STATUS_QUEUED: 1,
    events_pb2.DELIVERY_STATUS_SENT: 2,
    events_pb2.DELIVERY_STATUS_DELIVERED: 3,
    events_pb2.DELIVERY_STATUS_READ: 4,
}


def delivery_rank(status: DeliveryStatus) -> int:
    """How far a status is: a message's status is its furthest one, and a failure outranks all."""
    return 100 if status == events_pb2.DELIVERY_STATUS_FAILED else _RANK[status]


def status_label(status: DeliveryStatus) -> str:
    """`DELIVERY_STATUS_DELIVERED` -> `delivered` (a metric's label)."""
    return events_pb2.DeliveryStatus.Name(status).removeprefix("DELIVERY_STATUS_").lower()


def status_advances(current: DeliveryStatus | None, new: DeliveryStatus) -> bool:
    if current is None:
        return True
    if new == events_pb2.DELIVERY_STATUS_FAILED:
        return current != events_pb2.DELIVERY_STATUS_FAILED
    if current == events_pb2.DELIVERY_STATUS_FAILED:
        return False
    return _RANK[new] > _RANK[current]


@dataclass(frozen=True)
class Delivery:
    message_id: str
    conversation_id: str
    channel: str  # its registered name
    status: DeliveryStatus
    detail: str
    updated_at_us: int


def check_proactive(
    capabilities: Capabilities, recipient: message_pb2.ContactPoint, text: str, agent_id: str, client_message_id: str
) -> None:
    """A proactive message must name its sender, recipient and request id, and fit the channel."""
    if not agent_id or not client_message_id or len(client_message_id) > 128:
        raise InvalidInput("agent_id and client_message_id (at most 128 characters) are required")
    if recipient.kind == message_pb2.CONTACT_POINT_KIND_UNSPECIFIED or not recipient.value.strip():
        raise InvalidInput("recipient must name a contact point")
    if not text.strip():
        raise InvalidInput("text must not be empty")
    if capabilities.max_text_length and len(text) > capabilities.max_text_length:
        raise InvalidInput(f"text is longer than this channel allows ({capabilities.max_text_length} characters)")


def sender_key(sender: message_pb2.ContactPoint) -> str:
    """Who wrote an inbound item, as its rate limit counts them."""
    return f"{sender.kind}:{sender.value.lower()}"


@dataclass(frozen=True)
class Link:
    """Where a sender's new item goes: after the last one stored on the sender's subject (by any channels
    replica), which it names, so threading stores it only after that one. Then a message held by a killed
    threading replica, or still on its way through another channels replica, is never overtaken by the
    same customer's later items."""

    previous_message_id: str  # "" for the sender's first item
    # The subject's last sequence, which the publish expects to find there still (0: no item yet).
    expected_sequence: int
    # The last item stored is this very one: a provider's retry of an item already accepted.
    already_stored: bool = False


@dataclass(frozen=True)
class SenderLatest:
    """The last item stored on a sender's subject, as far as one knows."""

    sequence: int
    event_id: str
    message_id: str

    @classmethod
    def of(cls, stored: StoredEvent) -> SenderLatest:
        item = events_pb2.InboundMessage()
        stored.envelope.payload.Unpack(item)
        return cls(stored.sequence, stored.envelope.event_id, item.message_id)


def link_after(latest: SenderLatest | None, event_id: str) -> Link:
    """The link of the item published as `event_id`, given the last item on its sender's subject."""
    if latest is None:
        return Link("", 0)
    if latest.event_id == event_id:
        return Link("", latest.sequence, already_stored=True)
    return Link(latest.message_id, latest.sequence)


# Senders whose latest item a channels process remembers: about 200 bytes each.
REMEMBERED_SENDERS = 50_000


class LatestBySender:
    """The latest item this process stored on each sender's subject, the most recent senders kept. A hint
    only: the publish expects the subject's last sequence to be the one remembered, and the stream refuses it
    when another replica (or this one before a restart) stored something there since."""

    def __init__(self, limit: int = REMEMBERED_SENDERS) -> None:
        self._limit = limit
        self._latest: OrderedDict[str, SenderLatest] = OrderedDict()

    def get(self, subject: str) -> SenderLatest | None:
        latest = self._latest.get(subject)
        if latest is not None:
            self._latest.move_to_end(subject)
        return latest

    def stored(self, subject: str, latest: SenderLatest) -> None:
        self._latest[subject] = latest
        self._latest.move_to_end(subject)
        if len(self._latest) > self._limit:
            self._latest.popitem(last=False)
