"""Use cases: the only place that writes to the routing store and publishes routing events."""

from __future__ import annotations

import dataclasses
from typing import Any

import structlog
from inbox.routing.v1 import events_pb2 as routing_events
from inbox_events import EventBus, Outgoing
from inbox_runtime.timestamps import now_us, to_timestamp

from inbox_routing.domain import (
    FIRST_RESPONSE,
    Agent,
    Assignment,
    AssignmentState,
    Decision,
    InvalidInput,
    NotFound,
    Presence,
    QueueStats,
    RouteOutcome,
    RouteRequest,
    RoutingPolicy,
    RuleSet,
    Target,
    choose_rule,
    escalated,
    estimated_wait_seconds,
    handover_note,
    parse_rules,
    sla_after_message,
    sla_due,
    validate_agent,
    worth_announcing,
)
from inbox_routing.store import RoutingStore

log = structlog.get_logger(__name__)

# How many waiting conversations one pass tries to place.
QUEUE_PASS = 500


class RoutingActions:
    def __init__(self, store: RoutingStore, bus: EventBus, policy: RoutingPolicy | None = None) -> None:
        self._store = store
        self._bus = bus
        self._policy = policy or RoutingPolicy()
        self._rules: tuple[int, RuleSet] = (-1, RuleSet())

    @property
    def policy(self) -> RoutingPolicy:
        return self._policy

    async def _current_rules(self) -> RuleSet:
        document, version = await self._store.rules()
        if version != self._rules[0]:
            self._rules = (version, parse_rules(document))
        return self._rules[1]

    # --- routing --------------------------------------------------------------------------

    async def _target(self, request: RouteRequest, queued_at_us: int, now: int) -> tuple[str, Target, int]:
        rule_id, base = choose_rule(await self._current_rules(), request)
        if request.team:
            # Sent to a team on purpose (a transfer): that team's agents, whatever the rule said.
            base = dataclasses.replace(base, team=request.team, required_skills=())
        waited = (now - queued_at_us) / 1e6 if queued_at_us else 0.0
        target, step = escalated(base, waited)
        return rule_id, target, step

    async def route(
        self, request: RouteRequest, correlation_id: str = "", *, queued_at_us: int = 0, force: bool = False
    ) -> RouteOutcome:
        """Offer, assign or queue a conversation; a repeat (redelivery) republishes the same fact."""
        now = now_us()
        rule_id, target, step = await self._target(request, queued_at_us, now)
        outcome = await self._store.route(request, target, rule_id, step, self._policy, now, force=force)
        if outcome.changed or not force:
            await self._announce(outcome.assignment, request.customer_id, correlation_id)
        log.info(
            "conversation_routed",
            conversation_id=request.conversation_id,
            customer_id=request.customer_id,
            agent_id=outcome.assignment.agent_id,
            state=outcome.assignment.state.name.lower(),
            rule_id=rule_id,
            escalation_step=step,
            changed=outcome.changed,
        )
        return outcome

    async def _announce(self, assignment: Assignment, customer_id: str, correlation_id: str) -> None:
        conversation_id, since = assignment.conversation_id, assignment.since_us
        if assignment.state == AssignmentState.ASSIGNED:
            event: Any = routing_events.ConversationAssigned(
                conversation_id=conversation_id,
                agent_id=assignment.agent_id,
                channel=assignment.channel,  # type: ignore[arg-type]
                assigned_at=to_timestamp(since),
                reason=assignment.reason,
            )
            event_id = f"assigned:{conversation_id}:{assignment.agent_id}:{since}"
        elif assignment.state == AssignmentState.OFFERED:
            event = routing_events.ConversationOffered(
                conversation_id=conversation_id,
                agent_id=assignment.agent_id,
                channel=assignment.channel,  # type: ignore[arg-type]
                offered_at=to_timestamp(since),
                expires_at=to_timestamp(assignment.offer_expires_us),
                reason=assignment.reason,
            )
            event_id = f"offered:{conversation_id}:{assignment.agent_id}:{since}"
        elif assignment.state == AssignmentState.QUEUED:
            position = await self._store.queue_position(conversation_id)
            event, event_id = await self._queued_event(assignment, customer_id, position)
            await self._store.mark_announced(conversation_id, position)
        else:
            return
        await self._bus.publish_all([Outgoing(event, event_id, correlation_id)])

    async def _queued_event(
        self, assignment: Assignment, customer_id: str, position: int
    ) -> tuple[routing_events.ConversationQueued, str]:
        stats = await self._store.queue_stats(now_us())
        event = routing_events.ConversationQueued(
            conversation_id=assignment.conversation_id,
            channel=assignment.channel,  # type: ignore[arg-type]
            queued_at=to_timestamp(assignment.since_us),
            reason=assignment.reason,
            position=position,
            estimated_wait_seconds=estimated_wait_seconds(
                position, stats.available_agents.get(assignment.team, 0), self._policy
            ),
            customer_id=customer_id,
        )
        return event, f"queued:{assignment.conversation_id}:{assignment.since_us}:{position}"

    async def announce_positions(self) -> int:
        """Tell waiting customers their new place when it changed a lot; returns how many were told."""
        told = 0
        for assignment, customer_id, position, announced in await self._store.queue_positions(QUEUE_PASS):
            if worth_announcing(announced, position):
                event, event_id = await self._queued_event(assignment, customer_id, position)
                await self._bus.publish(event, event_id=event_id)
                await self._store.mark_announced(assignment.conversation_id, position)
                told += 1
        return told

    async def place_waiting(self) -> int:
        """Try to place waiting conversations, highest priority and longest waiting first, escalating
        those whose wait reached a step. Returns how many were offered or assigned."""
        placed = 0
        # Within one pass, once a kind of conversation found nobody, the next of the same kind (with no
        # escalation to apply) would not either: skip the decision.
        nobody_for: set[tuple[object, ...]] = set()
        for waiting in await self._store.queued(QUEUE_PASS):
            request = waiting.request
            _, target, step = await self._target(request, waiting.queued_at_us, now_us())
            kind = (request.channel, request.language, target.team, target.required_skills)
            if kind in nobody_for and not waiting.excluded and step == waiting.escalation_step:
                continue
            outcome = await self.route(request, queued_at_us=waiting.queued_at_us, force=True)
            if outcome.assignment.state == AssignmentState.QUEUED:
                if not waiting.excluded:
                    nobody_for.add(kind)
            else:
                placed += 1
        await self.announce_positions()
        return placed

    async def accept_offer(self, conversation_id: str, agent_id: str) -> Assignment:
        if not conversation_id or not agent_id:
            raise InvalidInput("conversation_id and agent_id are required")
        assignment = await self._store.accept_offer(conversation_id, agent_id, now_us())
        await self._announce(assignment, "", conversation_id)
        log.info("offer_accepted", conversation_id=conversation_id, agent_id=agent_id)
        return assignment

    async def decline_offer(self, conversation_id: str, agent_id: str, reason: str = "declined") -> Assignment:
        """The offer goes to the next eligible agent at once (never back to this one)."""
        if not conversation_id or not agent_id:
            raise InvalidInput("conversation_id and agent_id are required")
        waiting = await self._store.withdraw_offer(conversation_id, agent_id, f"{reason} by {agent_id}", now_us())
        if waiting is None:
            current = await self._store.get_assignment(conversation_id)
            if current is None:
                raise NotFound(f"no routing record for conversation {conversation_id}")
            return current
        log.info("offer_withdrawn", conversation_id=conversation_id, agent_id=agent_id, reason=reason)
        outcome = await self.route(waiting.request, queued_at_us=waiting.queued_at_us, force=True)
        return outcome.assignment

    async def expire_offers(self) -> int:
        lapsed = await self._store.lapsed_offers(now_us())
        for conversation_id, agent_id in lapsed:
            await self.decline_offer(conversation_id, agent_id, reason="offer lapsed")
        return len(lapsed)

    async def transfer(
        self, conversation_id: str, by_agent: str, to_agent: str, to_team: str, note: str, transcript: str = ""
    ) -> Assignment:
        if not conversation_id or not by_agent or bool(to_agent) == bool(to_team):
            raise InvalidInput("conversation_id, agent_id and exactly one of to_agent_id or to_team are required")
        current = await self._store.get_assignment(conversation_id)
        if current is None or current.state == AssignmentState.ENDED:
            raise NotFound(f"no open routing record for conversation {conversation_id}")
        now = now_us()
        if to_agent:
            assignment = await self._store.transfer(conversation_id, to_agent, self._policy, now)
            await self._announce(assignment, "", conversation_id)
        else:
            released = await self._store.release_agent_conversation(conversation_id, now)
            if released is None:
                raise NotFound(f"no open routing record for conversation {conversation_id}")
            outcome = await self.route(
                dataclasses.replace(released.request, team=to_team), queued_at_us=released.queued_at_us, force=True
            )
            assignment = outcome.assignment
        transferred = routing_events.ConversationTransferred(
            conversation_id=conversation_id,
            from_agent_id=current.agent_id or by_agent,
            to_agent_id=to_agent,
            to_team=to_team,
            note=handover_note(note, transcript, by_agent),
            transferred_at=to_timestamp(now),
        )
        await self._bus.publish(transferred, event_id=f"transferred:{conversation_id}:{now}")
        log.info("conversation_transferred", conversation_id=conversation_id, agent_id=by_agent, to_agent=to_agent)
        return assignment

    # --- service levels ---------------------------------------------------------------------

    async def conversation_opened(self, request: RouteRequest, opened_at_us: int, correlation_id: str) -> None:
        """A new (or reopened) conversation: the first-response clock starts, then routing decides."""
        await self._store.start_sla(
            request.conversation_id, FIRST_RESPONSE, sla_due(FIRST_RESPONSE, opened_at_us, self._policy), replace=True
        )
        await self.route(request, correlation_id)

    async def message_added(self, conversation_id: str, inbound: bool, by_agent: bool, at_us: int) -> None:
        timer = await self._store.sla_timer(conversation_id)
        current = timer[0] if timer and not timer[2] else None
        running = sla_after_message(current, inbound, by_agent)
        if running is None:
            if timer is not None:
                await self._store.stop_sla(conversation_id)
        elif running != current or timer is None or timer[2]:
            await self._store.start_sla(
                conversation_id, running, sla_due(running, at_us, self._policy), replace=timer is not None and timer[2]
            )

    async def waiting_on_customer(self, conversation_id: str) -> None:
        """Pending: the clock is the customer's, not ours, until they write again."""
        await self._store.stop_sla(conversation_id)

    async def check_slas(self) -> int:
        """Raise a breach event for each overdue response (once) and move waiting ones up the queue."""
        breached = await self._store.breach_due(now_us(), self._policy.breach_priority_boost)
        for assignment, kind, due_us in breached:
            event = routing_events.SlaBreached(
                conversation_id=assignment.conversation_id,
                kind=kind,
                due_at=to_timestamp(due_us),
                agent_id=assignment.agent_id if assignment.state != AssignmentState.QUEUED else "",
                team=assignment.team,
            )
            await self._bus.publish(event, event_id=f"sla:{assignment.conversation_id}:{kind}:{due_us}")
            log.warning(
                "sla_breached", conversation_id=assignment.conversation_id, kind=kind, agent_id=assignment.agent_id
            )
        if any(a.state == AssignmentState.QUEUED for a, _, _ in breached):
            await self.place_waiting()
        return len(breached)

    async def end(self, conversation_id: str) -> None:
        """A conversation was resolved: its agent has room again, so waiting conversations move."""
        await self._store.stop_sla(conversation_id)
        ended = await self._store.end(conversation_id, now_us())
        if ended is None:
            return
        log.info("assignment_ended", conversation_id=conversation_id, agent_id=ended.agent_id)
        if ended.agent_id:
            await self.place_waiting()

    async def forget_customer(self, customer_id: str) -> None:
        erased = await self._store.forget_customer(customer_id)
        log.info("customer_forgotten", customer_id=customer_id, records=erased)

    # --- agents ---------------------------------------------------------------------------

    async def upsert_agent(
        self,
        agent_id: str,
        display_name: str,
        capacities: dict[int, int],
        languages: tuple[str, ...],
        teams: tuple[str, ...] = (),
        skills: dict[str, int] | None = None,
    ) -> Agent:
        validate_agent(agent_id, display_name, capacities, teams, skills or {})
        agent = await self._store.upsert_agent(agent_id, display_name.strip(), capacities, languages, teams, skills)
        log.info("agent_upserted", agent_id=agent_id)
        return agent

    async def set_presence(self, agent_id: str, presence: Presence) -> Agent:
        agent = await self._store.set_presence(agent_id, presence, now_us())
        await self._announce_presence(agent)
        if presence == Presence.AVAILABLE:
            await self.place_waiting()
        elif presence == Presence.OFFLINE and self._policy.release_on_offline:
            released = await self._store.release_agent(agent_id, now_us())
            if released:
                log.info("conversations_released", agent_id=agent_id, count=len(released))
                await self.place_waiting()
        return agent

    async def heartbeat(self, agent_id: str) -> None:
        if not agent_id:
            raise InvalidInput("agent_id is required")
        await self._store.heartbeat(agent_id, now_us())

    async def sweep_presence(self) -> int:
        """Agents whose session stopped sending heartbeats become away (when a grace period is set)."""
        if self._policy.presence_grace_us <= 0:
            return 0
        silent = await self._store.mark_silent_away(now_us() - self._policy.presence_grace_us)
        for agent in silent:
            log.info("agent_became_away", agent_id=agent.agent_id)
            await self._announce_presence(agent)
        return len(silent)

    async def _announce_presence(self, agent: Agent) -> None:
        changed_at = now_us()
        event = routing_events.AgentPresenceChanged(
            agent_id=agent.agent_id, presence=agent.presence.name.lower(), changed_at=to_timestamp(changed_at)
        )
        await self._bus.publish(event, event_id=f"presence:{agent.agent_id}:{changed_at}")

    async def get_agent(self, agent_id: str) -> tuple[Agent | None, dict[int, int]]:
        agent = await self._store.get_agent(agent_id)
        return agent, (await self._store.load_of(agent_id) if agent else {})

    async def list_agents(self) -> list[tuple[Agent, dict[int, int]]]:
        return [(agent, await self._store.load_of(agent.agent_id)) for agent in await self._store.list_agents()]

    # --- queries and rules ------------------------------------------------------------------

    async def get_assignment(self, conversation_id: str) -> tuple[Assignment | None, int]:
        assignment = await self._store.get_assignment(conversation_id)
        position = await self._store.queue_position(conversation_id) if assignment else 0
        return assignment, position

    async def explain(self, conversation_id: str) -> tuple[Assignment, Decision, int]:
        found = await self._store.explanation(conversation_id)
        if found is None:
            raise NotFound(f"no routing record for conversation {conversation_id}")
        assignment, decision = found
        return assignment, decision, await self._store.queue_position(conversation_id)

    async def queue_stats(self) -> QueueStats:
        return await self._store.queue_stats(now_us())

    async def rules_document(self) -> tuple[dict[str, Any], int]:
        return await self._store.rules()

    async def update_rules(self, document: dict[str, Any], agent_id: str) -> int:
        if not agent_id:
            raise InvalidInput("agent_id is required: rule changes are attributed")
        parse_rules(document)  # refuse a bad document before it replaces the good one
        version = await self._store.put_rules(document, agent_id, now_us())
        log.info("rules_updated", agent_id=agent_id, version=version)
        return version
