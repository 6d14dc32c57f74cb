"""From a routing decision to the record that keeps it, pure: offers, assignments, the queue, transfers,
release and end. The actions load what these need and hand the result to the store."""

from __future__ import annotations

import dataclasses

from inbox_routing.changes import AssignmentRecord
from inbox_routing.domain import (
    AssignmentState,
    Decision,
    FailedPrecondition,
    NotFound,
    RouteRequest,
    RoutingPolicy,
    Target,
    Verdict,
)

# An explanation keeps the chosen agent, the closest runners-up, and why the others could not take it; the
# rest are summed up.
MAX_STORED_VERDICTS = 50
# Runners-up spelled out: past the first ten, another "eligible, ranked lower" says nothing a supervisor
# asks, and a big floor's would crowd out the reasons agents were passed over (49 of them did, and cost a
# tenth of routing's CPU per decision to spell out and store).
RANKED_LOWER_SHOWN = 10


def stored_verdicts(decision: Decision) -> tuple[Verdict, ...]:
    """The chosen agent, the closest runners-up and the agents passed over, then a line summing up the rest."""
    chosen: list[Verdict] = []
    eligible: list[Verdict] = []
    others: list[Verdict] = []
    for verdict in decision.verdicts:
        (chosen if verdict.chosen else eligible if verdict.reason.startswith("eligible") else others).append(verdict)
    kept = (chosen + eligible[:RANKED_LOWER_SHOWN] + others)[:MAX_STORED_VERDICTS]
    left = len(decision.verdicts) + decision.omitted - len(kept)
    if left > 0:
        kept.append(Verdict("", False, f"and {left} more agents, not eligible or ranked lower"))
    return tuple(kept)


def carried_over(existing: AssignmentRecord | None, request: RouteRequest) -> tuple[frozenset[str], int]:
    """What a new decision keeps from the record of the same opening: agents who passed on it, and the
    priority breached service levels added."""
    if existing is None or existing.request.generation != request.generation:
        return frozenset(), 0
    return existing.excluded, existing.boost


def plan_route(
    existing: AssignmentRecord | None,
    request: RouteRequest,
    target: Target,
    decision: Decision,
    *,
    rule_id: str,
    escalation_step: int,
    policy: RoutingPolicy,
    now_us: int,
) -> tuple[AssignmentRecord, bool]:
    """Offer, assign or queue per `decision`; returns the record and whether anything changed (a
    conversation still waiting as it was keeps its place and its times)."""
    excluded, boost = carried_over(existing, request)
    priority = target.priority + boost
    if decision.agent_id is None:
        state, agent_id, expires = AssignmentState.QUEUED, "", 0
    elif policy.offer_timeout_us > 0:
        state, agent_id, expires = AssignmentState.OFFERED, decision.agent_id, now_us + policy.offer_timeout_us
    else:
        state, agent_id, expires = AssignmentState.ASSIGNED, decision.agent_id, 0
    was_queued = existing is not None and existing.state == AssignmentState.QUEUED
    unchanged_queue = (
        existing is not None
        and was_queued
        and state == AssignmentState.QUEUED
        and existing.priority == priority
        and existing.team == target.team
    )
    record = AssignmentRecord(
        request=dataclasses.replace(request, text=request.text[:2000]),
        state=state,
        agent_id=agent_id,
        since_us=existing.since_us if unchanged_queue and existing is not None else now_us,
        queued_at_us=existing.queued_at_us if was_queued and existing is not None else now_us,
        reason=decision.reason,
        version=(existing.version if existing is not None else 0) + 1,
        priority=priority,
        team=target.team,
        offer_expires_us=expires,
        excluded=excluded,
        rule_id=rule_id,
        escalation_step=escalation_step,
        explanation=stored_verdicts(decision),
        boost=boost,
    )
    return record, not unchanged_queue


def plan_accept(existing: AssignmentRecord | None, agent_id: str, now_us: int) -> AssignmentRecord | None:
    """The offered agent takes the conversation; None when they already have it (a retried accept)."""
    if existing is None:
        raise NotFound("no conversation with that id is being routed")
    if existing.state == AssignmentState.ASSIGNED and existing.agent_id == agent_id:
        return None
    if existing.state != AssignmentState.OFFERED or existing.agent_id != agent_id:
        raise FailedPrecondition("this offer is no longer open to you")
    return existing.next(state=AssignmentState.ASSIGNED, since_us=now_us, offer_expires_us=0)


def plan_withdraw(
    existing: AssignmentRecord | None, agent_id: str, reason: str, now_us: int
) -> AssignmentRecord | None:
    """A declined or lapsed offer goes back to the queue, never to the same agent again; None when the
    offer is no longer this agent's."""
    if existing is None or existing.state != AssignmentState.OFFERED or existing.agent_id != agent_id:
        return None
    return existing.next(
        state=AssignmentState.QUEUED,
        agent_id="",
        offer_expires_us=0,
        excluded=existing.excluded | {agent_id},
        reason=reason,
        since_us=now_us,
    )


def plan_release(
    existing: AssignmentRecord | None, now_us: int, *, reason: str = "", forget_excluded: bool = False
) -> AssignmentRecord | None:
    """Back to the queue (the agent went offline, or a transfer to a team); None when not open."""
    if existing is None or existing.state == AssignmentState.ENDED:
        return None
    return existing.next(
        state=AssignmentState.QUEUED,
        agent_id="",
        offer_expires_us=0,
        queued_at_us=now_us,
        since_us=now_us,
        reason=reason or existing.reason,
        excluded=frozenset() if forget_excluded else existing.excluded,
    )


def plan_transfer(existing: AssignmentRecord, to_agent: str, policy: RoutingPolicy, now_us: int) -> AssignmentRecord:
    """Given to a named agent: offered or assigned per policy."""
    offered = policy.offer_timeout_us > 0
    return existing.next(
        state=AssignmentState.OFFERED if offered else AssignmentState.ASSIGNED,
        agent_id=to_agent,
        since_us=now_us,
        offer_expires_us=now_us + policy.offer_timeout_us if offered else 0,
        reason=f"transferred to {to_agent}",
        excluded=frozenset(),
    )


def plan_end(existing: AssignmentRecord | None, now_us: int) -> AssignmentRecord | None:
    """The conversation needs no owner any more (resolved); None when it had ended already."""
    if existing is None or existing.state == AssignmentState.ENDED:
        return None
    return existing.next(state=AssignmentState.ENDED, since_us=now_us, offer_expires_us=0)


def plan_boost(existing: AssignmentRecord | None, amount: int) -> AssignmentRecord | None:
    """A breached service level moves a waiting conversation up the queue, for good."""
    if existing is None or existing.state != AssignmentState.QUEUED or amount <= 0:
        return None
    return existing.next(priority=existing.priority + amount, boost=existing.boost + amount)
