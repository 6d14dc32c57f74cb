"""What routing's use cases hand the store: the new state of one conversation's routing, decided by the
domain, written only if nobody changed that conversation since it was read and only within the chosen
agent's capacity."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from inbox_routing.domain import HOLDS_CAPACITY, Assignment, AssignmentState, Decision, RouteRequest, Verdict


@dataclass(frozen=True)
class AssignmentRecord:
    """Everything routing keeps about one conversation. `version` counts its changes: a change names the
    version it read, and 0 means nothing was stored yet."""

    request: RouteRequest
    state: AssignmentState
    agent_id: str
    since_us: int
    queued_at_us: int
    reason: str
    version: int = 0
    priority: int = 0
    team: str = ""
    offer_expires_us: int = 0
    excluded: frozenset[str] = frozenset()
    rule_id: str = ""
    escalation_step: int = 0
    explanation: tuple[Verdict, ...] = ()
    # Priority added by breached service levels: it stays whatever the rules say later.
    boost: int = 0

    @property
    def conversation_id(self) -> str:
        return self.request.conversation_id

    @property
    def holder(self) -> str:
        """The agent whose capacity this conversation takes ("" when none)."""
        return self.agent_id if self.state in HOLDS_CAPACITY else ""

    def assignment(self) -> Assignment:
        return Assignment(
            conversation_id=self.request.conversation_id,
            state=self.state,
            agent_id=self.agent_id,
            channel=self.request.channel,
            since_us=self.since_us,
            reason=self.reason,
            priority=self.priority,
            team=self.team,
            offer_expires_us=self.offer_expires_us,
            rule_id=self.rule_id,
            escalation_step=self.escalation_step,
        )

    def decision(self) -> Decision:
        chosen = next((v.agent_id for v in self.explanation if v.chosen), None)
        return Decision(chosen, self.reason, self.explanation)

    def next(self, **changes: object) -> AssignmentRecord:
        """The record after a change, one version on."""
        return replace(self, version=self.version + 1, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ClockStart:
    """A service-level clock (re)started for the conversation, replacing any running one."""

    kind: str
    due_us: int


@dataclass(frozen=True)
class RoutingChange:
    """Write `record` if the stored record is still at `record.version - 1`. When the new state takes
    an agent's capacity, `capacity` is that agent's capacity on the channel: the change is refused if
    the agent already holds that many other conversations there."""

    record: AssignmentRecord
    capacity: int = 0
    # (agent, at): the agent last given a conversation, for the idlest-first tie-break.
    assigned: tuple[str, int] | None = None
    # Started in the same write whatever the outcome (as if written just before it): a new conversation's
    # first-response clock travels with its first decision instead of costing a write of its own.
    clock: ClockStart | None = None


class Outcome(Enum):
    APPLIED = "applied"
    # Someone changed the conversation since it was read: decide again.
    STALE = "stale"
    # The agent's capacity was taken meanwhile: decide again.
    FULL = "full"
