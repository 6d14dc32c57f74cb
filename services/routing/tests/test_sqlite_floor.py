"""SQLite only: the floor a process keeps in memory (store/sqlite/floor.py) follows its own commits without
reading the file again, and whatever else changes the floor (another replica on the same file, an agent's
presence) is read again before the next decision that could see it."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox_devstack.clock import Clock
from inbox_devstack.nats_server import NatsServer
from inbox_events import EventBus
from inbox_routing.actions import RoutingActions
from inbox_routing.domain import CHAT, EMAIL, AssignmentState, Presence, RouteRequest, RoutingPolicy
from inbox_routing.store.sqlite import SqliteRoutingStore
from inbox_routing.store.sqlite.floor import Floor, FloorChange, floor_revision

ASSIGN = RoutingPolicy(offer_timeout_us=0)


def request(n: int, channel: str = CHAT) -> RouteRequest:
    return RouteRequest(f"conv-{n}", f"cust-{n}", channel, "main", generation=1)


@pytest.fixture
async def replicas(
    tmp_path: Path, nats_server: NatsServer
) -> AsyncIterator[tuple[tuple[RoutingActions, SqliteRoutingStore], tuple[RoutingActions, SqliteRoutingStore]]]:
    """Two routing replicas on one file."""
    path = tmp_path / "routing.sqlite3"
    first, second = await SqliteRoutingStore.open(path), await SqliteRoutingStore.open(path)
    async with EventBus.connect(nats_server.url, service="test") as bus:
        await bus.ensure_streams()
        clock = Clock(1_000)
        yield (
            (RoutingActions(first, bus, ASSIGN, clock=clock), first),
            (RoutingActions(second, bus, ASSIGN, clock=clock), second),
        )
    await first.close()
    await second.close()


async def test_a_replica_sees_the_presence_another_replica_changed(
    replicas: tuple[tuple[RoutingActions, SqliteRoutingStore], tuple[RoutingActions, SqliteRoutingStore]],
) -> None:
    (a, _), (b, _) = replicas
    for name in ("ada", "bob"):
        await b.upsert_agent(name, name.title(), {CHAT: 5}, ())
    await b.set_presence("ada", Presence.AVAILABLE)
    assert (await a.route(request(1))).assignment.agent_id == "ada"  # a's floor: ada alone

    await b.set_presence("ada", Presence.AWAY)
    await b.set_presence("bob", Presence.AVAILABLE)

    assert (await a.route(request(2))).assignment.agent_id == "bob"


async def test_a_replica_counts_the_conversations_another_replica_gave(
    replicas: tuple[tuple[RoutingActions, SqliteRoutingStore], tuple[RoutingActions, SqliteRoutingStore]],
) -> None:
    (a, _), (b, _) = replicas
    await a.upsert_agent("ada", "Ada", {CHAT: 5}, ())
    await a.upsert_agent("bob", "Bob", {CHAT: 5}, (), ("billing",))
    for name in ("ada", "bob"):
        await a.set_presence(name, Presence.AVAILABLE)
    assert (await a.route(request(1, EMAIL))).assignment.agent_id == "ada"  # a's floor: nobody holds a chat
    for n in range(2, 5):  # b gives bob three chats, through his team
        billing = RouteRequest(f"conv-{n}", f"cust-{n}", CHAT, "main", generation=1, team="billing")
        assert (await b.route(billing)).assignment.agent_id == "bob"

    placed = await a.route(request(5))

    # Bob holds 3 chats and Ada none. A floor that missed b's picks would see them even, and give it to the
    # one idle longer: bob, as far as it knows.
    assert placed.assignment.agent_id == "ada"


async def test_a_replica_does_not_give_a_seat_another_replica_filled(
    replicas: tuple[tuple[RoutingActions, SqliteRoutingStore], tuple[RoutingActions, SqliteRoutingStore]],
) -> None:
    (a, _), (b, _) = replicas
    await a.upsert_agent("ada", "Ada", {CHAT: 1}, ())
    await a.set_presence("ada", Presence.AVAILABLE)
    await a.route(request(1, EMAIL))  # a's floor is read: ada holds nothing on chat
    await b.route(request(2))  # ada's one chat seat, given by b

    third = await a.route(request(3))

    assert third.assignment.state == AssignmentState.QUEUED


@pytest.fixture
async def lookups(
    replicas: tuple[tuple[RoutingActions, SqliteRoutingStore], tuple[RoutingActions, SqliteRoutingStore]],
    tmp_path: Path,
) -> AsyncIterator[tuple[RoutingActions, sqlite3.Connection]]:
    """The first replica with Ada available, and a connection to the file as the store's lookups use."""
    (a, _), _ = replicas
    await a.upsert_agent("ada", "Ada", {CHAT: 5}, ())
    await a.set_presence("ada", Presence.AVAILABLE)
    conn = sqlite3.connect(tmp_path / "routing.sqlite3", isolation_level=None)
    conn.row_factory = sqlite3.Row
    yield a, conn
    conn.close()


def _candidates(floor: Floor, conn: sqlite3.Connection) -> list[tuple[str, int]]:
    return [(c.agent.agent_id, c.load) for c in floor.candidates(conn, CHAT, "")]


async def test_the_copy_follows_its_own_commits_and_drops_itself_at_a_gap(
    lookups: tuple[RoutingActions, sqlite3.Connection],
) -> None:
    a, conn = lookups
    await a.upsert_agent("bob", "Bob", {CHAT: 5}, ())
    floor = Floor()
    assert _candidates(floor, conn) == [("ada", 0)]
    at = floor.revision
    assert at == floor_revision(conn)

    # A commit of this process on its way: the copy is trusted, and follows what the commit reports.
    floor.committing()
    await a.set_presence("bob", Presence.AVAILABLE)  # meanwhile, elsewhere: the file moves by 1
    assert _candidates(floor, conn) == [("ada", 0)]
    floor.follow([FloorChange(at, at + 2, taken=("ada", CHAT), assigned=("ada", 7))])  # written just before
    assert _candidates(floor, conn) == [("ada", 1)]
    assert floor.revision == at + 2
    floor.follow([FloorChange(at + 3, at + 5, taken=("ada", CHAT))])  # bob's change came in between
    floor.committed()

    assert floor.revision is None
    assert _candidates(floor, conn) == [("ada", 0), ("bob", 0)]  # the file's floor: the commits were not real
    assert floor.revision == floor_revision(conn)


async def test_a_change_the_copy_already_holds_is_not_counted_twice(
    lookups: tuple[RoutingActions, sqlite3.Connection],
) -> None:
    a, conn = lookups
    before = await a.route(request(1))  # written: the file's floor has ada at 1
    assert before.assignment.agent_id == "ada"
    floor = Floor()
    floor.committing()
    assert _candidates(floor, conn) == [("ada", 1)]
    revision = floor.revision
    assert revision is not None

    floor.follow([FloorChange(revision - 2, revision, taken=("ada", CHAT))])  # the commit the copy was read after

    assert _candidates(floor, conn) == [("ada", 1)]
    assert floor.revision == revision
