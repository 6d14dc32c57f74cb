"""Use cases: the only place that writes to the routing store and publishes routing events."""

from __future__ import annotations

import structlog
from inbox.routing.v1 import events_pb2 as routing_events
from inbox_events import EventBus, Outgoing
from inbox_runtime.timestamps import now_us, to_timestamp

from inbox_routing.domain import (
    Agent,
    Assignment,
    AssignmentState,
    Presence,
    RouteOutcome,
    RouteRequest,
    validate_agent,
)
from inbox_routing.store import RoutingStore

log = structlog.get_logger(__name__)

# How many waiting conversations one presence change tries to place.
QUEUE_DRAIN_BATCH = 500


def _assignment_event(assignment: Assignment, correlation_id: str) -> Outgoing:
    if assignment.state == AssignmentState.ASSIGNED:
        assigned = routing_events.ConversationAssigned(
            conversation_id=assignment.conversation_id,
            agent_id=assignment.agent_id,
            channel=assignment.channel,  # type: ignore[arg-type]
            assigned_at=to_timestamp(assignment.since_us),
            reason=assignment.reason,
        )
        event_id = f"assigned:{assignment.conversation_id}:{assignment.agent_id}:{assignment.since_us}"
        return Outgoing(assigned, event_id, correlation_id)
    queued = routing_events.ConversationQueued(
        conversation_id=assignment.conversation_id,
        channel=assignment.channel,  # type: ignore[arg-type]
        queued_at=to_timestamp(assignment.since_us),
        reason=assignment.reason,
    )
    return Outgoing(queued, f"queued:{assignment.conversation_id}:{assignment.since_us}", correlation_id)


class RoutingActions:
    def __init__(self, store: RoutingStore, bus: EventBus) -> None:
        self._store = store
        self._bus = bus

    async def route(self, request: RouteRequest, correlation_id: str = "") -> RouteOutcome:
        """Assign or queue a conversation; a repeat (redelivery) republishes the same fact."""
        outcome = await self._store.route(request, now_us())
        await self._bus.publish_all([_assignment_event(outcome.assignment, correlation_id)])
        log.info(
            "conversation_routed",
            conversation_id=request.conversation_id,
            customer_id=request.customer_id,
            agent_id=outcome.assignment.agent_id,
            state=outcome.assignment.state.name.lower(),
            changed=outcome.changed,
        )
        return outcome

    async def end(self, conversation_id: str) -> None:
        """A conversation was resolved: its agent has room again, so waiting conversations move."""
        ended = await self._store.end(conversation_id, now_us())
        if ended is None:
            return
        log.info("assignment_ended", conversation_id=conversation_id, agent_id=ended.agent_id)
        if ended.agent_id:
            await self.place_waiting()

    async def forget_customer(self, customer_id: str) -> None:
        erased = await self._store.forget_customer(customer_id)
        log.info("customer_forgotten", customer_id=customer_id, records=erased)

    async def upsert_agent(
        self, agent_id: str, display_name: str, capacities: dict[int, int], languages: tuple[str, ...]
    ) -> Agent:
        validate_agent(agent_id, display_name, capacities)
        agent = await self._store.upsert_agent(agent_id, display_name.strip(), capacities, languages)
        log.info("agent_upserted", agent_id=agent_id)
        return agent

    async def set_presence(self, agent_id: str, presence: Presence) -> Agent:
        agent = await self._store.set_presence(agent_id, presence)
        changed_at = now_us()
        event = routing_events.AgentPresenceChanged(
            agent_id=agent_id, presence=presence.name.lower(), changed_at=to_timestamp(changed_at)
        )
        await self._bus.publish(event, event_id=f"presence:{agent_id}:{changed_at}")
        log.info("presence_changed", agent_id=agent_id, presence=presence.name.lower())
        if presence == Presence.AVAILABLE:
            await self.place_waiting()
        return agent

    async def place_waiting(self) -> int:
        """Offer waiting conversations, oldest first, to whoever has room now. Returns how many were placed."""
        placed = 0
        for request in await self._store.queued(QUEUE_DRAIN_BATCH):
            outcome = await self.route(request)
            if outcome.assignment.state == AssignmentState.ASSIGNED:
                placed += 1
        return placed

    async def get_agent(self, agent_id: str) -> tuple[Agent | None, dict[int, int]]:
        agent = await self._store.get_agent(agent_id)
        return agent, (await self._store.load_of(agent_id) if agent else {})

    async def list_agents(self) -> list[tuple[Agent, dict[int, int]]]:
        return [(agent, await self._store.load_of(agent.agent_id)) for agent in await self._store.list_agents()]

    async def get_assignment(self, conversation_id: str) -> Assignment | None:
        return await self._store.get_assignment(conversation_id)
