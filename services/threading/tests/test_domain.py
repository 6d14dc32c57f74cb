import pytest
from inbox_runtime.errors import InvalidInput
from inbox_threading.domain import (
    DAY_US,
    PREDECESSOR_WAITS_SECONDS,
    ContactPoint,
    Conversation,
    ConversationStatus,
    NewInboundMessage,
    ThreadAction,
    ThreadDecision,
    ThreadPolicy,
    continued_by,
    decide_thread,
    normalise_tags,
    predecessor_wait,
    reply_message_id,
    status_change,
    validate_reply,
)

NOW = 100 * DAY_US
POLICY = ThreadPolicy(reopen_window_us=7 * DAY_US)


def conversation(conversation_id: str, status: ConversationStatus, resolved_days_ago: float = 0) -> Conversation:
    resolved_at = int(NOW - resolved_days_ago * DAY_US) if status == ConversationStatus.RESOLVED else 0
    return Conversation(conversation_id, "cust", status, 1, "chat", "", 0, resolved_at, 1, resolved_at_us=resolved_at)


def decide(active=None, latest_resolved=None, referenced=None) -> ThreadDecision:  # type: ignore[no-untyped-def]
    return decide_thread(
        active=active, latest_resolved=latest_resolved, referenced=referenced, now_us=NOW, policy=POLICY
    )


def test_an_active_conversation_continues_whatever_its_status() -> None:
    for status in (ConversationStatus.OPEN, ConversationStatus.PENDING, ConversationStatus.SNOOZED):
        assert decide(active=conversation("c1", status)) == ThreadDecision(ThreadAction.CONTINUE, "c1")


def test_a_resolved_conversation_reopens_within_the_window_only() -> None:
    recent = conversation("old", ConversationStatus.RESOLVED, resolved_days_ago=6.9)
    assert decide(latest_resolved=recent) == ThreadDecision(ThreadAction.REOPEN, "old")
    stale = conversation("old", ConversationStatus.RESOLVED, resolved_days_ago=7.1)
    assert decide(latest_resolved=stale) == ThreadDecision(ThreadAction.OPEN_NEW, None, "old")
    assert decide() == ThreadDecision(ThreadAction.OPEN_NEW, None)


def test_a_reply_to_one_of_our_emails_goes_to_that_conversation() -> None:
    active = conversation("active", ConversationStatus.OPEN)
    replied = conversation("replied", ConversationStatus.PENDING)
    assert decide(active=active, referenced=replied).conversation_id == "replied"
    # ...but never makes a second active conversation: a resolved one yields to the active one.
    resolved = conversation("replied", ConversationStatus.RESOLVED, resolved_days_ago=1)
    assert decide(active=active, referenced=resolved) == ThreadDecision(ThreadAction.CONTINUE, "active")
    latest = conversation("latest", ConversationStatus.RESOLVED, resolved_days_ago=1)
    assert decide(latest_resolved=latest, referenced=resolved) == ThreadDecision(ThreadAction.REOPEN, "replied")


def test_the_timeline_says_when_the_customer_switches_channel() -> None:
    assert continued_by("chat", "sms") == "Continued by SMS"
    assert continued_by("sms", "email") == "Continued by email"
    assert continued_by("sms", "sms") is None
    assert continued_by("sms", "telegram") == "Continued by telegram"  # an added channel goes by its name


def test_snoozing_needs_a_time_in_the_future() -> None:
    open_one = conversation("c1", ConversationStatus.OPEN)
    assert status_change(open_one, 3, NOW + 1, NOW) == (ConversationStatus.SNOOZED, NOW + 1)
    assert status_change(open_one, 4, NOW + 1, NOW) == (ConversationStatus.RESOLVED, 0)
    with pytest.raises(InvalidInput, match="future"):
        status_change(open_one, 3, NOW, NOW)
    with pytest.raises(InvalidInput):
        status_change(open_one, 9, 0, NOW)


def test_tags_are_normalised_and_checked() -> None:
    assert normalise_tags([" VIP ", "billing", "vip"]) == ("vip", "billing")
    with pytest.raises(InvalidInput):
        normalise_tags(["<script>"])


def test_reply_ids_are_stable_per_conversation_and_client_id() -> None:
    assert reply_message_id("c1", "r1") == reply_message_id("c1", "r1")
    assert reply_message_id("c1", "r1") != reply_message_id("c2", "r1")


def test_reply_text_is_trimmed() -> None:
    assert validate_reply("c1", "a1", "  hi  ", "r1") == "hi"


@pytest.mark.parametrize(
    ("conversation_id", "agent_id", "text", "client_reply_id", "complaint"),
    [
        ("", "a", "hi", "r", "conversation_id"),
        ("c", "", "hi", "r", "agent_id"),
        ("c", "a", "   ", "r", "empty"),
        ("c", "a", "x" * 10_001, "r", "longer"),
        ("c", "a", "hi", "", "client_reply_id"),
    ],
)
def test_bad_replies_say_what_is_wrong(
    conversation_id: str, agent_id: str, text: str, client_reply_id: str, complaint: str
) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        validate_reply(conversation_id, agent_id, text, client_reply_id)


def test_search_words_are_folded_and_operators_are_plain_words() -> None:
    from inbox_threading.domain import index_terms, search_terms

    assert search_terms("Parcel  LATE") == ("parcel", "late")
    assert search_terms('x" OR body:secret NEAR(') == ("x", "or", "body", "secret", "near")
    assert search_terms("Café crème") == ("cafe", "creme")
    assert index_terms("The parcel, the PARCEL!") == ("the", "parcel")
    assert len(index_terms(" ".join(f"w{i}" for i in range(10_000)))) == 2000  # a huge mail stays indexable
    with pytest.raises(InvalidInput):
        search_terms("  ")
    with pytest.raises(InvalidInput):
        search_terms('" * ()')


def test_identity_rules() -> None:
    from inbox_threading.domain import IdentityAction, decide_identity, identity_claim, surviving_customer

    assert decide_identity("me", None, verified=True) is IdentityAction.LINK
    assert decide_identity("me", None, verified=False) is IdentityAction.NOTHING
    assert decide_identity("me", "me", verified=True) is IdentityAction.NOTHING
    assert decide_identity("me", "other", verified=True) is IdentityAction.MERGE
    assert decide_identity("me", "other", verified=False) is IdentityAction.SUGGEST
    assert surviving_customer(("new", 20), ("old", 10)) == ("old", "new")
    claim = identity_claim(
        (("identity_email", " Grace@Example.org"), ("identity_user_id", "u1"), ("identity_verified", "true"))
    )
    assert claim is not None and claim.verified and [c.value for c in claim.contacts] == ["grace@example.org", "u1"]
    assert identity_claim(()) is None


def test_inbox_policies_from_settings() -> None:
    from inbox_runtime.config import ConfigError
    from inbox_threading.config import inbox_policies

    policies = inbox_policies(POLICY, ("sales=3",), ("sales=tier2", "support=tier1"))
    assert policies.for_inbox("sales") == ThreadPolicy(3 * DAY_US, "tier2")
    assert policies.for_inbox("support") == ThreadPolicy(7 * DAY_US, "tier1")
    assert policies.for_inbox("other") == POLICY
    with pytest.raises(ConfigError):
        inbox_policies(POLICY, ("sales",), ())
    with pytest.raises(ConfigError):
        inbox_policies(POLICY, ("sales=soon",), ())


def test_queue_notices() -> None:
    from inbox_threading.domain import queue_notice

    assert (
        queue_notice(1, 0) == "Thanks for waiting. You are next in line; an agent will be with you as soon as possible."
    )
    assert (
        queue_notice(4, 70)
        == "Thanks for waiting. You are number 4 in line; an agent should be with you in about 1 minute."
    )
    assert queue_notice(9, 600).endswith("in about 10 minutes.")


def test_a_customer_is_called_by_name_else_by_their_first_contact_point() -> None:
    from inbox_threading.domain import ContactPoint, customer_label

    assert customer_label("Grace", ContactPoint(2, "+1555")) == "Grace"
    assert customer_label("", ContactPoint(2, "+1555")) == "+1555"
    assert customer_label("", ContactPoint(3, "a1b2c3d4e5f6")) == "Visitor a1b2c3"
    assert customer_label("", None) == ""


def inbound(previous_message_id: str) -> NewInboundMessage:
    sender = ContactPoint(2, "+14155550100")
    return NewInboundMessage(
        "m2", "sms", "support", "SM2", sender, "", "hi", 1, 1, previous_message_id=previous_message_id
    )


def test_an_item_waits_for_its_senders_previous_one_a_bounded_number_of_times() -> None:
    waits = [predecessor_wait(inbound("m1"), False, deliveries) for deliveries in (1, 2, 3)]
    assert waits == list(PREDECESSOR_WAITS_SECONDS)
    # A killed replica's item comes back within the inbound consumer's ack_wait: the waits outlast it.
    assert sum(waits) >= 2 * 5.0  # type: ignore[arg-type]
    assert predecessor_wait(inbound("m1"), False, len(PREDECESSOR_WAITS_SECONDS) + 1) is None
    assert predecessor_wait(inbound("m1"), True, 1) is None
    assert predecessor_wait(inbound(""), False, 1) is None
