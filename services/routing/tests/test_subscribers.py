"""The event handlers over a real store and nats-server: what an event carries reaches the decision."""

from __future__ import annotations

from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.events.v1 import envelope_pb2
from inbox.message.v1 import message_pb2
from inbox_events import Event
from inbox_routing.domain import CHAT, FIRST_RESPONSE, AssignmentState, Presence, RoutingPolicy
from inbox_routing.subscribers import RoutingSubscribers

from .conftest import Routing

VIP_RULES = {
    "rules": [
        {"id": "vip", "match": {"attributes": {"tier": "gold"}}, "target": {"team": "vip", "priority": 10}},
        {"id": "refunds", "match": {"keywords": ["refund"]}, "target": {"team": "billing"}},
    ]
}


def opening(conversation_id: str, text: str, attributes: dict[str, str]) -> Event[conversation_events.MessageAdded]:
    added = conversation_events.MessageAdded(
        message=conversation_pb2.Message(
            message_id=f"m-{conversation_id}",
            conversation_id=conversation_id,
            customer_id=f"cust-{conversation_id}",
            direction=message_pb2.DIRECTION_INBOUND,
            channel=message_pb2.CHANNEL_CHAT,
            kind=message_pb2.MESSAGE_KIND_TEXT,
            text=text,
        ),
        opened=conversation_events.ConversationOpened(
            conversation_id=conversation_id,
            customer_id=f"cust-{conversation_id}",
            channel=message_pb2.CHANNEL_CHAT,
            inbox_id="main",
            text=text,
            customer_attributes=attributes,
        ),
    )
    added.opened.opened_at.FromMicroseconds(1_000)
    added.message.received_at.FromMicroseconds(1_000)
    return Event(envelope_pb2.EventEnvelope(event_id=f"e-{conversation_id}"), added, "conv.message_added", 1)


async def test_a_new_conversation_is_placed_by_the_rules_on_what_it_opened_with(routing: Routing) -> None:
    actions = routing.actions(RoutingPolicy(offer_timeout_us=0), now=2_000)
    await actions.update_rules(VIP_RULES, "lead")
    for agent, team in (("gwen", "vip"), ("bill", "billing")):
        await actions.upsert_agent(agent, agent.title(), {CHAT: 5}, (), teams=(team,))
        await actions.set_presence(agent, Presence.AVAILABLE)
    subscribers = RoutingSubscribers(actions)

    await subscribers.on_message_added(opening("conv-1", "Hello there", {"tier": "gold"}))
    await subscribers.on_message_added(opening("conv-2", "I want a refund please", {}))

    gold, refund = await routing.store.record("conv-1"), await routing.store.record("conv-2")
    assert gold is not None and (gold.rule_id, gold.team, gold.priority, gold.agent_id) == ("vip", "vip", 10, "gwen")
    assert refund is not None and (refund.rule_id, refund.agent_id) == ("refunds", "bill")
    assert gold.state == refund.state == AssignmentState.ASSIGNED


def later_message(
    conversation_id: str, direction: int, agent_id: str, at_us: int
) -> Event[conversation_events.MessageAdded]:
    added = conversation_events.MessageAdded(
        message=conversation_pb2.Message(
            message_id=f"m-{conversation_id}-{at_us}",
            conversation_id=conversation_id,
            direction=direction,  # type: ignore[arg-type]
            channel=message_pb2.CHANNEL_CHAT,
            kind=message_pb2.MESSAGE_KIND_TEXT,
            agent_id=agent_id,
            text="more",
        )
    )
    added.message.received_at.FromMicroseconds(at_us)
    return Event(envelope_pb2.EventEnvelope(event_id=f"e-{conversation_id}-{at_us}"), added, "conv.message_added", 1)


async def test_the_opening_message_starts_the_first_response_clock_and_an_answer_stops_it(routing: Routing) -> None:
    actions = routing.actions(RoutingPolicy(offer_timeout_us=0, first_response_us=60_000_000), now=2_000)
    subscribers = RoutingSubscribers(actions)

    await subscribers.on_message_added(opening("conv-1", "Hello there", {}))
    assert await routing.store.sla_timer("conv-1") == (FIRST_RESPONSE, 60_001_000, False)
    # The customer again before any answer: still the first response that is due, and when.
    await subscribers.on_message_added(later_message("conv-1", message_pb2.DIRECTION_INBOUND, "", 5_000))
    assert await routing.store.sla_timer("conv-1") == (FIRST_RESPONSE, 60_001_000, False)
    await subscribers.on_message_added(later_message("conv-1", message_pb2.DIRECTION_OUTBOUND, "ada", 9_000))
    assert await routing.store.sla_timer("conv-1") is None
