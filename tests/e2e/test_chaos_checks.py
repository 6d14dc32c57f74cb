"""The chaos run's checks catch what they are there for: a lost, doubled or reordered item, a second
active conversation, an agent over capacity, a reply sent twice."""

from __future__ import annotations

from inbox.conversations.v1 import conversation_pb2
from inbox.message.v1 import message_pb2
from inbox_devstack.providers import TwilioApi

from .chaos import SCALES, Customer, Stored, assigned_over_capacity, delivered_problems, stored_problems

ACTIVE = conversation_pb2.CONVERSATION_STATUS_OPEN
ADA, GRACE = Customer(0, "sms"), Customer(1, "api")


def stored(*conversations: tuple[str, str, list[str]], status: int = ACTIVE) -> Stored:
    """Conversations given as (conversation id, customer id, customer texts in stored order)."""
    return Stored(
        [
            conversation_pb2.Conversation(conversation_id=c, customer_id=who, status=status)
            for c, who, _ in conversations
        ],
        {c: texts for c, _, texts in conversations},
    )


def test_everything_stored_once_in_order_is_no_problem() -> None:
    counts, problems = stored_problems(
        [ADA, GRACE], 2, stored(("c1", "u1", [ADA.text(0), ADA.text(1)]), ("c2", "u2", [GRACE.text(0), GRACE.text(1)]))
    )
    assert problems == [] and counts["items stored"] == 4 and counts["items missing"] == 0


def test_a_lost_a_doubled_and_a_reordered_item_are_each_named() -> None:
    _, lost = stored_problems([ADA], 2, stored(("c1", "u1", [ADA.text(0)])))
    assert lost == [f"{ADA.key}: stored ['{ADA.text(0)}'], sent ['{ADA.text(0)}', '{ADA.text(1)}']"]
    counts, doubled = stored_problems([ADA], 2, stored(("c1", "u1", [ADA.text(0), ADA.text(1), ADA.text(1)])))
    assert doubled == [f"'{ADA.text(1)}' stored 2 times"] and counts["items stored twice or more"] == 1
    counts, reordered = stored_problems([ADA], 2, stored(("c1", "u1", [ADA.text(1), ADA.text(0)])))
    assert len(reordered) == 1 and counts["customers whose items are out of order"] == 1


def test_a_second_active_conversation_is_named() -> None:
    _, problems = stored_problems([ADA], 2, stored(("c1", "u1", [ADA.text(0)]), ("c2", "u1", [ADA.text(1)])))
    assert problems == ["customer u1 has 2 active conversations"]


def test_an_agent_holding_more_than_their_seats_is_named() -> None:
    scale = SCALES["short"]
    held = [
        conversation_pb2.Conversation(
            conversation_id=f"c{i}", assignee_agent_id="ada", channel=message_pb2.CHANNEL_SMS, status=ACTIVE
        )
        for i in range(scale.seats_per_channel + 1)
    ]
    assert assigned_over_capacity(held[:-1], scale) == []
    assert assigned_over_capacity(held, scale) == [
        f"ada holds {scale.seats_per_channel + 1} on CHANNEL_SMS, seats for {scale.seats_per_channel}"
    ]


def test_a_reply_at_the_provider_twice_or_never_is_named() -> None:
    twilio = TwilioApi("AC", "token")
    twilio.messages += [{"Body": "chaos reply 0"}, {"Body": "chaos reply 1"}, {"Body": "chaos reply 1"}]
    counts, problems = delivered_problems(twilio, ["chaos reply 0", "chaos reply 1", "chaos reply 2"])
    assert problems == ["'chaos reply 1' reached the provider 2 times", "'chaos reply 2' reached the provider 0 times"]
    assert counts["replies at the provider twice or more"] == 1
