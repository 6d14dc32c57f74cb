"""Fixtures: every store implementation (SQLite, MongoDB through FerretDB or MONGODB_URI), and the
actions on a chosen store with a real nats-server and a clock the test sets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from inbox_devstack.clock import Clock
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.plugin import StoreBackend
from inbox_events import EventBus
from inbox_routing.actions import RoutingActions
from inbox_routing.domain import RoutingPolicy
from inbox_routing.store import RoutingStore
from inbox_routing.store.mongo import MongoRoutingStore
from inbox_routing.store.sqlite import SqliteRoutingStore

OpenStore = Callable[[], Awaitable[RoutingStore]]


@pytest.fixture
async def open_store(store_backend: StoreBackend) -> AsyncIterator[OpenStore]:
    """Opens another instance of the store on the same database (as another replica would)."""
    async with store_backend.instances(MongoRoutingStore.open, SqliteRoutingStore.open, "routing.sqlite3") as open_one:
        yield open_one


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
