"""The channels service's repository: delivery status per outbound message. Data access only; the
actions decide whether a status advances (domain.status_advances).

Two implementations keep the same contract (`tests/test_store_contract.py`): SQLite, the embedded
default, and MongoDB, selected by `MONGODB_URI`.
"""

from __future__ import annotations

from typing import Protocol

from inbox_channels.domain import Delivery


class DeliveryStore(Protocol):
    async def record(self, delivery: Delivery) -> bool:
        """Keep this status of the message; False when that status was recorded already. The latest
        status is the furthest one (a failure beats every other)."""
        ...

    async def get(self, message_id: str) -> Delivery | None:
        """The message's furthest status."""
        ...

    async def wait_ready(self) -> None:
        """Return once the store answers; retry meanwhile, saying so in the log."""
        ...

    async def close(self) -> None: ...
