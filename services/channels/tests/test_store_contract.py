"""DeliveryStore contract, against SQLite and MongoDB alike: each status once, the furthest wins."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from inbox.channels.v1 import events_pb2
from inbox_channels.domain import Delivery
from inbox_channels.store import DeliveryStore
from inbox_channels.store.mongo import MongoDeliveryStore
from inbox_channels.store.sqlite import SqliteDeliveryStore
from inbox_devstack.plugin import StoreBackend

SENT, DELIVERED, READ, FAILED = (
    events_pb2.DELIVERY_STATUS_SENT,
    events_pb2.DELIVERY_STATUS_DELIVERED,
    events_pb2.DELIVERY_STATUS_READ,
    events_pb2.DELIVERY_STATUS_FAILED,
)


@pytest.fixture
async def store(store_backend: StoreBackend) -> AsyncIterator[DeliveryStore]:
    async with store_backend.opened(MongoDeliveryStore.open, SqliteDeliveryStore.open, "channels.sqlite3") as opened:
        yield opened


def status(value: int, at: int, detail: str = "") -> Delivery:
    return Delivery("m1", "conv-1", 3, value, detail, at)  # type: ignore[arg-type]


async def test_each_status_is_recorded_once_and_the_furthest_is_the_status(store: DeliveryStore) -> None:
    assert await store.get("m1") is None
    assert await store.record(status(DELIVERED, 2))
    assert await store.record(status(SENT, 3))  # late callback: kept, but not the status
    assert not await store.record(status(SENT, 4))
    assert (await store.get("m1")) == status(DELIVERED, 2)
    assert await store.record(status(READ, 5))
    assert await store.record(status(FAILED, 6, "carrier rejected"))
    assert (await store.get("m1")) == status(FAILED, 6, "carrier rejected")
