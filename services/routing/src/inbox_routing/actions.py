"""Use cases: the only place that writes to the routing store and publishes routing events."""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import structlog
from inbox.routing.v1 import events_pb2 as routing_events
from inbox_events import EventBus, Outgoing
from inbox_events.channels import channel_fields
from inbox_runtime.metrics import gauge
from inbox_runtime.optimistic import until_applied
from inbox_runtime.timestamps import now_us, to_timestamp

from inbox_routing.changes import AssignmentRecord, ClockStart, Outcome, RoutingChange
from inbox_routing.domain import (
    FIRST_RESPONSE,
    MAX_TRANSCRIPT,
    Agent,
    Assignment,
    AssignmentState,
    Decision,
    FailedPrecondition,
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
    decide,
    escalated,
    estimated_wait_seconds,
    handover_note,
    is_current,
    parse_rules,
    pending_on,
    sla_after_message,
    sla_due,
    validate_agent,
    worth_announcing,
)
from inbox_routing.plans import (
    RANKED_LOWER_SHOWN,
    carried_over,
    plan_accept,
    plan_boost,
    plan_end,
    plan_release,
    plan_route,
    plan_transfer,
    plan_withdraw,
)
from inbox_routing.store import RoutingStore

log = structlog.get_logger(__name__)

# How many waiting conversations one pass tries to place.
QUEUE_PASS = 500

# Per team ("" for conversations no rule sends to a team).
WAITING = gauge("inbox_routing_waiting_conversations", "Conversations waiting in the queue", ["team"])
LONGEST_WAIT = gauge(
    "inbox_routing_longest_wait_seconds", "How long the longest-waiting conversation has waited", ["team"]
)
AGENTS_AVAILABLE = gauge("inbox_routing_agents_available", "Agents available to take conversations", ["team"])
SLA_BREACHES = gauge("inbox_routing_sla_breaches", "Open conversations whose response is overdue", ["team"])


class RoutingActions:
    def __init__(
        self,
        store: RoutingStore,
        bus: EventBus,
        policy: RoutingPolicy | None = None,
        clock: Callable[[], int] = now_us,
    ) -> None:
        self._store = store
        self._bus = bus
        self._policy = policy or RoutingPolicy()
        self._rules: tuple[int, RuleSet] = (-1, RuleSet())
        # Microseconds since the epoch; injected so tests decide what time it is.
        self._now = clock
        # Conversations this process has given an agent and is still writing, per (agent, channel): the
        # decisions handled side by side see each other's picks before the store does, so a burst spreads
        # over the floor as it would one at a time. The store's capacity check stays the guarantee.
        self._being_written: Counter[tuple[str, str]] = Counter()

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
        self,
        request: RouteRequest,
        correlation_id: str = "",
        *,
        queued_at_us: int = 0,
        force: bool = False,
        clock: ClockStart | None = None,
    ) -> RouteOutcome:
        """Offer, assign or queue a conversation; a repeat (redelivery) republishes the same fact. `clock`
        starts with the decision's write (or alone, when the decision stands as it was)."""
        outcome, rule_id, step = await until_applied(lambda: self._route_once(request, queued_at_us, force, clock))
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

    async def _route_once(
        self, request: RouteRequest, queued_at_us: int, force: bool, clock: ClockStart | None = None
    ) -> tuple[RouteOutcome, str, int] | None:
        """One attempt: read, decide, write if nobody changed the conversation or filled the agent meanwhile.
        `force` re-decides a queued conversation whatever its generation (a freed agent, a declined
        offer, an escalation)."""
        now = self._now()
        existing = await self._store.record(request.conversation_id)
        rule_id, target, step = await self._target(request, queued_at_us, now)
        if existing is not None:
            queued_again = force and existing.state == AssignmentState.QUEUED
            if not queued_again and not is_current(request.generation, existing.request.generation, existing.state):
                await self._start_clock(request.conversation_id, clock)
                return RouteOutcome(existing.assignment(), changed=False), rule_id, step
        excluded, _ = carried_over(existing, request)
        known = await self._store.known_agent(
            request.customer_id, request.conversation_id, now - self._policy.known_agent_window_us
        )
        candidates = await self._store.candidates(request.channel, target.team)
        decision = decide(
            request,
            target,
            candidates,
            known_agent_id=known,
            excluded=excluded,
            ranked_lower_shown=RANKED_LOWER_SHOWN,
            pending=pending_on(request.channel, self._being_written),
        )
        record, changed = plan_route(
            existing, request, target, decision, rule_id=rule_id, escalation_step=step, policy=self._policy, now_us=now
        )
        if existing is not None and dataclasses.replace(record, version=existing.version) == existing:
            await self._start_clock(request.conversation_id, clock)
            return RouteOutcome(existing.assignment(), changed=False, decision=decision), rule_id, step
        capacity = next(
            (c.agent.capacity_for(request.channel) for c in candidates if c.agent.agent_id == record.holder), 0
        )
        assigned = (record.agent_id, now) if record.agent_id else None
        with self._writing(record.holder, request.channel):
            [outcome] = await self._store.commit([RoutingChange(record, capacity, assigned, clock)])
        if outcome is not Outcome.APPLIED:
            return None
        return RouteOutcome(record.assignment(), changed=changed, decision=decision), rule_id, step

    async def _start_clock(self, conversation_id: str, clock: ClockStart | None) -> None:
        if clock is not None:
            await self._store.start_sla(conversation_id, clock.kind, clock.due_us, replace=True)

    @contextlib.contextmanager
    def _writing(self, holder: str, channel: str) -> Iterator[None]:
        """While a pick for `holder` is being written, it counts in their load for this process's decisions."""
        if not holder:
            yield
            return
        self._being_written[(holder, channel)] += 1
        try:
            yield
        finally:
            self._being_written[(holder, channel)] -= 1
            if not self._being_written[(holder, channel)]:
                del self._being_written[(holder, channel)]

    async def _write(
        self, change: Callable[[AssignmentRecord | None], RoutingChange | None], conversation_id: str
    ) -> AssignmentRecord | None:
        """Read the conversation's record, let `change` decide, write; again on a conflict. Returns the
        record written, or None when `change` found nothing to do."""

        async def attempt() -> tuple[AssignmentRecord | None] | None:
            planned = change(await self._store.record(conversation_id))
            if planned is None:
                return (None,)
            [outcome] = await self._store.commit([planned])
            if outcome is Outcome.FULL:
                raise FailedPrecondition(f"{planned.record.agent_id} is at capacity on this channel")
            return (planned.record,) if outcome is Outcome.APPLIED else None

        return (await until_applied(attempt))[0]

    async def _announce(self, assignment: Assignment, customer_id: str, correlation_id: str) -> None:
        conversation_id, since = assignment.conversation_id, assignment.since_us
        if assignment.state == AssignmentState.ASSIGNED:
            event: Any = routing_events.ConversationAssigned(
                conversation_id=conversation_id,
                agent_id=assignment.agent_id,
                **channel_fields(assignment.channel),
                assigned_at=to_timestamp(since),
                reason=assignment.reason,
            )
            event_id = f"assigned:{conversation_id}:{assignment.agent_id}:{since}"
        elif assignment.state == AssignmentState.OFFERED:
            event = routing_events.ConversationOffered(
                conversation_id=conversation_id,
                agent_id=assignment.agent_id,
                **channel_fields(assignment.channel),
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
        available = await self._store.available_agents(assignment.team)
        event = routing_events.ConversationQueued(
            conversation_id=assignment.conversation_id,
            **channel_fields(assignment.channel),
            queued_at=to_timestamp(assignment.since_us),
            reason=assignment.reason,
            position=position,
            estimated_wait_seconds=estimated_wait_seconds(position, available, self._policy),
            customer_id=customer_id,
        )
        return event, f"queued:{assignment.conversation_id}:{assignment.since_us}:{position}"

    async def announce_positions(self) -> int:
        """Tell waiting customers their new place when it changed a lot; returns how many were told."""
        told = 0
        waiting = await self._store.queued(QUEUE_PASS)
        announced = await self._store.announced_positions([w.conversation_id for w in waiting])
        for position, record in enumerate(waiting, start=1):
            if worth_announcing(announced.get(record.conversation_id, 0), position):
                event, event_id = await self._queued_event(record.assignment(), record.request.customer_id, position)
                await self._bus.publish(event, event_id=event_id)
                await self._store.mark_announced(record.conversation_id, position)
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
            _, target, step = await self._target(request, waiting.queued_at_us, self._now())
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

    async def offers_to(self, agent_id: str) -> list[Assignment]:
        if not agent_id:
            raise InvalidInput("agent_id is required")
        if await self._store.get_agent(agent_id) is None:
            raise NotFound(f"agent {agent_id} not found")
        return [record.assignment() for record in await self._store.offers_to(agent_id)]

    async def accept_offer(self, conversation_id: str, agent_id: str) -> Assignment:
        if not conversation_id or not agent_id:
            raise InvalidInput("conversation_id and agent_id are required")
        now = self._now()

        def accept(existing: AssignmentRecord | None) -> RoutingChange | None:
            accepted = plan_accept(existing, agent_id, now)
            return RoutingChange(accepted) if accepted is not None else None

        written = await self._write(accept, conversation_id)
        record = written or await self._store.record(conversation_id)
        assert record is not None
        assignment = record.assignment()
        await self._announce(assignment, "", conversation_id)
        log.info("offer_accepted", conversation_id=conversation_id, agent_id=agent_id)
        return assignment

    async def decline_offer(self, conversation_id: str, agent_id: str, reason: str = "declined") -> Assignment:
        """The offer goes to the next eligible agent at once (never back to this one)."""
        if not conversation_id or not agent_id:
            raise InvalidInput("conversation_id and agent_id are required")
        now = self._now()

        def withdraw(existing: AssignmentRecord | None) -> RoutingChange | None:
            withdrawn = plan_withdraw(existing, agent_id, f"{reason} by {agent_id}", now)
            return RoutingChange(withdrawn) if withdrawn is not None else None

        waiting = await self._write(withdraw, conversation_id)
        if waiting is None:
            current = await self._store.record(conversation_id)
            if current is None:
                raise NotFound(f"no routing record for conversation {conversation_id}")
            return current.assignment()
        log.info("offer_withdrawn", conversation_id=conversation_id, agent_id=agent_id, reason=reason)
        outcome = await self.route(waiting.request, queued_at_us=waiting.queued_at_us, force=True)
        return outcome.assignment

    async def expire_offers(self) -> int:
        lapsed = await self._store.lapsed_offers(self._now())
        for conversation_id, agent_id in lapsed:
            await self.decline_offer(conversation_id, agent_id, reason="offer lapsed")
        return len(lapsed)

    async def transfer(
        self, conversation_id: str, by_agent: str, to_agent: str, to_team: str, note: str, transcript: str = ""
    ) -> Assignment:
        if not conversation_id or not by_agent or bool(to_agent) == bool(to_team):
            raise InvalidInput("conversation_id, agent_id and exactly one of to_agent_id or to_team are required")
        current = await self._store.record(conversation_id)
        if current is None or current.state == AssignmentState.ENDED:
            raise NotFound(f"no open routing record for conversation {conversation_id}")
        now = self._now()
        if to_agent:
            agent = await self._store.get_agent(to_agent)
            if agent is None:
                raise NotFound(f"agent {to_agent} not found")

            def give(existing: AssignmentRecord | None) -> RoutingChange:
                if existing is None or existing.state == AssignmentState.ENDED:
                    raise NotFound(f"no open routing record for conversation {conversation_id}")
                moved = plan_transfer(existing, to_agent, self._policy, now)
                return RoutingChange(moved, agent.capacity_for(existing.request.channel))

            given = await self._write(give, conversation_id)
            assert given is not None
            assignment = given.assignment()
            await self._announce(assignment, "", conversation_id)
        else:

            def back_to_queue(existing: AssignmentRecord | None) -> RoutingChange | None:
                released = plan_release(existing, now, forget_excluded=True)
                return RoutingChange(released) if released is not None else None

            released = await self._write(back_to_queue, conversation_id)
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
            transcript=transcript.strip()[:MAX_TRANSCRIPT],
        )
        await self._bus.publish(transferred, event_id=f"transferred:{conversation_id}:{now}")
        log.info("conversation_transferred", conversation_id=conversation_id, agent_id=by_agent, to_agent=to_agent)
        return assignment

    # --- service levels ---------------------------------------------------------------------

    async def conversation_opened(self, request: RouteRequest, opened_at_us: int, correlation_id: str) -> None:
        """A new (or reopened) conversation: the first-response clock starts, in the write of routing's decision."""
        clock = ClockStart(FIRST_RESPONSE, sla_due(FIRST_RESPONSE, opened_at_us, self._policy))
        await self.route(request, correlation_id, clock=clock)

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

    async def customer_sentiment(self, conversation_id: str, score: float, correlation_id: str = "") -> None:
        """A score of the customer's latest message (scored after the conversation was placed: translation
        reads other languages on their English translation). While the conversation still waits, the rules
        are applied again with it (a very negative message can raise its priority or send it to another
        team); once it is offered or taken, the agent sees the mood and nothing moves."""
        existing = await self._store.record(conversation_id)
        if existing is None or existing.state != AssignmentState.QUEUED or existing.request.sentiment == score:
            return
        request = dataclasses.replace(existing.request, sentiment=score)
        await self.route(request, correlation_id, queued_at_us=existing.queued_at_us, force=True)

    async def waiting_on_customer(self, conversation_id: str) -> None:
        """Pending: the clock is the customer's, not ours, until they write again."""
        await self._store.stop_sla(conversation_id)

    async def check_slas(self) -> int:
        """Raise a breach event for each overdue response (once) and move waiting ones up the queue."""
        breached = []
        for conversation_id, kind, due_us in await self._store.breach_due(self._now()):

            def boost(existing: AssignmentRecord | None) -> RoutingChange | None:
                boosted = plan_boost(existing, self._policy.breach_priority_boost)
                return RoutingChange(boosted) if boosted is not None else None

            await self._write(boost, conversation_id)
            record = await self._store.record(conversation_id)
            if record is None:
                continue
            assignment = record.assignment()
            breached.append((assignment, kind, due_us))
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
        now = self._now()

        def finish(existing: AssignmentRecord | None) -> RoutingChange | None:
            ended = plan_end(existing, now)
            return RoutingChange(ended) if ended is not None else None

        ended = await self._write(finish, conversation_id)
        if ended is None:
            return
        log.info("assignment_ended", conversation_id=conversation_id, agent_id=ended.agent_id)
        if ended.agent_id:
            await self.place_waiting()

    async def forget_customer(self, customer_id: str) -> None:
        erased = await self._store.forget_customer(customer_id)
        log.info("customer_forgotten", customer_id=customer_id, records=erased)

    async def merge_customers(self, surviving_customer_id: str, merged_customer_id: str) -> None:
        moved = await self._store.merge_customers(surviving_customer_id, merged_customer_id)
        log.info(
            "customers_merged", customer_id=surviving_customer_id, merged_customer_id=merged_customer_id, records=moved
        )

    # --- agents ---------------------------------------------------------------------------

    async def upsert_agent(
        self,
        agent_id: str,
        display_name: str,
        capacities: dict[str, int],
        languages: tuple[str, ...],
        teams: tuple[str, ...] = (),
        skills: dict[str, int] | None = None,
    ) -> Agent:
        validate_agent(agent_id, display_name, capacities, teams, skills or {})
        agent = await self._store.upsert_agent(agent_id, display_name.strip(), capacities, languages, teams, skills)
        log.info("agent_upserted", agent_id=agent_id)
        return agent

    async def set_presence(self, agent_id: str, presence: Presence) -> Agent:
        agent = await self._store.set_presence(agent_id, presence, self._now())
        await self._announce_presence(agent)
        if presence == Presence.AVAILABLE:
            await self.place_waiting()
        elif presence == Presence.OFFLINE and self._policy.release_on_offline:
            released = await self.release_agent(agent_id)
            if released:
                log.info("conversations_released", agent_id=agent_id, count=len(released))
                await self.place_waiting()
        return agent

    async def release_agent(self, agent_id: str) -> list[str]:
        """Hand an agent's conversations back to the queue (they went offline); returns which."""
        now = self._now()
        released = []
        for conversation_id in await self._store.held_by(agent_id):

            def release(existing: AssignmentRecord | None) -> RoutingChange | None:
                if existing is None or existing.holder != agent_id:
                    return None  # moved on meanwhile
                back = plan_release(existing, now, reason=f"released: {agent_id} went offline")
                return RoutingChange(back) if back is not None else None

            if await self._write(release, conversation_id) is not None:
                released.append(conversation_id)
        return released

    async def heartbeat(self, agent_id: str) -> None:
        if not agent_id:
            raise InvalidInput("agent_id is required")
        await self._store.heartbeat(agent_id, self._now())

    async def sweep_presence(self) -> int:
        """Agents whose session stopped sending heartbeats become away (when a grace period is set)."""
        if self._policy.presence_grace_us <= 0:
            return 0
        silent = await self._store.mark_silent_away(self._now() - self._policy.presence_grace_us)
        for agent in silent:
            log.info("agent_became_away", agent_id=agent.agent_id)
            await self._announce_presence(agent)
        return len(silent)

    async def _announce_presence(self, agent: Agent) -> None:
        changed_at = self._now()
        event = routing_events.AgentPresenceChanged(
            agent_id=agent.agent_id, presence=agent.presence.name.lower(), changed_at=to_timestamp(changed_at)
        )
        await self._bus.publish(event, event_id=f"presence:{agent.agent_id}:{changed_at}")

    async def get_agent(self, agent_id: str) -> tuple[Agent | None, dict[str, int]]:
        agent = await self._store.get_agent(agent_id)
        return agent, (await self._store.load_of(agent_id) if agent else {})

    async def list_agents(self) -> list[tuple[Agent, dict[str, int]]]:
        return [(agent, await self._store.load_of(agent.agent_id)) for agent in await self._store.list_agents()]

    # --- queries and rules ------------------------------------------------------------------

    async def get_assignment(self, conversation_id: str) -> tuple[Assignment | None, int]:
        record = await self._store.record(conversation_id)
        position = await self._store.queue_position(conversation_id) if record else 0
        return (record.assignment() if record else None), position

    async def explain(self, conversation_id: str) -> tuple[Assignment, Decision, int]:
        record = await self._store.record(conversation_id)
        if record is None:
            raise NotFound(f"no routing record for conversation {conversation_id}")
        return record.assignment(), record.decision(), await self._store.queue_position(conversation_id)

    async def queue_stats(self) -> QueueStats:
        return await self._store.queue_stats(self._now())

    async def measure_queues(self) -> None:
        """The queues' gauges, from the store (every replica reports the same, whole-floor figures)."""
        stats = await self.queue_stats()
        for figure in (WAITING, LONGEST_WAIT, AGENTS_AVAILABLE, SLA_BREACHES):
            figure.clear()  # a team gone from the figures is not reported with its last value
        for team, (waiting, longest_us) in stats.per_team.items():
            WAITING.labels(team).set(waiting)
            LONGEST_WAIT.labels(team).set(longest_us / 1e6)
        for team, available in stats.available_agents.items():
            AGENTS_AVAILABLE.labels(team).set(available)
        for team, breaches in stats.sla_breaches.items():
            SLA_BREACHES.labels(team).set(breaches)

    async def rules_document(self) -> tuple[dict[str, Any], int]:
        return await self._store.rules()

    async def update_rules(self, document: dict[str, Any], agent_id: str) -> int:
        if not agent_id:
            raise InvalidInput("agent_id is required: rule changes are attributed")
        parse_rules(document)  # refuse a bad document before it replaces the good one
        version = await self._store.put_rules(document, agent_id, self._now())
        log.info("rules_updated", agent_id=agent_id, version=version)
        return version
