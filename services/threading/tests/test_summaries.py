"""Handoff summaries: each part drawn from what was said, linked to the messages it quotes."""

from __future__ import annotations

from inbox_threading.domain import (
    ContactPoint,
    Conversation,
    ConversationStatus,
    CustomerFacts,
    Direction,
    ItemKind,
    Mood,
    StoredMessage,
)
from inbox_threading.summaries import Point, Said, Summarizer, reading_language, said_in, transcript_said, who_line

DAY_US = 24 * 3600 * 1_000_000
CONVERSATION = [
    Said(
        "m1",
        True,
        "Hi, I ordered a blue kettle two weeks ago (order ORD-4411) and it still has not arrived. "
        "The tracking page says it is stuck in Madrid. My neighbour got hers in two days.",
    ),
    Said("m2", False, "Sorry about that! I checked with the courier and they lost the parcel. Thanks for waiting."),
    Said("m3", False, "I will send a replacement today."),
    Said("m4", True, "Thanks. Will I get a tracking number for the new one?"),
    Said("m5", False, "I have refunded the shipping cost to your card."),
    Said("m6", True, "Great. When will the replacement arrive? And do I return the first one if it shows up?"),
]


def test_a_summary_quotes_what_was_wanted_done_and_still_asked() -> None:
    summary = Summarizer().summarise("Grace", CONVERSATION, "en")
    assert [p.message_ids for p in summary.wants] == [("m1",), ("m1",)]
    assert all(p.text in CONVERSATION[0].text for p in summary.wants)
    assert summary.done == (
        Point("I checked with the courier and they lost the parcel.", ("m2",)),
        Point("I will send a replacement today.", ("m3",)),
        Point("I have refunded the shipping cost to your card.", ("m5",)),
    )
    # Only what was asked after the last answer is still open: m4's question was answered by m5.
    assert summary.open_questions == (
        Point("When will the replacement arrive?", ("m6",)),
        Point("And do I return the first one if it shows up?", ("m6",)),
    )
    assert summary.sources == ("m1", "m2", "m3", "m5", "m6")
    note = summary.as_note("transferred to bob")
    assert note.splitlines()[:3] == ["Summary for the next agent (transferred to bob)", "Who: Grace", "Wants:"]
    assert "Open questions:\n- When will the replacement arrive?" in note


def test_a_conversation_that_just_began_says_so() -> None:
    summary = Summarizer().summarise("Grace", [Said("m1", True, "Where is my parcel?")], "en")
    assert summary.wants == (Point("Where is my parcel?", ("m1",)),)
    assert summary.open_questions == (Point("Where is my parcel?", ("m1",)),)
    assert "Tried or promised: nothing yet" in summary.as_note("reopened")


def test_the_customer_is_read_in_the_language_agents_read_them_in() -> None:
    def message(mid: str, direction: Direction, text: str, agent_id: str = "", **extra: object) -> StoredMessage:
        return StoredMessage(mid, "c", "cu", direction, "sms", agent_id, text, 1, 1, 1, **extra)  # type: ignore[arg-type]

    items = [
        message("m1", Direction.INBOUND, "¿Dónde está mi pedido?", translations=(("en", "Where is my order?"),)),
        message("n1", Direction.INTERNAL, "a private note", kind=ItemKind.NOTE),
        message("m2", Direction.OUTBOUND, "It ships today."),
        message("q1", Direction.OUTBOUND, "You are number 2 in the queue.", agent_id="system"),
    ]
    assert reading_language(items) == "en"
    assert said_in(items, "en") == [Said("m1", True, "Where is my order?"), Said("m2", False, "It ships today.")]
    assert said_in(items, "")[0].text == "¿Dónde está mi pedido?"


def test_who_the_customer_is_at_a_glance() -> None:
    conversation = Conversation(
        "c", "cu", ConversationStatus.OPEN, "sms", "main", "", 1, 1, 1, mood=Mood(-0.7, "worsening", -0.9, -0.9, 2)
    )
    facts = CustomerFacts(
        "cu", "Grace", (ContactPoint(2, "+14155550100"),), 0, 0, ("sms", "email"), 3, "c", "ada", (("tier", "vip"),)
    )
    assert who_line(conversation, facts, 120 * DAY_US) == (
        "Grace · phone +14155550100 · customer for 120 days, 3 conversations · on sms, email · tier: vip · "
        "mood very negative, worsening"
    )


def test_what_the_customer_said_last_is_always_in_what_they_want() -> None:
    again = [*CONVERSATION, Said("m7", True, "Hello again. It still has not arrived, and nobody wrote to me.")]
    summary = Summarizer().summarise("Grace", again, "en")
    assert summary.wants[-1] == Point("It still has not arrived, and nobody wrote to me.", ("m7",))
    # A question said last is already there, among the open questions.
    assert Summarizer().summarise("Grace", CONVERSATION, "en").wants[-1].message_ids == ("m1",)


def test_a_bots_transcript_is_read_ahead_of_the_thread() -> None:
    transcript = (
        "Bot: Hi! How can I help?\nCustomer: I was charged twice for order 4411.\n(typing)\n"
        "Bot: I have opened a refund request."
    )
    said = transcript_said(transcript, "n1")
    assert said == [
        Said("n1", False, "Hi! How can I help?"),
        Said("n1", True, "I was charged twice for order 4411."),
        Said("n1", False, "I have opened a refund request."),
    ]
    summary = Summarizer().summarise("Grace", [*said, Said("m1", True, "Is it done yet?")], "en")
    assert summary.wants[0] == Point("I was charged twice for order 4411.", ("n1",))
    assert summary.done == (Point("I have opened a refund request.", ("n1",)),)
    assert summary.open_questions == (Point("Is it done yet?", ("m1",)),)
