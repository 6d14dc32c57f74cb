"""Routing decisions, pure and deterministic: the same inputs always give the same agent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from inbox_runtime.errors import InvalidInput, NotFound

__all__ = ["InvalidInput", "NotFound"]  # re-exported: the errors this domain raises


# Values match inbox.routing.v1.Presence.
class Presence(IntEnum):
    AVAILABLE = 1
    AWAY = 2
    BUSY = 3
    OFFLINE = 4


# Values match inbox.message.v1.Channel.
CHAT, EMAIL, SMS, VOICE, API = 1, 2, 3, 4, 5
DEFAULT_CAPACITY: dict[int, int] = {VOICE: 1, CHAT: 3, SMS: 5, EMAIL: 10, API: 10}
MAX_CAPACITY = 100
_AGENT_ID = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


@dataclass(frozen=True)
class Agent:
    agent_id: str
    display_name: str
    presence: Presence
    capacities: dict[int, int]
    languages: tuple[str, ...]
    last_assigned_at_us: int

    def capacity_for(self, channel: int) -> int:
        return self.capacities.get(channel, DEFAULT_CAPACITY.get(channel, 1))


@dataclass(frozen=True)
class Candidate:
    agent: Agent
    # Conversations this agent holds now on the channel being routed.
    load: int


@dataclass(frozen=True)
class Verdict:
    agent_id: str
    chosen: bool
    reason: str


@dataclass(frozen=True)
class Decision:
    agent_id: str | None
    reason: str
    verdicts: tuple[Verdict, ...]


def _ineligibility(candidate: Candidate, channel: int) -> str | None:
    agent = candidate.agent
    if agent.presence != Presence.AVAILABLE:
        return f"presence is {agent.presence.name.lower()}"
    capacity = agent.capacity_for(channel)
    if candidate.load >= capacity:
        return f"at capacity ({candidate.load}/{capacity})"
    return None


def decide(channel: int, candidates: list[Candidate]) -> Decision:
    """Pick an agent for a conversation on `channel`, or None to queue it.

    Among available agents with free capacity on the channel: the least loaded relative to capacity,
    then the longest idle since their last assignment, then the agent id (for determinism).
    """
    verdicts: list[Verdict] = []
    eligible: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: c.agent.agent_id):
        reason = _ineligibility(candidate, channel)
        if reason is None:
            eligible.append(candidate)
        else:
            verdicts.append(Verdict(candidate.agent.agent_id, False, reason))
    if not eligible:
        return Decision(None, "no available agent with free capacity", tuple(verdicts))

    def rank(c: Candidate) -> tuple[float, int, str]:
        return (c.load / c.agent.capacity_for(channel), c.agent.last_assigned_at_us, c.agent.agent_id)

    ranked = sorted(eligible, key=rank)
    best = ranked[0]
    capacity = best.agent.capacity_for(channel)
    reason = f"least loaded ({best.load}/{capacity}) and longest idle of {len(eligible)} eligible agents"
    verdicts.append(Verdict(best.agent.agent_id, True, reason))
    for other in ranked[1:]:
        verdicts.append(
            Verdict(
                other.agent.agent_id,
                False,
                f"eligible, ranked lower ({other.load}/{other.agent.capacity_for(channel)})",
            )
        )
    return Decision(best.agent.agent_id, reason, tuple(verdicts))


def validate_agent(agent_id: str, display_name: str, capacities: dict[int, int]) -> None:
    if not _AGENT_ID.match(agent_id):
        raise InvalidInput("agent_id must be 1-64 characters of letters, digits, '.', '_', '@' or '-'")
    if not display_name.strip() or len(display_name) > 200:
        raise InvalidInput("display_name is required (at most 200 characters)")
    for channel, capacity in capacities.items():
        if channel not in DEFAULT_CAPACITY:
            raise InvalidInput(f"unknown channel {channel} in capacities")
        if not 0 <= capacity <= MAX_CAPACITY:
            raise InvalidInput(f"capacity must be between 0 and {MAX_CAPACITY}")


class AssignmentState(IntEnum):
    # Values match inbox.routing.v1.AssignmentState.
    QUEUED = 1
    ASSIGNED = 2
    # Resolved (or handed back): no longer counts against anyone's capacity.
    ENDED = 3


@dataclass(frozen=True)
class RouteRequest:
    conversation_id: str
    customer_id: str
    channel: int
    inbox_id: str
    # When the conversation (re)opened, in microseconds: a request older than the routing record is
    # stale (a redelivered "opened" after the conversation was resolved) and changes nothing.
    generation: int = 0


def is_current(request_generation: int, record_generation: int, state: AssignmentState) -> bool:
    """Should this request (re)decide the conversation's owner?"""
    if request_generation > record_generation:
        return True
    return request_generation == record_generation and state == AssignmentState.QUEUED


@dataclass(frozen=True)
class Assignment:
    conversation_id: str
    state: AssignmentState
    agent_id: str
    channel: int
    since_us: int
    reason: str


@dataclass(frozen=True)
class RouteOutcome:
    assignment: Assignment
    # False when the conversation was already assigned (a redelivery) or stays queued as it was.
    changed: bool
