"""RoutingStore contract: capacity holds under concurrent routing from several replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox_routing.domain import CHAT, AssignmentState, Presence, RouteRequest
from inbox_routing.store.sqlite import SqliteRoutingStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteRoutingStore]:
    opened = await SqliteRoutingStore.open(tmp_path / "routing.sqlite3")
    yield opened
    await opened.close()


def request(i: int) -> RouteRequest:
    return RouteRequest(f"conv-{i}", f"cust-{i}", CHAT, "main")


async def test_new_agents_start_offline_and_get_nothing(store: SqliteRoutingStore) -> None:
    agent = await store.upsert_agent("ada", "Ada", {}, ("en",))
    assert agent.presence == Presence.OFFLINE
    outcome = await store.route(request(1), now_us=1)
    assert outcome.assignment.state == AssignmentState.QUEUED


async def test_routing_again_keeps_the_first_assignment(store: SqliteRoutingStore) -> None:
    await store.upsert_agent("ada", "Ada", {}, ())
    await store.set_presence("ada", Presence.AVAILABLE)
    first = await store.route(request(1), now_us=1)
    again = await store.route(request(1), now_us=2)
    assert first.changed and not again.changed
    assert again.assignment == first.assignment


async def test_a_queued_conversation_is_assigned_once_someone_has_room(store: SqliteRoutingStore) -> None:
    await store.upsert_agent("ada", "Ada", {CHAT: 1}, ())
    await store.set_presence("ada", Presence.AVAILABLE)
    await store.route(request(1), now_us=1)
    queued = await store.route(request(2), now_us=2)
    assert queued.assignment.state == AssignmentState.QUEUED
    assert [r.conversation_id for r in await store.queued(10)] == ["conv-2"]
    await store.upsert_agent("ada", "Ada", {CHAT: 2}, ())
    placed = await store.route(request(2), now_us=3)
    assert placed.assignment.state == AssignmentState.ASSIGNED and placed.assignment.agent_id == "ada"
    assert await store.queued(10) == []


async def test_replicas_racing_never_exceed_capacity(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    replicas = [await SqliteRoutingStore.open(path) for _ in range(3)]
    try:
        for name in ("ada", "bob"):
            await replicas[0].upsert_agent(name, name.title(), {CHAT: 3}, ())
            await replicas[0].set_presence(name, Presence.AVAILABLE)
        outcomes = await asyncio.gather(*(replicas[i % 3].route(request(i), now_us=i) for i in range(15)))
        loads = {name: await replicas[0].load_of(name) for name in ("ada", "bob")}
    finally:
        for replica in replicas:
            await replica.close()
    assert loads == {"ada": {CHAT: 3}, "bob": {CHAT: 3}}
    states = [o.assignment.state for o in outcomes]
    assert states.count(AssignmentState.ASSIGNED) == 6 and states.count(AssignmentState.QUEUED) == 9


async def test_ending_frees_capacity_and_stale_requests_change_nothing(store: SqliteRoutingStore) -> None:
    await store.upsert_agent("ada", "Ada", {CHAT: 1}, ())
    await store.set_presence("ada", Presence.AVAILABLE)
    first = RouteRequest("conv-1", "cust-1", CHAT, "main", generation=100)
    assert (await store.route(first, now_us=100)).assignment.agent_id == "ada"
    waiting = RouteRequest("conv-2", "cust-2", CHAT, "main", generation=110)
    assert (await store.route(waiting, now_us=110)).assignment.state == AssignmentState.QUEUED
    ended = await store.end("conv-1", now_us=200)
    assert ended is not None and ended.state == AssignmentState.ENDED and ended.agent_id == "ada"
    assert await store.end("conv-1", now_us=201) is None  # once
    assert await store.load_of("ada") == {}
    [queued] = await store.queued(10)
    assert queued.generation == 110
    assert (await store.route(queued, now_us=210)).assignment.agent_id == "ada"
    # The "opened" event of conv-1 redelivered after it was resolved: stays ended.
    stale = await store.route(first, now_us=300)
    assert not stale.changed and stale.assignment.state == AssignmentState.ENDED
    # Reopened later (a newer generation): routed again; ada is full, so it waits.
    reopened = await store.route(RouteRequest("conv-1", "cust-1", CHAT, "main", generation=400), now_us=400)
    assert reopened.changed and reopened.assignment.state == AssignmentState.QUEUED
    assert await store.forget_customer("cust-1") == 1
    assert await store.get_assignment("conv-1") is None
