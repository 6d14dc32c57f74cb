"""Routing use cases over every store (SQLite and MongoDB), a real nats-server and an injected clock:
offers, the queue, known agents, release, transfers, ending, service levels, and capacity under
replicas racing."""

from __future__ import annotations

import asyncio

import pytest
from inbox.routing.v1 import events_pb2 as routing_events
from inbox_devstack.events import stored_events
from inbox_devstack.nats_server import NatsServer
from inbox_routing.actions import RoutingActions
from inbox_routing.domain import (
    CHAT,
    FIRST_RESPONSE,
    NEXT_RESPONSE,
    AssignmentState,
    Presence,
    RouteRequest,
    RoutingPolicy,
)
from inbox_runtime.errors import FailedPrecondition

from .conftest import OpenStore, Routing

AUTO = RoutingPolicy(offer_timeout_us=0)
OFFERS = RoutingPolicy(offer_timeout_us=30_000_000)


def request(i: int, customer: str = "", generation: int = 1) -> RouteRequest:
    return RouteRequest(f"conv-{i}", customer or f"cust-{i}", CHAT, "main", generation=generation)


async def available(actions: RoutingActions, *names: str, chat: int = 3) -> None:
    for name in names:
        await actions.upsert_agent(name, name.title(), {CHAT: chat}, ())
        await actions.set_presence(name, Presence.AVAILABLE)


async def test_new_agents_start_offline_and_get_nothing(routing: Routing) -> None:
    actions = routing.actions(AUTO)
    agent = await actions.upsert_agent("ada", "Ada", {}, ("en",), ("billing",), {"refunds": 3})
    assert (agent.presence, agent.teams, agent.skills) == (Presence.OFFLINE, ("billing",), (("refunds", 3),))
    assert (await actions.route(request(1))).assignment.state == AssignmentState.QUEUED


async def test_routing_again_keeps_the_first_assignment(routing: Routing) -> None:
    actions = routing.actions(AUTO, now=1)
    await available(actions, "ada")
    first = await actions.route(request(1))
    routing.clock.now = 2
    again = await actions.route(request(1))
    assert first.changed and not again.changed
    assert again.assignment == first.assignment


async def test_offers_hold_capacity_until_accepted_declined_or_lapsed(routing: Routing) -> None:
    actions = routing.actions(OFFERS, now=100)
    await available(actions, "ada", "bob", chat=1)
    offered = await actions.route(request(1))
    assert offered.assignment.state == AssignmentState.OFFERED and offered.assignment.offer_expires_us == 30_000_100
    first_agent = offered.assignment.agent_id
    assert await routing.store.load_of(first_agent) == {CHAT: 1}
    assert [o.conversation_id for o in await actions.offers_to(first_agent)] == ["conv-1"]
    with pytest.raises(FailedPrecondition):
        await actions.accept_offer("conv-1", "someone-else")
    routing.clock.now = 120
    second = await actions.decline_offer("conv-1", first_agent)
    other = {"ada", "bob"} - {first_agent}
    assert second.agent_id in other and second.state == AssignmentState.OFFERED
    assert await routing.store.load_of(first_agent) == {}
    assert await actions.offers_to(first_agent) == []
    assert await actions.offers_to(second.agent_id) == [second]
    assert await routing.store.lapsed_offers(30_000_119) == []
    assert await routing.store.lapsed_offers(30_000_120) == [("conv-1", second.agent_id)]
    routing.clock.now = 30_000_121
    assert await actions.expire_offers() == 1
    third, _ = await actions.get_assignment("conv-1")
    assert third is not None and third.state == AssignmentState.QUEUED  # both passed on it
    routing.clock.now = 30_000_200
    elsewhere = await actions.route(request(2))
    assigned = await actions.accept_offer("conv-2", elsewhere.assignment.agent_id)
    assert assigned.state == AssignmentState.ASSIGNED
    assert await actions.accept_offer("conv-2", assigned.agent_id) == assigned  # a retried accept
    assert await actions.offers_to(assigned.agent_id) == []


async def test_the_queue_is_ordered_by_priority_then_waiting_time(routing: Routing) -> None:
    actions = routing.actions(AUTO, now=1)
    await actions.update_rules({"rules": [{"id": "vip", "match": {"tags": ["vip"]}, "target": {"priority": 5}}]}, "ada")
    await actions.route(request(1))
    routing.clock.now = 2
    await actions.route(RouteRequest("conv-2", "cust-2", CHAT, "main", generation=1, tags=("vip",)))
    routing.clock.now = 3
    await actions.route(request(3))
    assert [w.conversation_id for w in await routing.store.queued(10)] == ["conv-2", "conv-1", "conv-3"]
    assert [await routing.store.queue_position(f"conv-{i}") for i in (1, 2, 3)] == [2, 1, 3]
    stats = await routing.store.queue_stats(10)
    assert stats.per_team == {"": (3, 9)}


async def test_a_returning_customer_gets_their_previous_agent(routing: Routing) -> None:
    actions = routing.actions(AUTO, now=10)
    await available(actions, "ada", "bob")
    first = await actions.route(request(1, customer="grace"))
    previous = first.assignment.agent_id
    routing.clock.now = 20
    await actions.end("conv-1")
    # Make the other agent the obvious choice on load and idleness: known-agent routing still wins.
    for i in range(2):
        routing.clock.now = 21 + i
        await actions.route(request(10 + i))
    routing.clock.now = 30
    again = await actions.route(request(2, customer="grace"))
    assert again.assignment.agent_id == previous
    assert again.decision is not None and again.decision.reason == "the customer's previous agent, available with room"


async def test_going_offline_hands_conversations_back(routing: Routing) -> None:
    actions = routing.actions(RoutingPolicy(offer_timeout_us=0, release_on_offline=True), now=1)
    await available(actions, "ada")
    await actions.route(request(1))
    await actions.set_presence("ada", Presence.OFFLINE)
    assignment, position = await actions.get_assignment("conv-1")
    assert assignment is not None and assignment.state == AssignmentState.QUEUED and position == 1
    assert await routing.store.load_of("ada") == {}


async def test_silent_agents_become_away(routing: Routing) -> None:
    actions = routing.actions(RoutingPolicy(presence_grace_us=50), now=0)
    await available(actions, "ada", "bob")
    routing.clock.now = 100
    await actions.heartbeat("bob")
    routing.clock.now = 120
    assert await actions.sweep_presence() == 1
    ada, _ = await actions.get_agent("ada")
    assert ada is not None and ada.presence == Presence.AWAY


async def test_transfers_respect_capacity(routing: Routing) -> None:
    actions = routing.actions(AUTO, now=1)
    await available(actions, "ada", "bob", chat=1)
    first = await actions.route(request(1))
    other = "bob" if first.assignment.agent_id == "ada" else "ada"
    await actions.route(request(2))  # the other agent is now full too
    with pytest.raises(FailedPrecondition, match="at capacity"):
        await actions.transfer("conv-1", first.assignment.agent_id, other, "", "over to you")
    await actions.end("conv-2")
    moved = await actions.transfer("conv-1", first.assignment.agent_id, other, "", "over to you")
    assert (moved.agent_id, moved.state) == (other, AssignmentState.ASSIGNED)
    assert await routing.store.load_of(first.assignment.agent_id) == {}


async def test_ending_frees_capacity_and_stale_requests_change_nothing(routing: Routing) -> None:
    actions = routing.actions(AUTO, now=100)
    await available(actions, "ada", chat=1)
    first = request(1, generation=100)
    assert (await actions.route(first)).assignment.agent_id == "ada"
    routing.clock.now = 110
    assert (await actions.route(request(2, generation=110))).assignment.state == AssignmentState.QUEUED
    routing.clock.now = 200
    await actions.end("conv-1")  # the freed agent takes the waiting conversation at once
    assert await routing.store.load_of("ada") == {CHAT: 1}
    assert (await actions.get_assignment("conv-2"))[0].agent_id == "ada"  # type: ignore[union-attr]
    routing.clock.now = 300
    stale = await actions.route(first)
    assert not stale.changed and stale.assignment.state == AssignmentState.ENDED
    reopened = await actions.route(request(1, generation=400))
    assert reopened.changed and reopened.assignment.state == AssignmentState.QUEUED
    await actions.forget_customer("cust-1")
    assert (await actions.get_assignment("conv-1"))[0] is None


async def test_rules_are_versioned(routing: Routing) -> None:
    actions = routing.actions(AUTO)
    assert await actions.rules_document() == ({}, 0)
    assert await actions.update_rules({"default": {"team": "a"}}, "ada") == 1
    assert await actions.update_rules({"default": {"team": "b.c"}}, "ada") == 2
    assert await actions.rules_document() == ({"default": {"team": "b.c"}}, 2)


async def test_replicas_racing_never_exceed_capacity(routing: Routing, open_store: OpenStore) -> None:
    """Three store instances on one database, as three replicas have."""
    replicas = [routing.actions(OFFERS if i % 2 else AUTO, store=await open_store()) for i in range(3)]
    await available(replicas[0], "ada", "bob")
    outcomes = await asyncio.gather(*(replicas[i % 3].route(request(i)) for i in range(15)))
    loads = {name: await routing.store.load_of(name) for name in ("ada", "bob")}
    assert loads == {"ada": {CHAT: 3}, "bob": {CHAT: 3}}
    states = [o.assignment.state for o in outcomes]
    assert states.count(AssignmentState.QUEUED) == 9


SLAS = RoutingPolicy(offer_timeout_us=0, first_response_us=50_000, next_response_us=50_000, breach_priority_boost=7)


async def test_overdue_responses_raise_one_breach_each_and_move_waiting_ones_up(
    routing: Routing, nats_server: NatsServer
) -> None:
    actions = routing.actions(SLAS, now=1_000_000)
    store = routing.store
    await actions.conversation_opened(RouteRequest("c1", "cust-1", CHAT, "chat", 1), 1_000_000, "")
    assert (await store.sla_timer("c1"))[0] == FIRST_RESPONSE  # type: ignore[index]
    routing.clock.now = 1_049_999
    assert await actions.check_slas() == 0
    routing.clock.now = 1_050_000
    assert await actions.check_slas() == 1
    assert await actions.check_slas() == 0  # once
    assert (await actions.get_assignment("c1"))[0].priority == 7  # type: ignore[union-attr]
    [breach] = await stored_events(nats_server.url, "routing.sla_breached", routing_events.SlaBreached, at_least=1)
    assert (breach.conversation_id, breach.kind, breach.agent_id) == ("c1", FIRST_RESPONSE, "")

    await actions.message_added("c1", inbound=False, by_agent=True, at_us=1_060_000)  # an agent answered
    assert await store.sla_timer("c1") is None
    await actions.message_added("c1", inbound=True, by_agent=False, at_us=1_070_000)  # the customer again
    assert await store.sla_timer("c1") == (NEXT_RESPONSE, 1_120_000, False)
    await actions.waiting_on_customer("c1")
    assert await store.sla_timer("c1") is None
    await actions.message_added("c1", inbound=True, by_agent=False, at_us=1_080_000)
    await actions.end("c1")
    assert await store.sla_timer("c1") is None
