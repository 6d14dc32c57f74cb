"""Delivery status rules, pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from inbox.channels.v1 import events_pb2

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
    channel: int
    status: DeliveryStatus
    detail: str
    updated_at_us: int
