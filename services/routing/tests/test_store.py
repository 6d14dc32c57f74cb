"""RoutingStore contract: offers, the queue, known agents, and capacity under concurrent replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox_routing.domain import (
    CHAT,
    AssignmentState,
    Presence,
    RouteRequest,
    RoutingPolicy,
    Target,
)
from inbox_routing.store.sqlite import SqliteRoutingStore
from inbox_runtime.errors import FailedPrecondition

AUTO = RoutingPolicy(offer_timeout_us=0)
OFFERS = RoutingPolicy(offer_timeout_us=30_000_000)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteRoutingStore]:
    opened = await SqliteRoutingStore.open(tmp_path / "routing.sqlite3")
    yield opened
    await opened.close()


def request(i: int, customer: str = "", generation: int = 1) -> RouteRequest:
    return RouteRequest(f"conv-{i}", customer or f"cust-{i}", CHAT, "main", generation=generation)


async def route(store: SqliteRoutingStore, req: RouteRequest, now: int, policy: RoutingPolicy = AUTO, **kw):  # type: ignore[no-untyped-def]
    return await store.route(req, Target(priority=kw.pop("priority", 0)), "", 0, policy, now, **kw)


async def available(store: SqliteRoutingStore, *names: str, chat: int = 3) -> None:
    for name in names:
        await store.upsert_agent(name, name.title(), {CHAT: chat}, ())
        await store.set_presence(name, Presence.AVAILABLE, 0)


async def test_new_agents_start_offline_and_get_nothing(store: SqliteRoutingStore) -> None:
    agent = await store.upsert_agent("ada", "Ada", {}, ("en",), ("billing",), {"refunds": 3})
    assert (agent.presence, agent.teams, agent.skills) == (Presence.OFFLINE, ("billing",), (("refunds", 3),))
    assert (await route(store, request(1), 1)).assignment.state == AssignmentState.QUEUED


async def test_routing_again_keeps_the_first_assignment(store: SqliteRoutingStore) -> None:
    await available(store, "ada")
    first = await route(store, request(1), 1)
    again = await route(store, request(1), 2)
    assert first.changed and not again.changed
    assert again.assignment == first.assignment


async def test_offers_hold_capacity_until_accepted_declined_or_lapsed(store: SqliteRoutingStore) -> None:
    await available(store, "ada", "bob", chat=1)
    offered = await route(store, request(1), 100, OFFERS)
    assert offered.assignment.state == AssignmentState.OFFERED and offered.assignment.offer_expires_us == 30_000_100
    first_agent = offered.assignment.agent_id
    assert await store.load_of(first_agent) == {CHAT: 1}
    with pytest.raises(FailedPrecondition):
        await store.accept_offer("conv-1", "someone-else", 110)
    waiting = await store.withdraw_offer("conv-1", first_agent, "declined", 120)
    assert waiting is not None and waiting.excluded == frozenset({first_agent})
    second = await route(store, waiting.request, 121, OFFERS, force=True)
    other = {"ada", "bob"} - {first_agent}
    assert second.assignment.agent_id in other
    assert await store.lapsed_offers(30_000_120) == []
    assert await store.lapsed_offers(30_000_121) == [("conv-1", second.assignment.agent_id)]
    await store.withdraw_offer("conv-1", second.assignment.agent_id, "lapsed", 30_000_122)
    third = await route(store, waiting.request, 30_000_123, OFFERS, force=True)
    assert third.assignment.state == AssignmentState.QUEUED  # both passed on it
    accepted_elsewhere = await route(store, request(2), 30_000_200, OFFERS)
    assigned = await store.accept_offer("conv-2", accepted_elsewhere.assignment.agent_id, 30_000_210)
    assert assigned.state == AssignmentState.ASSIGNED
    assert (await store.accept_offer("conv-2", assigned.agent_id, 30_000_211)) == assigned  # a retried accept


async def test_the_queue_is_ordered_by_priority_then_waiting_time(store: SqliteRoutingStore) -> None:
    await route(store, request(1), 1, priority=0)
    await route(store, request(2), 2, priority=5)
    await route(store, request(3), 3, priority=0)
    assert [w.request.conversation_id for w in await store.queued(10)] == ["conv-2", "conv-1", "conv-3"]
    assert [await store.queue_position(f"conv-{i}") for i in (1, 2, 3)] == [2, 1, 3]
    stats = await store.queue_stats(10)
    assert stats.per_team == {"": (3, 9)}


async def test_a_returning_customer_gets_their_previous_agent(store: SqliteRoutingStore) -> None:
    await available(store, "ada", "bob")
    first = await route(store, request(1, customer="grace"), 10)
    previous = first.assignment.agent_id
    await store.end("conv-1", 20)
    # Make the other agent the obvious choice on load and idleness: known-agent routing still wins.
    for i in range(2):
        await route(store, request(10 + i), 21 + i)
    again = await route(store, request(2, customer="grace"), 30)
    assert again.assignment.agent_id == previous
    assert again.decision is not None and again.decision.reason == "the customer's previous agent, available with room"


async def test_going_offline_hands_conversations_back(store: SqliteRoutingStore) -> None:
    await available(store, "ada")
    await route(store, request(1), 1)
    assert await store.release_agent("ada", 2) == ["conv-1"]
    assert (await store.get_assignment("conv-1")).state == AssignmentState.QUEUED  # type: ignore[union-attr]
    assert await store.load_of("ada") == {}


async def test_silent_agents_become_away(store: SqliteRoutingStore) -> None:
    await available(store, "ada", "bob")
    await store.heartbeat("bob", 100)
    away = await store.mark_silent_away(seen_before_us=50)
    assert [a.agent_id for a in away] == ["ada"]


async def test_transfers_respect_capacity(store: SqliteRoutingStore) -> None:
    await available(store, "ada", "bob", chat=1)
    first = await route(store, request(1), 1)
    other = "bob" if first.assignment.agent_id == "ada" else "ada"
    await route(store, request(2), 2)  # the other agent is now full too
    with pytest.raises(FailedPrecondition, match="at capacity"):
        await store.transfer("conv-1", other, AUTO, 3)
    await store.end("conv-2", 4)
    moved = await store.transfer("conv-1", other, AUTO, 5)
    assert (moved.agent_id, moved.state) == (other, AssignmentState.ASSIGNED)


async def test_ending_frees_capacity_and_stale_requests_change_nothing(store: SqliteRoutingStore) -> None:
    await available(store, "ada", chat=1)
    first = request(1, generation=100)
    assert (await route(store, first, 100)).assignment.agent_id == "ada"
    waiting = request(2, generation=110)
    assert (await route(store, waiting, 110)).assignment.state == AssignmentState.QUEUED
    ended = await store.end("conv-1", 200)
    assert ended is not None and ended.state == AssignmentState.ENDED and ended.agent_id == "ada"
    assert await store.end("conv-1", 201) is None  # once
    [queued] = await store.queued(10)
    assert queued.request.generation == 110
    assert (await route(store, queued.request, 210, force=True)).assignment.agent_id == "ada"
    stale = await route(store, first, 300)
    assert not stale.changed and stale.assignment.state == AssignmentState.ENDED
    reopened = await route(store, request(1, generation=400), 400)
    assert reopened.changed and reopened.assignment.state == AssignmentState.QUEUED
    assert await store.forget_customer("cust-1") == 1
    assert await store.get_assignment("conv-1") is None


async def test_rules_are_versioned(store: SqliteRoutingStore) -> None:
    assert await store.rules() == ({}, 0)
    assert await store.put_rules({"default": {"team": "a"}}, "ada", 1) == 1
    assert await store.put_rules({"default": {"team": "b"}}, "ada", 2) == 2
    assert await store.rules() == ({"default": {"team": "b"}}, 2)


async def test_replicas_racing_never_exceed_capacity(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    replicas = [await SqliteRoutingStore.open(path) for _ in range(3)]
    try:
        await available(replicas[0], "ada", "bob")
        outcomes = await asyncio.gather(
            *(route(replicas[i % 3], request(i), i, OFFERS if i % 2 else AUTO) for i in range(15))
        )
        loads = {name: await replicas[0].load_of(name) for name in ("ada", "bob")}
    finally:
        for replica in replicas:
            await replica.close()
    assert loads == {"ada": {CHAT: 3}, "bob": {CHAT: 3}}
    states = [o.assignment.state for o in outcomes]
    assert states.count(AssignmentState.QUEUED) == 9
