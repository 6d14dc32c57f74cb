"""Fixtures: every store implementation (SQLite, MongoDB through FerretDB or MONGODB_URI), and the
actions on a chosen store with a real nats-server and a clock the test sets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from inbox_devstack.clock import Clock
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.plugin import StoreBackend
from inbox_events import EventBus
from inbox_threading.actions import ThreadingActions
from inbox_threading.domain import DAY_US, ThreadPolicies, ThreadPolicy
from inbox_threading.store import ConversationStore
from inbox_threading.store.mongo import MongoConversationStore
from inbox_threading.store.sqlite import SqliteConversationStore

OpenStore = Callable[[], Awaitable[ConversationStore]]


@pytest.fixture
async def open_store(store_backend: StoreBackend) -> AsyncIterator[OpenStore]:
    """Opens another instance of the store on the same database (as another replica would)."""
    async with store_backend.instances(
        MongoConversationStore.open, SqliteConversationStore.open, "threading.sqlite3"
    ) as open_one:
        yield open_one


@pytest.fixture
async def store(open_store: OpenStore) -> ConversationStore:
    return await open_store()


@dataclass
class World:
    actions: ThreadingActions
    store: ConversationStore
    clock: Clock = field(default_factory=Clock)

    def at(self, now: int) -> ThreadingActions:
        self.clock.now = now
        return self.actions


@pytest.fixture
async def world(store: ConversationStore, nats_server: NatsServer) -> AsyncIterator[World]:
    clock = Clock()
    async with EventBus.connect(nats_server.url, service="test") as bus:
        await bus.ensure_streams()
        policies = ThreadPolicies(default=ThreadPolicy(reopen_window_us=7 * DAY_US))
        yield World(ThreadingActions(store, bus, policies, clock=clock), store, clock)
