"""Delivery status rules and the order of a sender's items, pure."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TypeAlias

from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_sdk import Capabilities
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


class SenderChains:
    """The item each sender sent last, as this process accepted them: every inbound item names its
    sender's previous one, and threading stores it only after that one. So a message held by a threading
    replica that was killed is not overtaken by the same customer's later messages. In memory and per
    process: after a restart, or across channels replicas, the first item of a sender names nobody and
    is stored as it comes, as before."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._last: OrderedDict[str, str] = OrderedDict()
        self._capacity = capacity

    @staticmethod
    def key(sender: message_pb2.ContactPoint) -> str:
        return f"{sender.kind}:{sender.value.lower()}"

    def link(self, sender: str, message_id: str) -> str:
        """Record `message_id` as the sender's latest; the one before it ("" for none, or a provider's
        retry of the latest)."""
        previous = self._last.pop(sender, "")
        self._last[sender] = message_id
        if len(self._last) > self._capacity:
            self._last.popitem(last=False)  # the sender heard from longest ago
        return "" if previous == message_id else previous

    def unlink(self, sender: str, message_id: str, previous: str) -> None:
        """Forget `message_id` (never published after all), unless a later item followed it already."""
        if self._last.get(sender) == message_id:
            if previous:
                self._last[sender] = previous
            else:
                del self._last[sender]
