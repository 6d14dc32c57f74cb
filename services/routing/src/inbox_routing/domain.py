"""Routing rules and decisions, pure and deterministic: the same inputs always give the same agent."""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, NamedTuple

from inbox_events.channels import check_channel_name, is_channel_name
from inbox_runtime.errors import FailedPrecondition, InvalidInput, NotFound

__all__ = ["FailedPrecondition", "InvalidInput", "NotFound"]  # re-exported: the errors this domain raises

SECOND_US = 1_000_000


# Values match inbox.routing.v1.Presence.
class Presence(IntEnum):
    AVAILABLE = 1
    AWAY = 2
    BUSY = 3
    OFFLINE = 4


# Channels go by their registered names (inbox_events.channels); these are the built-in ones.
CHAT, EMAIL, SMS, VOICE, API = "chat", "email", "sms", "voice", "api"
# What an agent takes on a channel without a capacity of their own for it.
DEFAULT_CAPACITY: dict[str, int] = {VOICE: 1, CHAT: 3, SMS: 5, EMAIL: 10, API: 10}
# A channel added by an adapter package: a messenger, answered side by side like chat.
ADDED_CHANNEL_CAPACITY = 3
MAX_CAPACITY = 100
MAX_SKILL_LEVEL = 10
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_WORD = re.compile(r"\w+")


class AssignmentState(IntEnum):
    # Values match inbox.routing.v1.AssignmentState.
    QUEUED = 1
    ASSIGNED = 2
    # Resolved (or handed back): no longer counts against anyone's capacity.
    ENDED = 3
    # Offered to an agent who has not accepted yet; it holds their capacity meanwhile.
    OFFERED = 4


HOLDS_CAPACITY = (AssignmentState.ASSIGNED, AssignmentState.OFFERED)


def default_capacity(channel: str) -> int:
    return DEFAULT_CAPACITY.get(channel, ADDED_CHANNEL_CAPACITY)


@dataclass(frozen=True)
class Agent:
    agent_id: str
    display_name: str
    presence: Presence
    capacities: dict[str, int]
    languages: tuple[str, ...]
    last_assigned_at_us: int
    teams: tuple[str, ...] = ()
    skills: tuple[tuple[str, int], ...] = ()
    last_seen_at_us: int = 0

    def capacity_for(self, channel: str) -> int:
        return self.capacities.get(channel, default_capacity(channel))

    def skill(self, name: str) -> int:
        return dict(self.skills).get(name, 0)


# --- rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EscalationStep:
    """After waiting this long: raise priority, widen the target, and/or overflow to another team."""

    after_seconds: int
    raise_priority: int = 0
    # Drop the required skills (anyone in the team may take it).
    widen: bool = False
    overflow_team: str = ""


@dataclass(frozen=True)
class Target:
    team: str = ""
    # skill -> minimum level
    required_skills: tuple[tuple[str, int], ...] = ()
    preferred_skills: tuple[str, ...] = ()
    priority: int = 0
    escalation: tuple[EscalationStep, ...] = ()


@dataclass(frozen=True)
class Match:
    """Every field given must match; an empty field matches anything."""

    channels: tuple[str, ...] = ()
    inboxes: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    tags_any: tuple[str, ...] = ()
    keywords_any: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()
    # The customer's latest message reads at most this (-1..+1, see inbox_language.sentiment): -0.6 catches
    # the very negative. A conversation whose messages were not scored (yet) does not match.
    sentiment_at_most: float | None = None


@dataclass(frozen=True)
class Rule:
    rule_id: str
    match: Match
    target: Target


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    default: Target = field(default_factory=Target)


@dataclass(frozen=True)
class RouteRequest:
    conversation_id: str
    customer_id: str
    channel: str
    inbox_id: str
    # When the conversation (re)opened, in microseconds: a request older than the routing record is
    # stale (a redelivered "opened" after the conversation was resolved) and changes nothing.
    generation: int = 0
    language: str = ""
    tags: tuple[str, ...] = ()
    text: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    # A team chosen by hand (a transfer to a team's queue), overriding the rules.
    team: str = ""
    # How the customer's latest message reads (-1..+1); None until it was scored.
    sentiment: float | None = None


def is_current(request_generation: int, record_generation: int, state: AssignmentState) -> bool:
    """Should this request (re)decide the conversation's owner?"""
    if request_generation > record_generation:
        return True
    return request_generation == record_generation and state == AssignmentState.QUEUED


def _strings(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(f"{path} must be a list of strings")
    return tuple(value)


def _int(value: Any, path: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"{path} must be a whole number from {low} to {high}")
    return value


def _score(value: Any, path: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not -1 <= value <= 1:
        raise InvalidInput(f"{path} must be a sentiment score from -1 to 1")
    return float(value)


def _target(doc: Any, path: str) -> Target:
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path} must be a table")
    unknown = set(doc) - {"team", "required_skills", "preferred_skills", "priority", "escalation"}
    if unknown:
        raise InvalidInput(f"{path}: unknown keys {sorted(unknown)}")
    required = doc.get("required_skills", {})
    if not isinstance(required, dict):
        raise InvalidInput(f"{path}.required_skills must map skill names to minimum levels")
    steps = []
    for index, step in enumerate(doc.get("escalation", [])):
        where = f"{path}.escalation[{index}]"
        if not isinstance(step, dict) or "after_seconds" not in step:
            raise InvalidInput(f"{where} needs after_seconds")
        steps.append(
            EscalationStep(
                after_seconds=_int(step["after_seconds"], f"{where}.after_seconds", 1, 7 * 24 * 3600),
                raise_priority=_int(step.get("raise_priority", 0), f"{where}.raise_priority", 0, 100),
                widen=bool(step.get("widen", False)),
                overflow_team=str(step.get("overflow_team", "")),
            )
        )
    if [s.after_seconds for s in steps] != sorted(s.after_seconds for s in steps):
        raise InvalidInput(f"{path}.escalation steps must be in order of after_seconds")
    return Target(
        team=str(doc.get("team", "")),
        required_skills=tuple(
            sorted((str(k), _int(v, f"{path}.required_skills.{k}", 1, MAX_SKILL_LEVEL)) for k, v in required.items())
        ),
        preferred_skills=_strings(doc.get("preferred_skills"), f"{path}.preferred_skills"),
        priority=_int(doc.get("priority", 0), f"{path}.priority", 0, 100),
        escalation=tuple(steps),
    )


def parse_rules(doc: Mapping[str, Any]) -> RuleSet:
    """A rule set from its document (TOML or JSON shaped): `[default]` and `[[rules]]` with `id`, `match`
    and `target`. Raises InvalidInput naming the bad part."""
    unknown = set(doc) - {"default", "rules"}
    if unknown:
        raise InvalidInput(f"unknown top-level keys {sorted(unknown)}")
    rules = []
    seen = set()
    for index, raw in enumerate(doc.get("rules", [])):
        path = f"rules[{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
            raise InvalidInput(f"{path} needs an id")
        if raw["id"] in seen:
            raise InvalidInput(f"{path}: id {raw['id']!r} is used twice")
        seen.add(raw["id"])
        match = raw.get("match", {})
        if not isinstance(match, dict):
            raise InvalidInput(f"{path}.match must be a table")
        bad = set(match) - {"channels", "inboxes", "languages", "tags", "keywords", "attributes", "sentiment_at_most"}
        if bad:
            raise InvalidInput(f"{path}.match: unknown keys {sorted(bad)}")
        channels = []
        for name in _strings(match.get("channels"), f"{path}.match.channels"):
            try:
                channels.append(check_channel_name(name))
            except ValueError as exc:
                raise InvalidInput(f"{path}.match.channels: {exc}") from None
        attributes = match.get("attributes", {})
        if not isinstance(attributes, dict):
            raise InvalidInput(f"{path}.match.attributes must be a table of values")
        rules.append(
            Rule(
                rule_id=raw["id"],
                match=Match(
                    channels=tuple(channels),
                    inboxes=_strings(match.get("inboxes"), f"{path}.match.inboxes"),
                    languages=_strings(match.get("languages"), f"{path}.match.languages"),
                    tags_any=tuple(t.lower() for t in _strings(match.get("tags"), f"{path}.match.tags")),
                    keywords_any=tuple(k.lower() for k in _strings(match.get("keywords"), f"{path}.match.keywords")),
                    attributes=tuple(sorted((str(k), str(v)) for k, v in attributes.items())),
                    sentiment_at_most=_score(match.get("sentiment_at_most"), f"{path}.match.sentiment_at_most"),
                ),
                target=_target(raw.get("target", {}), f"{path}.target"),
            )
        )
    return RuleSet(tuple(rules), _target(doc.get("default", {}), "default"))


def _matches(match: Match, request: RouteRequest) -> bool:
    if match.channels and request.channel not in match.channels:
        return False
    if match.inboxes and request.inbox_id not in match.inboxes:
        return False
    if match.languages and request.language not in match.languages:
        return False
    if match.tags_any and not set(match.tags_any) & {t.lower() for t in request.tags}:
        return False
    if match.keywords_any:
        words = {w.lower() for w in _WORD.findall(request.text)}
        if not any((k in words) if " " not in k else (k in request.text.lower()) for k in match.keywords_any):
            return False
    if match.sentiment_at_most is not None and (
        request.sentiment is None or request.sentiment > match.sentiment_at_most
    ):
        return False
    attributes = dict(request.attributes)
    return all(attributes.get(k) == v for k, v in match.attributes)


def choose_rule(rules: RuleSet, request: RouteRequest) -> tuple[str, Target]:
    """The first rule that matches (its id and target), else the default target."""
    for rule in rules.rules:
        if _matches(rule.match, request):
            return rule.rule_id, rule.target
    return "", rules.default


def escalated(target: Target, waited_seconds: float) -> tuple[Target, int]:
    """The target after the escalation steps that waiting this long has reached, and how many."""
    effective, reached = target, 0
    for step in target.escalation:
        if waited_seconds < step.after_seconds:
            break
        reached += 1
        effective = replace(
            effective,
            priority=effective.priority + step.raise_priority,
            required_skills=() if step.widen else effective.required_skills,
            team=step.overflow_team or effective.team,
        )
    return effective, reached


# --- the decision --------------------------------------------------------------------------


# Named tuples, not dataclasses: every decision makes one of each per agent, and a frozen dataclass's
# constructor showed in routing's profiles.
class Candidate(NamedTuple):
    agent: Agent
    # Conversations this agent holds now (assigned or offered) on the channel being routed.
    load: int


class Verdict(NamedTuple):
    agent_id: str
    chosen: bool
    reason: str


@dataclass(frozen=True)
class Decision:
    agent_id: str | None
    reason: str
    verdicts: tuple[Verdict, ...]
    # Eligible agents ranked lower than those in `verdicts`, left unspelled (see `decide`).
    omitted: int = 0


def _ineligibility(
    candidate: Candidate, capacity: int, request: RouteRequest, target: Target, excluded: frozenset[str]
) -> str | None:
    agent = candidate.agent
    if agent.agent_id in excluded:
        return "already declined or let the offer lapse"
    if agent.presence != Presence.AVAILABLE:
        return f"presence is {agent.presence.name.lower()}"
    if target.team and target.team not in agent.teams:
        return f"not in team {target.team}"
    for skill, level in target.required_skills:
        if agent.skill(skill) < level:
            return f"needs {skill} at level {level} (has {agent.skill(skill)})"
    if request.language and agent.languages and request.language not in agent.languages:
        return f"does not speak {request.language}"
    if candidate.load >= capacity:
        return f"at capacity ({candidate.load}/{capacity})"
    return None


def pending_on(channel: str, pending: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """Per agent, the conversations on `channel` being given to them right now (decided, not yet stored),
    from what is being given per (agent, channel)."""
    return {agent_id: n for (agent_id, on), n in pending.items() if on == channel}


def decide(
    request: RouteRequest,
    target: Target,
    candidates: Sequence[Candidate],
    *,
    known_agent_id: str = "",
    excluded: frozenset[str] = frozenset(),
    ranked_lower_shown: int | None = None,
    pending: Mapping[str, int] | None = None,
) -> Decision:
    """Pick an agent for a conversation, or None to queue it, with a verdict for every candidate, but
    for eligible agents ranked lower than the best `ranked_lower_shown` of them: those are only counted
    (`Decision.omitted`), since an explanation keeps so many at most and spelling out every one of a
    big floor's verdicts cost more than the decision itself. `pending`: per agent, conversations being
    given to them right now (see `pending_on`), counted in their load.

    Eligible: available, in the target team, with the required skills and the customer's language, with
    free capacity on the channel, not having declined it. Among them: the customer's previous agent
    first (known-agent routing), then the best match on preferred skills, then the least loaded relative
    to capacity, then the longest idle, then the agent id (for determinism).
    """
    channel = request.channel
    default = default_capacity(channel)  # Agent.capacity_for, without a call per candidate
    preferred = target.preferred_skills
    team, required, language = target.team, target.required_skills, request.language
    ineligible: list[Verdict] = []
    # (rank, agent, load, capacity); the rank ends with the agent id, so no two compare equal and sorting
    # the entries never compares past the rank (nor do verdicts, by agent id, past theirs).
    eligible: list[tuple[tuple[int, int, float, int, str], Agent, int, int]] = []
    for candidate in candidates:
        agent, load = candidate
        agent_id = agent.agent_id
        if pending and agent_id in pending:
            load += pending[agent_id]
            candidate = Candidate(agent, load)
        capacity = agent.capacities.get(channel, default)
        # The common case checked inline; the reason is spelled out only for the ineligible.
        if (
            required
            or load >= capacity
            or agent.presence != Presence.AVAILABLE
            or (team and team not in agent.teams)
            or (language and agent.languages and language not in agent.languages)
            or agent_id in excluded
        ):
            reason = _ineligibility(candidate, capacity, request, target, excluded)
            if reason is not None:
                ineligible.append(Verdict(agent_id, False, reason))
                continue
        rank = (
            0 if agent_id == known_agent_id else 1,
            -sum(agent.skill(s) for s in preferred) if preferred else 0,
            load / capacity,
            agent.last_assigned_at_us,
            agent_id,
        )
        eligible.append((rank, agent, load, capacity))
    ineligible.sort()
    if not eligible:
        return Decision(None, "no eligible agent with free capacity: queued", tuple(ineligible))
    if ranked_lower_shown is not None and len(eligible) > ranked_lower_shown + 1:
        # Only the best and the runners-up shown are needed in order: the others are counted.
        ranked = heapq.nsmallest(ranked_lower_shown + 1, eligible)
        omitted = len(eligible) - len(ranked)
    else:
        ranked, omitted = sorted(eligible), 0
    (best_rank, best, best_load, capacity), others = ranked[0], ranked[1:]
    if best.agent_id == known_agent_id:
        reason = "the customer's previous agent, available with room"
    elif preferred and best_rank[1] < 0:
        reason = f"best on preferred skills ({', '.join(preferred)}) of {len(eligible)} eligible"
    else:
        reason = f"least loaded ({best_load}/{capacity}) and longest idle of {len(eligible)} eligible"
    ranked_lower = [
        Verdict(other.agent_id, False, f"eligible, ranked lower ({other_load}/{other_capacity})")
        for _, other, other_load, other_capacity in others
    ]
    return Decision(
        best.agent_id,
        reason,
        (*ineligible, Verdict(best.agent_id, True, reason), *ranked_lower),
        omitted=omitted,
    )


def validate_agent(
    agent_id: str, display_name: str, capacities: dict[str, int], teams: Sequence[str], skills: Mapping[str, int]
) -> None:
    if not _NAME.match(agent_id):
        raise InvalidInput("agent_id must be 1-64 characters of letters, digits, '.', '_', '@' or '-'")
    if not display_name.strip() or len(display_name) > 200:
        raise InvalidInput("display_name is required (at most 200 characters)")
    for channel, capacity in capacities.items():
        if not is_channel_name(channel):
            raise InvalidInput(f"capacities: {channel!r} is not a channel's name")
        if not 0 <= capacity <= MAX_CAPACITY:
            raise InvalidInput(f"capacity must be between 0 and {MAX_CAPACITY}")
    for team in teams:
        if not _NAME.match(team):
            raise InvalidInput(f"team {team!r} is not a valid name")
    for skill, level in skills.items():
        if not _NAME.match(skill) or not 1 <= level <= MAX_SKILL_LEVEL:
            raise InvalidInput(f"skill {skill!r} needs a name and a level from 1 to {MAX_SKILL_LEVEL}")


@dataclass(frozen=True)
class Assignment:
    conversation_id: str
    state: AssignmentState
    agent_id: str
    channel: str
    since_us: int
    reason: str
    priority: int = 0
    team: str = ""
    offer_expires_us: int = 0
    rule_id: str = ""
    escalation_step: int = 0


@dataclass(frozen=True)
class RouteOutcome:
    assignment: Assignment
    # False when the request changed nothing (a redelivery, or still queued as it was).
    changed: bool
    decision: Decision | None = None


def worth_announcing(previous: int, current: int) -> bool:
    """Tell the customer their place again only when it changed a lot (or for the first time)."""
    if current <= 0:
        return False
    if previous <= 0:
        return True
    if current < previous:
        return previous - current >= max(3, previous // 3)
    return current - previous >= 3


def estimated_wait_seconds(position: int, agents_available: int, policy: RoutingPolicy) -> int:
    """A rough estimate for the customer: the conversations ahead, shared among available agents, each
    taking an average handle time. 0 means "we cannot say" (nobody available)."""
    if position <= 0 or agents_available <= 0:
        return 0
    return -(-position * policy.average_handle_seconds // agents_available)


@dataclass(frozen=True)
class RoutingPolicy:
    """How assignment is offered (`offer_timeout_us` 0: assigned at once) and who counts as known."""

    offer_timeout_us: int = 30 * SECOND_US
    known_agent_window_us: int = 30 * 24 * 3600 * SECOND_US
    # An agent whose session stops sending heartbeats becomes away after this (0: never).
    presence_grace_us: int = 0
    # Going offline hands their open conversations back to the queue, or leaves them with the agent.
    release_on_offline: bool = True
    # For wait estimates.
    average_handle_seconds: int = 240
    # Service levels: the first answer, and every answer after a customer writes again.
    first_response_us: int = 5 * 60 * SECOND_US
    next_response_us: int = 15 * 60 * SECOND_US
    # A conversation still waiting when its response is overdue jumps this much in the queue.
    breach_priority_boost: int = 10


@dataclass(frozen=True)
class QueueStats:
    # team ("" for none) -> (waiting conversations, longest wait in microseconds)
    per_team: dict[str, tuple[int, int]]
    # team -> available agents
    available_agents: dict[str, int]
    # team -> open conversations whose response is overdue
    sla_breaches: dict[str, int] = field(default_factory=dict)


FIRST_RESPONSE, NEXT_RESPONSE = "first_response", "next_response"


def sla_due(kind: str, started_at_us: int, policy: RoutingPolicy) -> int:
    return started_at_us + (policy.first_response_us if kind == FIRST_RESPONSE else policy.next_response_us)


def sla_after_message(current_kind: str | None, inbound: bool, by_agent: bool) -> str | None:
    """The timer a message leaves running: an agent's answer stops it; a customer's message starts the
    next-response timer when none runs (the first-response timer keeps running until the first answer)."""
    if by_agent:
        return None
    if inbound:
        return current_kind or NEXT_RESPONSE
    return current_kind


MAX_NOTE = 2000
MAX_TRANSCRIPT = 20_000


def handover_note(note: str, transcript: str, by: str) -> str:
    """What the new owner reads: the note, then (from a bot or self-service flow) the transcript."""
    parts = [note.strip()[:MAX_NOTE]] if note.strip() else []
    if transcript.strip():
        parts.append(f"Transcript from {by}:\n{transcript.strip()[:MAX_TRANSCRIPT]}")
    return "\n\n".join(parts)
