"""Outreach rules, pure: what holds a message back, and how an engagement event becomes a nudge."""

from __future__ import annotations

from dataclasses import replace

import pytest
from inbox_threading.domain import (
    DAY_US,
    Conversation,
    ConversationStatus,
    InvalidInput,
    Mood,
    Satisfaction,
)
from inbox_threading.outreach import (
    HOUR_US,
    ContactPressure,
    Held,
    NudgeRule,
    OutreachKind,
    OutreachPolicy,
    SentOutreach,
    cooling_down,
    held_back,
    nudge_channel,
    nudge_text,
    parse_policy,
)

NOW = 100 * DAY_US
PRESSURE = ContactPressure()
CALM = Conversation("c1", "cu", ConversationStatus.RESOLVED, "sms", "main", "ada", 1, NOW - 30 * DAY_US, 3)
BASKET = NudgeRule("basket", "checkout_abandoned", ("sms", "email"), "Hi {first_name}, your {item} is waiting.")


def held(
    conversations: list[Conversation],
    sent: tuple[SentOutreach, ...] = (),
    kind: OutreachKind = OutreachKind.PROMOTIONAL,
) -> Held | None:
    return held_back(kind, conversations, sent, PRESSURE, low_score=2, now_us=NOW)


def test_a_calm_customer_may_be_written_to() -> None:
    assert held([CALM]) is None
    assert held([]) is None


def test_an_open_complaint_holds_promotions_back_but_not_what_they_asked_for() -> None:
    upset = replace(CALM, status=ConversationStatus.OPEN, mood=Mood(-0.5, "worsening", -0.5, -0.5, 2))
    found = held([upset])
    assert found is not None and found.rule == "open_complaint" and "c1" in found.reason
    tagged = replace(CALM, status=ConversationStatus.OPEN, tags=("complaint",))
    assert held([tagged]) is not None
    # A delivery update on the open conversation is what the customer asked for.
    assert held([upset], kind=OutreachKind.SERVICE) is None
    # A "service" message with no open conversation is weighed like any other.
    assert held([replace(CALM, tags=("complaint",))], kind=OutreachKind.SERVICE) is None
    assert held([CALM, upset], kind=OutreachKind.NUDGE) is not None
    assert (
        held_back(
            OutreachKind.PROMOTIONAL,
            [upset],
            [],
            replace(PRESSURE, hold_on_open_complaint=False),
            low_score=2,
            now_us=NOW,
        )
        is None
    )


def test_a_low_score_or_a_very_negative_message_lately_holds_it_back() -> None:
    rated = replace(CALM, satisfaction=Satisfaction("s", NOW - 5 * DAY_US, "ada", "", 1, "", NOW - 5 * DAY_US))
    found = held([rated])
    assert found is not None and found.rule == "low_score" and "1/5" in found.reason
    long_ago = replace(CALM, satisfaction=Satisfaction("s", 1, "ada", "", 1, "", NOW - 20 * DAY_US))
    assert held([long_ago]) is None
    angry = replace(CALM, last_activity_at_us=NOW - DAY_US, mood=Mood(0.1, "improving", 0.5, -0.8, 3))
    found = held([angry])
    assert found is not None and found.rule == "negative_sentiment"
    assert held([replace(angry, last_activity_at_us=NOW - 8 * DAY_US)]) is None


def test_no_more_than_n_messages_in_the_window() -> None:
    sent = tuple(SentOutreach(NOW - h * HOUR_US) for h in (1, 20, 100))
    found = held([CALM], sent)
    assert found is not None and found.rule == "too_many_messages" and "3 proactive messages" in found.reason
    assert held([CALM], sent[:2]) is None
    assert held([CALM], (*sent[:2], SentOutreach(NOW - 200 * HOUR_US))) is None  # outside the week


def test_a_nudge_goes_on_the_preferred_reachable_channel_with_its_placeholders_filled() -> None:
    assert nudge_channel(BASKET, "email", {"sms": True, "email": True}) == "email"
    assert nudge_channel(BASKET, "chat", {"sms": False, "email": True}) == "email"
    assert nudge_channel(BASKET, "sms", {}) is None
    assert nudge_text(BASKET, "Grace Hopper", {"item": "kettle"}) == "Hi Grace, your kettle is waiting."
    assert nudge_text(BASKET, "+14155550100", {"item": "kettle"}) == "Hi there, your kettle is waiting."
    with pytest.raises(InvalidInput, match="needs the event's item"):
        nudge_text(BASKET, "Grace", {})
    assert cooling_down(BASKET, [SentOutreach(NOW - HOUR_US, "basket")], NOW)
    assert not cooling_down(BASKET, [SentOutreach(NOW - 30 * HOUR_US, "basket"), SentOutreach(NOW, "other")], NOW)


def test_a_policy_document_round_trips_and_bad_ones_say_what_is_wrong() -> None:
    policy = OutreachPolicy(replace(PRESSURE, max_messages=2), (BASKET,))
    assert parse_policy(policy.document()) == policy
    assert parse_policy({}) == OutreachPolicy()
    bad = [
        ({"contact_pressure": {"max_messages": -1}}, "max_messages must be a whole number"),
        ({"contact_pressure": {"colour": 1}}, "unknown keys"),
        ({"nudges": [{"id": "x", "event": "e", "channels": ["sms"], "text": "{item.__class__}"}]}, "not a placeholder"),
        ({"nudges": [{"id": "x", "event": "e", "channels": ["sms"], "text": "Hi {"}]}, "braces"),
        ({"nudges": [{"id": "x", "event": "e", "channels": ["SMS!"], "text": "hi"}]}, "channels"),
        ({"nudges": [{"id": "x", "event": "e", "channels": ["sms"], "text": "a"}] * 2}, "its own id"),
        ({"junk": 1}, "unknown top-level keys"),
    ]
    for document, message in bad:
        with pytest.raises(InvalidInput, match=message):
            parse_policy(document)
