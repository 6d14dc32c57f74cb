"""DeliveryStore contract, against SQLite and MongoDB alike: each status once, the furthest wins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox.channels.v1 import events_pb2
from inbox_channels.domain import Delivery
from inbox_channels.store import DeliveryStore
from inbox_channels.store.mongo import STATUSES, MongoDeliveryStore
from inbox_channels.store.sqlite import SqliteDeliveryStore
from inbox_devstack.migrations import written_by
from inbox_devstack.plugin import StoreBackend
from inbox_runtime.mongo import close_database, connect_database

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
    return Delivery("m1", "conv-1", "sms", value, detail, at)  # type: ignore[arg-type]


async def test_each_status_is_recorded_once_and_the_furthest_is_the_status(store: DeliveryStore) -> None:
    assert await store.get("m1") is None
    assert await store.record(status(DELIVERED, 2))
    assert await store.record(status(SENT, 3))  # late callback: kept, but not the status
    assert not await store.record(status(SENT, 4))
    assert (await store.get("m1")) == status(DELIVERED, 2)
    assert await store.record(status(READ, 5))
    assert await store.record(status(FAILED, 6, "carrier rejected"))
    assert (await store.get("m1")) == status(FAILED, 6, "carrier rejected")


async def test_a_delivery_stored_with_the_v1_enum_number_reads_back_by_name(
    store_backend: StoreBackend, tmp_path: Path
) -> None:
    """Stores written before channels had names: SQLite's migration 3, MongoDB's `channels-by-name`."""
    opened: DeliveryStore
    if store_backend.mongo is None:
        path = tmp_path / "older.sqlite3"
        older = written_by(path, SqliteDeliveryStore.MIGRATIONS[:2])
        older.execute("INSERT INTO delivery_statuses VALUES ('m1', 2, 2, 'conv-1', 3, '', 1)")
        older.commit()
        older.close()
        opened = await SqliteDeliveryStore.open(path)
    else:
        database = connect_database(store_backend.mongo)
        document = {"_id": "m1#2", "message_id": "m1", "status": 2, "rank": 2, "conversation_id": "conv-1"}
        await database[STATUSES].insert_one({**document, "channel": 3, "detail": "", "updated_at_us": 1})
        await close_database(database)
        opened = await MongoDeliveryStore.open(store_backend.mongo)
    try:
        found = await opened.get("m1")
        assert found is not None and found.channel == "sms"
    finally:
        await opened.close()
