"""Fixtures: every store implementation (SQLite, MongoDB through FerretDB or MONGODB_URI), and the
actions on a chosen store with a real nats-server and a clock the test sets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from inbox_devstack.clock import Clock
from inbox_devstack.nats_server import NatsServer
from inbox_events import EventBus
from inbox_routing.actions import RoutingActions
from inbox_routing.domain import RoutingPolicy
from inbox_routing.store import RoutingStore
from inbox_routing.store.mongo import MongoRoutingStore
from inbox_routing.store.sqlite import SqliteRoutingStore
from inbox_runtime.mongo import MongoTarget

OpenStore = Callable[[], Awaitable[RoutingStore]]


@pytest.fixture(params=["sqlite", "mongo"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens another instance of the store on the same database (as another replica would)."""
    opened: list[RoutingStore] = []

    async def open_one() -> RoutingStore:
        if request.param == "mongo":
            target: MongoTarget = request.getfixturevalue("mongo")
            store: RoutingStore = await MongoRoutingStore.open(target)
        else:
            store = await SqliteRoutingStore.open(tmp_path / "routing.sqlite3")
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> RoutingStore:
    return await open_store()


@dataclass
class Routing:
    store: RoutingStore
    bus: EventBus
    clock: Clock

    def actions(
        self, policy: RoutingPolicy, now: int | None = None, store: RoutingStore | None = None
    ) -> RoutingActions:
        if now is not None:
            self.clock.now = now
        return RoutingActions(store or self.store, self.bus, policy, clock=self.clock)


@pytest.fixture
async def routing(store: RoutingStore, nats_server: NatsServer) -> AsyncIterator[Routing]:
    async with EventBus.connect(nats_server.url, service="test") as bus:
        await bus.ensure_streams()
        yield Routing(store, bus, Clock())
