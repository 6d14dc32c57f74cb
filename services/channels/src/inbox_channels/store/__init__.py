"""The channels service's repository: delivery status per outbound message."""

from __future__ import annotations

from typing import Protocol

from inbox_channels.domain import Delivery, DeliveryStatus


class DeliveryStore(Protocol):
    async def record(
        self, message_id: str, conversation_id: str, channel: int, status: DeliveryStatus, detail: str, now_us: int
    ) -> bool:
        """Store the status if it advances the delivery (see domain.status_advances); True if it did."""
        ...

    async def get(self, message_id: str) -> Delivery | None: ...

    async def close(self) -> None: ...
