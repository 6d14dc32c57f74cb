"""The MongoDB setting, checked at start without connecting; and the stores' start on a real server."""

from __future__ import annotations

import asyncio

import pytest
from inbox_runtime.config import ConfigError
from inbox_runtime.mongo import (
    Document,
    MongoStore,
    MongoTarget,
    close_database,
    connect_database,
    mongo_target,
    prepare_database,
    with_database,
)
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect


def test_a_uri_names_the_database_or_the_default_one() -> None:
    assert mongo_target("mongodb://mongo:27017/inbox_prod") == MongoTarget(
        "mongodb://mongo:27017/inbox_prod", "inbox_prod"
    )
    assert mongo_target("mongodb://a:1,b:2/?replicaSet=rs0").database == "inbox"


@pytest.mark.parametrize("raw", ["http://mongo:27017/inbox", "mongodb://mongo:port/inbox", "mongodb://", "inbox"])
def test_a_malformed_uri_is_refused_naming_the_setting(raw: str) -> None:
    with pytest.raises(ConfigError, match="MONGODB_URI is not a usable MongoDB URI"):
        mongo_target(raw)


def test_another_database_on_the_same_server_keeps_the_options() -> None:
    assert with_database("mongodb://a:1,b:2/inbox?replicaSet=rs0&w=majority", "t1") == (
        "mongodb://a:1,b:2/t1?replicaSet=rs0&w=majority"
    )
    assert with_database("mongodb://a:1", "t2") == "mongodb://a:1/t2"


class Upgraded(MongoStore):
    """A store whose one upgrade lets every replica in before any finishes: they all run it, then all mark it."""

    SERVICE = "test"
    arrived: asyncio.Barrier

    async def _count_run(database: AsyncDatabase[Document]) -> None:
        await Upgraded.arrived.wait()
        await database["test_runs"].insert_one({})

    UPGRADES = (("count-runs", _count_run),)


async def test_replicas_starting_together_all_open_and_the_upgrade_is_marked_done_once(mongo: MongoTarget) -> None:
    Upgraded.arrived = asyncio.Barrier(3)
    stores = await asyncio.gather(*(Upgraded.open(mongo) for _ in range(3)))
    try:
        marks = await stores[0]._db["test_upgrades"].find({}).to_list()
        assert [mark["_id"] for mark in marks] == ["count-runs"]
        # Safe to run again, as the upgrade's contract says: each replica ran it.
        assert await stores[0]._db["test_runs"].count_documents({}) == 3
        later = await Upgraded.open(mongo)  # a replica started afterwards finds it done
        await later.close()
        assert await stores[0]._db["test_runs"].count_documents({}) == 3
    finally:
        for store in stores:
            await store.close()


async def test_a_connection_lost_while_preparing_the_store_is_retried(mongo: MongoTarget) -> None:
    """As when the server fails over, or FerretDB drops one of two replicas creating the same indexes."""
    tries = 0

    async def upgrade() -> None:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise AutoReconnect("10.0.0.3:27017: connection closed")

    database = connect_database(mongo)
    try:
        indexes = {"test_items": [IndexModel([("key", ASCENDING)], name="key_1", unique=True)]}
        await prepare_database(database, indexes, service="test", retry_seconds=0, upgrade=upgrade)
        assert tries == 2
        assert "key_1" in {index["name"] async for index in await database["test_items"].list_indexes()}
    finally:
        await close_database(database)
