"""RoutingStore contract: the same tests against every implementation (SQLite and MongoDB).

What a store promises the actions: a change is written only at the version it was read (else STALE)
and only within the agent's capacity (else FULL), whatever the number of instances writing; records
read back as written; agents, service-level timers and rules keep what they are given.
"""

from __future__ import annotations

import asyncio

from inbox_routing.changes import AssignmentRecord, ClockStart, Outcome, RoutingChange
from inbox_routing.domain import CHAT, AssignmentState, Presence, RouteRequest, Verdict
from inbox_routing.store import RoutingStore

from .conftest import OpenStore


def waiting(i: int, version: int = 1, **fields: object) -> AssignmentRecord:
    request = RouteRequest(f"conv-{i}", f"cust-{i}", CHAT, "main", generation=5, tags=("vip",), text="où est-il?")
    values: dict[str, object] = {
        "request": request,
        "state": AssignmentState.QUEUED,
        "agent_id": "",
        "since_us": 10 + i,
        "queued_at_us": 10 + i,
        "reason": "nobody available",
        "version": version,
        **fields,
    }
    return AssignmentRecord(**values)  # type: ignore[arg-type]


def given(record: AssignmentRecord, agent: str) -> AssignmentRecord:
    return record.next(state=AssignmentState.ASSIGNED, agent_id=agent, reason="least busy")


async def test_records_read_back_as_written(store: RoutingStore) -> None:
    record = waiting(1, excluded=frozenset({"bob"}), explanation=(Verdict("ada", False, "busy"),), boost=3)
    assert await store.commit([RoutingChange(record)]) == [Outcome.APPLIED]
    assert await store.record("conv-1") == record
    assert await store.record("conv-unknown") is None


async def test_a_change_from_a_stale_read_is_refused(store: RoutingStore) -> None:
    first = waiting(1)
    await store.commit([RoutingChange(first)])
    assert await store.commit([RoutingChange(waiting(1))]) == [Outcome.STALE]  # written as if new
    assert await store.commit([RoutingChange(first.next(priority=4))]) == [Outcome.APPLIED]
    assert await store.commit([RoutingChange(first.next(priority=9))]) == [Outcome.STALE]  # read before that
    stored = await store.record("conv-1")
    assert stored is not None and (stored.version, stored.priority) == (2, 4)


async def test_capacity_is_never_exceeded_and_comes_back_when_released(store: RoutingStore) -> None:
    await store.upsert_agent("ada", "Ada", {CHAT: 2}, ())
    records = [waiting(i) for i in range(3)]
    await store.commit([RoutingChange(r) for r in records])
    outcomes = await store.commit([RoutingChange(given(r, "ada"), capacity=2) for r in records])
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.FULL]
    assert await store.load_of("ada") == {CHAT: 2}
    assert sorted(await store.held_by("ada")) == ["conv-0", "conv-1"]
    held = await store.record("conv-0")
    assert held is not None
    ended = held.next(state=AssignmentState.ENDED)
    assert await store.commit([RoutingChange(ended)]) == [Outcome.APPLIED]
    assert await store.load_of("ada") == {CHAT: 1}
    assert await store.commit([RoutingChange(given(records[2], "ada"), capacity=2)]) == [Outcome.APPLIED]


async def test_instances_racing_for_one_agent_never_exceed_capacity(open_store: OpenStore) -> None:
    stores = [await open_store() for _ in range(3)]
    await stores[0].upsert_agent("ada", "Ada", {CHAT: 3}, ())
    records = [waiting(i) for i in range(12)]
    await stores[0].commit([RoutingChange(r) for r in records])
    outcomes = await asyncio.gather(
        *(stores[i % 3].commit([RoutingChange(given(r, "ada"), capacity=3)]) for i, r in enumerate(records))
    )
    assert [o for [o] in outcomes].count(Outcome.APPLIED) == 3
    assert await stores[1].load_of("ada") == {CHAT: 3}


async def test_instances_racing_on_one_conversation_let_one_write(open_store: OpenStore) -> None:
    stores = [await open_store() for _ in range(2)]
    for name in ("ada", "bob", "cy", "di"):
        await stores[0].upsert_agent(name, name, {CHAT: 5}, ())
    record = waiting(1)
    await stores[0].commit([RoutingChange(record)])
    racers = [given(record, name) for name in ("ada", "bob", "cy", "di")]
    outcomes = await asyncio.gather(
        *(stores[i % 2].commit([RoutingChange(r, capacity=5)]) for i, r in enumerate(racers))
    )
    assert [o for [o] in outcomes].count(Outcome.APPLIED) == 1
    winner = await stores[0].record("conv-1")
    assert winner is not None
    loads = {name: await stores[1].load_of(name) for name in ("ada", "bob", "cy", "di")}
    assert loads == {name: ({CHAT: 1} if name == winner.agent_id else {}) for name in loads}
    # The queue's view agrees with the record: no longer waiting.
    assert await stores[1].queued(10) == [] and await stores[1].queue_position("conv-1") == 0


async def test_the_queue_is_by_priority_then_waiting_time(store: RoutingStore) -> None:
    await store.commit([RoutingChange(waiting(1)), RoutingChange(waiting(2, priority=5)), RoutingChange(waiting(3))])
    assert [r.conversation_id for r in await store.queued(10)] == ["conv-2", "conv-1", "conv-3"]
    assert [await store.queue_position(f"conv-{i}") for i in (1, 2, 3)] == [2, 1, 3]
    await store.mark_announced("conv-1", 2)
    assert await store.announced_positions(["conv-1", "conv-3"]) == {"conv-1": 2}
    assert (await store.queue_stats(20)).per_team == {"": (3, 9)}
    assert await store.forget_customer("cust-1") == 1
    assert await store.record("conv-1") is None and await store.queue_position("conv-1") == 0


async def test_a_clock_started_with_a_change_runs_whatever_the_change_found(store: RoutingStore) -> None:
    await store.start_sla("conv-1", "next_response", 50, replace=False)
    first = ClockStart("first_response", 100)
    assert await store.commit([RoutingChange(waiting(1), clock=first)]) == [Outcome.APPLIED]
    assert await store.sla_timer("conv-1") == ("first_response", 100, False)  # replaced
    # A stale write still starts its clock, as a start written just before it would have.
    assert await store.commit([RoutingChange(waiting(2, version=2), clock=first)]) == [Outcome.STALE]
    assert await store.sla_timer("conv-2") == ("first_response", 100, False)


async def test_agents_timers_and_rules_keep_what_they_are_given(store: RoutingStore) -> None:
    agent = await store.upsert_agent("ada", "Ada", {CHAT: 4}, ("en", "es"), ("tier1",), {"refunds.eu": 3})
    assert agent.skills == (("refunds.eu", 3),) and agent.capacity_for(CHAT) == 4
    await store.set_presence("ada", Presence.AVAILABLE, 5)
    [candidate] = await store.candidates(CHAT, "tier1")
    assert (candidate.agent.agent_id, candidate.load) == ("ada", 0)
    assert await store.candidates(CHAT, "tier2") == []
    await store.start_sla("conv-1", "first_response", 100, replace=False)
    await store.start_sla("conv-1", "next_response", 200, replace=False)  # kept: not a replace
    assert await store.breach_due(99) == []
    assert await store.breach_due(100) == [("conv-1", "first_response", 100)]
    assert await store.breach_due(100) == []
    assert await store.sla_timer("conv-1") == ("first_response", 100, True)
    assert await store.put_rules({"default": {"team": "a"}}, "ada", 1) == 1
    assert await store.rules() == ({"default": {"team": "a"}}, 1)


async def test_available_agents_per_team_agree_with_the_queue_stats(store: RoutingStore) -> None:
    await store.upsert_agent("ada", "Ada", {CHAT: 2}, (), ("tier1", "tier2"))
    await store.upsert_agent("bob", "Bob", {CHAT: 2}, (), ("tier1",))
    await store.upsert_agent("cy", "Cy", {CHAT: 2}, ())
    await store.upsert_agent("di", "Di", {CHAT: 2}, ())
    for name in ("ada", "bob", "cy"):
        await store.set_presence(name, Presence.AVAILABLE, 5)  # di stays offline

    counted = {team: await store.available_agents(team) for team in ("tier1", "tier2", "tier3", "")}

    assert counted == {"tier1": 2, "tier2": 1, "tier3": 0, "": 1}
    stats = (await store.queue_stats(10)).available_agents
    assert {team: stats.get(team, 0) for team in counted} == counted


async def test_queue_stats_count_overdue_conversations_until_answered_or_ended(store: RoutingStore) -> None:
    await store.commit([RoutingChange(waiting(1)), RoutingChange(waiting(2))])
    for i in (1, 2):
        await store.start_sla(f"conv-{i}", "first_response", 100, replace=False)
    assert (await store.queue_stats(50)).sla_breaches == {}
    assert len(await store.breach_due(100)) == 2
    assert (await store.queue_stats(150)).sla_breaches == {"": 2}
    await store.stop_sla("conv-1")  # answered
    record = await store.record("conv-2")
    assert record is not None
    await store.commit([RoutingChange(record.next(state=AssignmentState.ENDED))])
    assert (await store.queue_stats(200)).sla_breaches == {}


async def test_offers_to_an_agent_come_soonest_to_lapse_first(store: RoutingStore) -> None:
    records = [waiting(i) for i in range(1, 5)]
    await store.commit([RoutingChange(r) for r in records])

    def offered(record: AssignmentRecord, expires: int, agent: str = "ada") -> RoutingChange:
        return RoutingChange(
            record.next(state=AssignmentState.OFFERED, agent_id=agent, offer_expires_us=expires), capacity=5
        )

    outcomes = await store.commit(
        [
            offered(records[0], 500),
            offered(records[1], 300),
            offered(records[2], 400, "bob"),
            RoutingChange(given(records[3], "ada"), capacity=5),
        ]
    )
    assert outcomes == [Outcome.APPLIED] * 4
    assert [r.conversation_id for r in await store.offers_to("ada")] == ["conv-2", "conv-1"]
    assert [r.conversation_id for r in await store.offers_to("bob")] == ["conv-3"]
    assert await store.offers_to("cy") == []


async def test_a_merged_customer_s_records_are_the_survivor_s(store: RoutingStore) -> None:
    await store.upsert_agent("ada", "Ada", {CHAT: 3}, ())
    record = waiting(1)
    await store.commit([RoutingChange(record)])
    await store.commit([RoutingChange(given(record, "ada"), capacity=3)])
    assert await store.merge_customers("cust-9", "cust-1") == 1
    # Sticky routing finds the merged customer's agent for the survivor.
    assert await store.known_agent("cust-9", "conv-other", 0) == "ada"
    assert await store.known_agent("cust-1", "conv-other", 0) == ""
    assert await store.forget_customer("cust-1") == 0
    assert await store.forget_customer("cust-9") == 1
