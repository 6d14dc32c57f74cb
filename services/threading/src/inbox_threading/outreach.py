"""Outreach rules, pure: when contact pressure holds a message back, and how an engagement event becomes a
nudge (which rule, which channel, what text). A tenant's rules are one JSON document:

    {"contact_pressure": {"max_messages": 3, "window_hours": 168, "hold_on_open_complaint": true,
                          "low_score_days": 14, "negative_sentiment_days": 7, "negative_sentiment_at_most": -0.6},
     "nudges": [{"id": "basket", "event": "checkout_abandoned", "channels": ["sms", "email"],
                 "text": "Hi {first_name}, your {item} is still in your basket.", "cooldown_hours": 24}]}
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from inbox_events.channels import check_channel_name
from inbox_events.customers import first_name_of

from inbox_threading.domain import (
    DAY_US,
    FOLLOW_UP_TAG,
    Conversation,
    ConversationStatus,
    InvalidInput,
)

HOUR_US = 3600 * 1_000_000
COMPLAINT_TAG = "complaint"
# The moods an open conversation counts as a complaint with (see inbox_language.sentiment's bands).
UPSET_AT_MOST = -0.05
MAX_NUDGE_TEXT = 1000
MAX_RULES = 100
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_EVENT = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_PLACEHOLDER = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")


# Values match inbox.message.v1.OutreachKind.
class OutreachKind(IntEnum):
    PROMOTIONAL = 1
    SERVICE = 2
    NUDGE = 3


@dataclass(frozen=True)
class ContactPressure:
    """What holds a message to a customer back (0 turns a rule off)."""

    # No more than this many proactive messages and nudges in the window.
    max_messages: int = 3
    window_hours: int = 7 * 24
    # An open conversation tagged `complaint`, or whose customer is upset (a negative mood).
    hold_on_open_complaint: bool = True
    # A low satisfaction score (the survey's follow-up threshold) given within these days.
    low_score_days: int = 14
    # A message this negative (or worse) within these days.
    negative_sentiment_days: int = 7
    negative_sentiment_at_most: float = -0.6


@dataclass(frozen=True)
class NudgeRule:
    rule_id: str
    event: str
    # The channels it may go on, the customer's preferred first when it is among them.
    channels: tuple[str, ...]
    text: str
    # The same customer gets this rule's nudge at most once in this many hours.
    cooldown_hours: int = 24


@dataclass(frozen=True)
class OutreachPolicy:
    contact_pressure: ContactPressure = field(default_factory=ContactPressure)
    nudges: tuple[NudgeRule, ...] = ()

    def document(self) -> dict[str, Any]:
        pressure = self.contact_pressure
        return {
            "contact_pressure": {
                "max_messages": pressure.max_messages,
                "window_hours": pressure.window_hours,
                "hold_on_open_complaint": pressure.hold_on_open_complaint,
                "low_score_days": pressure.low_score_days,
                "negative_sentiment_days": pressure.negative_sentiment_days,
                "negative_sentiment_at_most": pressure.negative_sentiment_at_most,
            },
            "nudges": [
                {
                    "id": r.rule_id,
                    "event": r.event,
                    "channels": list(r.channels),
                    "text": r.text,
                    "cooldown_hours": r.cooldown_hours,
                }
                for r in self.nudges
            ],
        }


def _whole(value: Any, path: str, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
        raise InvalidInput(f"{path} must be a whole number from 0 to {high}")
    return value


def placeholders(text: str) -> tuple[str, ...]:
    """The `{names}` a nudge's text fills in; InvalidInput for anything but plain names."""
    try:
        fields = [name for _, name, spec, conversion in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise InvalidInput(f"the text's braces do not pair: {exc}") from None
    for name in fields:
        if not _PLACEHOLDER.match(name):
            raise InvalidInput(f"{{{name}}} is not a placeholder: use plain names like {{first_name}} or {{item}}")
    return tuple(dict.fromkeys(fields))


def parse_policy(doc: Mapping[str, Any]) -> OutreachPolicy:
    """A tenant's rules from their document; InvalidInput names the bad part."""
    unknown = set(doc) - {"contact_pressure", "nudges"}
    if unknown:
        raise InvalidInput(f"unknown top-level keys {sorted(unknown)}")
    raw = doc.get("contact_pressure", {})
    if not isinstance(raw, dict):
        raise InvalidInput("contact_pressure must be a table")
    known = set(ContactPressure.__dataclass_fields__)
    if set(raw) - known:
        raise InvalidInput(f"contact_pressure: unknown keys {sorted(set(raw) - known)}")
    default = ContactPressure()
    threshold = raw.get("negative_sentiment_at_most", default.negative_sentiment_at_most)
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not -1 <= threshold <= 1:
        raise InvalidInput("contact_pressure.negative_sentiment_at_most must be a sentiment score from -1 to 1")
    hold = raw.get("hold_on_open_complaint", default.hold_on_open_complaint)
    if not isinstance(hold, bool):
        raise InvalidInput("contact_pressure.hold_on_open_complaint must be true or false")
    pressure = ContactPressure(
        max_messages=_whole(raw.get("max_messages", default.max_messages), "contact_pressure.max_messages", 1000),
        window_hours=_whole(raw.get("window_hours", default.window_hours), "contact_pressure.window_hours", 24 * 366),
        hold_on_open_complaint=hold,
        low_score_days=_whole(
            raw.get("low_score_days", default.low_score_days), "contact_pressure.low_score_days", 366
        ),
        negative_sentiment_days=_whole(
            raw.get("negative_sentiment_days", default.negative_sentiment_days),
            "contact_pressure.negative_sentiment_days",
            366,
        ),
        negative_sentiment_at_most=float(threshold),
    )
    rules = doc.get("nudges", [])
    if not isinstance(rules, list) or len(rules) > MAX_RULES:
        raise InvalidInput(f"nudges must be a list of at most {MAX_RULES} rules")
    parsed: list[NudgeRule] = []
    for index, rule in enumerate(rules):
        parsed.append(_nudge(rule, f"nudges[{index}]"))
    ids = [r.rule_id for r in parsed]
    if len(set(ids)) != len(ids):
        raise InvalidInput("nudges: every rule needs its own id")
    return OutreachPolicy(pressure, tuple(parsed))


def _nudge(rule: Any, path: str) -> NudgeRule:
    if not isinstance(rule, dict):
        raise InvalidInput(f"{path} must be a table")
    unknown = set(rule) - {"id", "event", "channels", "text", "cooldown_hours"}
    if unknown:
        raise InvalidInput(f"{path}: unknown keys {sorted(unknown)}")
    rule_id, event, text = rule.get("id"), rule.get("event"), rule.get("text")
    if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        raise InvalidInput(f"{path}.id must be lower-case letters, digits, '.', '_' or '-'")
    if not isinstance(event, str) or not _EVENT.match(event):
        raise InvalidInput(f"{path}.event must be an event type like checkout_abandoned")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_NUDGE_TEXT:
        raise InvalidInput(f"{path}.text must be 1 to {MAX_NUDGE_TEXT} characters")
    try:
        placeholders(text)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}.text: {exc}") from None
    channels = rule.get("channels")
    if not isinstance(channels, list) or not channels or not all(isinstance(c, str) for c in channels):
        raise InvalidInput(f"{path}.channels must list the channels it may go on")
    try:
        names = tuple(check_channel_name(c) for c in channels)
    except ValueError as exc:
        raise InvalidInput(f"{path}.channels: {exc}") from None
    cooldown = _whole(rule.get("cooldown_hours", 24), f"{path}.cooldown_hours", 24 * 366)
    return NudgeRule(rule_id, event, names, text.strip(), cooldown)


@dataclass(frozen=True)
class SentOutreach:
    """A proactive message or nudge the customer got (for the window's count and each rule's cooldown)."""

    sent_at_us: int
    nudge_rule: str = ""


@dataclass(frozen=True)
class Held:
    rule: str
    reason: str


def held_back(
    kind: OutreachKind,
    conversations: Sequence[Conversation],
    sent: Sequence[SentOutreach],
    pressure: ContactPressure,
    *,
    low_score: int,
    now_us: int,
) -> Held | None:
    """Why a message of `kind` must not go to this customer now (None: it may). `conversations` are the
    customer's, newest first; `sent`, what they got lately."""
    open_conversations = [c for c in conversations if c.status != ConversationStatus.RESOLVED]
    if kind == OutreachKind.SERVICE and open_conversations:
        return None  # what they asked for, on a conversation still open
    if pressure.hold_on_open_complaint:
        for c in open_conversations:
            if COMPLAINT_TAG in c.tags or FOLLOW_UP_TAG in c.tags:
                return Held("open_complaint", f"the customer has an open complaint (conversation {c.conversation_id})")
            if c.mood is not None and c.mood.score <= UPSET_AT_MOST:
                return Held(
                    "open_complaint",
                    f"the customer is upset in an open conversation ({c.conversation_id}, mood {c.mood.score:+.2f})",
                )
    if pressure.low_score_days:
        since = now_us - pressure.low_score_days * DAY_US
        for c in conversations:
            answer = c.satisfaction
            if answer and answer.score and answer.score <= low_score and answer.answered_at_us >= since:
                return Held(
                    "low_score", f"the customer rated us {answer.score}/5 in the last {pressure.low_score_days} days"
                )
    if pressure.negative_sentiment_days:
        since = now_us - pressure.negative_sentiment_days * DAY_US
        for c in conversations:
            if c.mood and c.last_activity_at_us >= since and c.mood.lowest_score <= pressure.negative_sentiment_at_most:
                return Held(
                    "negative_sentiment",
                    f"the customer wrote a very negative message in the last {pressure.negative_sentiment_days} days "
                    f"(conversation {c.conversation_id})",
                )
    if pressure.max_messages:
        since = now_us - pressure.window_hours * HOUR_US
        recent = sum(1 for s in sent if s.sent_at_us >= since)
        if recent >= pressure.max_messages:
            return Held(
                "too_many_messages",
                f"the customer already got {recent} proactive messages in the last {pressure.window_hours} hours",
            )
    return None


def cooling_down(rule: NudgeRule, sent: Sequence[SentOutreach], now_us: int) -> bool:
    since = now_us - rule.cooldown_hours * HOUR_US
    return any(s.nudge_rule == rule.rule_id and s.sent_at_us >= since for s in sent)


def nudge_channel(rule: NudgeRule, preferred: str, reachable: Mapping[str, bool]) -> str | None:
    """The channel a nudge goes on: the customer's preferred (the one they last wrote on) when the rule allows
    it and it reaches them, else the first of the rule's that does. None: none reaches them."""
    if preferred in rule.channels and reachable.get(preferred):
        return preferred
    return next((c for c in rule.channels if reachable.get(c)), None)


def nudge_text(rule: NudgeRule, customer_label: str, attributes: Mapping[str, str]) -> str:
    """The rule's text for this customer: {first_name} and {name} from who they are, the rest from the
    event's attributes. InvalidInput names a placeholder the event did not give."""
    values = {"first_name": first_name_of(customer_label) or "there", "name": customer_label or "there"}
    values.update({k: v for k, v in attributes.items() if _PLACEHOLDER.match(k)})
    missing = [p for p in placeholders(rule.text) if p not in values]
    if missing:
        raise InvalidInput(f"rule {rule.rule_id!r} needs the event's {', '.join(missing)}")
    return rule.text.format_map(values)
