"""The planners, pure: what each decision writes, and the timeline texts it writes with it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from inbox_threading.changes import ConversationPatch, CustomerRecord, ItemPatch, ReplySource
from inbox_threading.domain import (
    DAY_US,
    ContactPoint,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    FailedPrecondition,
    InvalidInput,
    ItemKind,
    Mood,
    NewInboundMessage,
    NotFound,
    StoredMessage,
    ThreadPolicy,
    delivery_moves_on,
    rolled_mood,
)
from inbox_threading.plans import (
    answered,
    conversation_id_for,
    plan_delivery,
    plan_inbound,
    plan_sentiment,
    plan_status,
    reference_candidates,
    refuse_opted_out,
    reply_route,
)

SMS, VOICE, EMAIL = "sms", "voice", "email"
PHONE = ContactPoint(2, "+14155550100")


def message(channel: str = SMS, kind: int = ItemKind.TEXT) -> NewInboundMessage:
    return NewInboundMessage("m1", channel, "main", "SM1", PHONE, "Grace", "hi", 100, 101, kind=kind)


def conversation(status: ConversationStatus, channel: str = SMS, resolved_at: int = 0) -> Conversation:
    return Conversation(
        "conv-1", "c1", status, channel, "main", "ada", 1, 50, 1, resolved_at_us=resolved_at, team="tier1"
    )


def customer(version: int = 3, active: str = "conv-1") -> CustomerRecord:
    return CustomerRecord("c1", "", 1, version, active)


def plan(**kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "customer": customer(),
        "active": None,
        "latest_resolved": None,
        "referenced": None,
        "policy": ThreadPolicy(reopen_window_us=DAY_US, team="tier2"),
        "now_us": 1_000,
        **kw,
    }
    return plan_inbound(message(), **args)  # type: ignore[arg-type]


def test_a_first_message_opens_a_conversation_under_a_derived_id_and_claims_the_customer() -> None:
    planned = plan(customer=CustomerRecord("new", "Grace", 1_000, 0, ""))
    assert planned.opened and planned.conversation_id == conversation_id_for("m1")
    guard = planned.change.guard
    assert guard is not None and (guard.version, guard.active_conversation_id, guard.contact) == (
        0,
        planned.conversation_id,
        PHONE,
    )
    [opened] = planned.change.conversations
    assert (opened.team, opened.channel) == ("tier2", SMS)
    assert planned.message.provider_key == "sms:SM1"


def test_an_interrupted_open_is_finished_under_the_id_the_customer_points_to() -> None:
    planned = plan(customer=customer(active="half-written"))
    assert planned.opened and planned.conversation_id == "half-written"


def test_a_message_continuing_a_pending_conversation_opens_it_and_notes_a_channel_switch() -> None:
    planned = plan(active=conversation(ConversationStatus.PENDING, channel=EMAIL))
    assert not planned.opened and planned.conversation_id == "conv-1"
    assert planned.change.patches == (
        ConversationPatch("conv-1", status=ConversationStatus.OPEN, snoozed_until_us=0),
        # The list shows the new message; the customer waits from it (nobody answered the last one).
        ConversationPatch(
            "conv-1", preview="hi", preview_direction=Direction.INBOUND, waiting_since_us=100, unanswered_count=1
        ),
    )
    assert [a.text for a in planned.activities] == ["Continued by SMS"]
    guard = planned.change.guard
    assert guard is not None and (guard.version, guard.active_conversation_id) == (3, None)


def test_a_resolved_conversation_reopens_within_the_window_then_a_new_one_links_back() -> None:
    resolved = conversation(ConversationStatus.RESOLVED, resolved_at=500)
    reopened = plan(customer=customer(active=""), latest_resolved=resolved)
    assert reopened.reopened and reopened.previous_agent_id == "ada"
    assert [a.text for a in reopened.activities] == ["Reopened: the customer wrote again"]
    assert reopened.change.guard is not None and reopened.change.guard.active_conversation_id == "conv-1"
    later = plan(customer=customer(active=""), latest_resolved=resolved, now_us=500 + 2 * DAY_US)
    assert later.opened and later.change.conversations[0].previous_conversation_id == "conv-1"


def test_status_changes_guard_the_one_active_conversation() -> None:
    active = conversation(ConversationStatus.OPEN)
    resolve = plan_status(
        active,
        customer(),
        ConversationStatus.RESOLVED,
        0,
        actor="ada",
        text="Resolved by ada",
        activity_id="a",
        now_us=9,
    )
    assert resolve is not None and resolve.guard is not None and resolve.guard.active_conversation_id == ""
    assert resolve.patches[0].resolved_at_us == 9 and resolve.items[0].text == "Resolved by ada"
    assert (
        plan_status(active, customer(), ConversationStatus.OPEN, 0, actor="a", text="", activity_id="", now_us=9)
        is None
    )
    with pytest.raises(FailedPrecondition, match="already has an active conversation"):
        plan_status(
            conversation(ConversationStatus.RESOLVED),
            customer(active="conv-2"),
            ConversationStatus.OPEN,
            0,
            actor="ada",
            text="Opened",
            activity_id="a",
            now_us=9,
        )


def test_replies_go_where_the_customer_last_wrote_or_to_their_contact_for_a_chosen_channel() -> None:
    active = conversation(ConversationStatus.OPEN)
    source = ReplySource("m1", SMS, "support", PHONE)
    route = reply_route(active, 0, source, None)
    assert (route.channel, route.inbox_id, route.recipient, route.in_reply_to_message_id) == (
        SMS,
        "support",
        PHONE,
        "m1",
    )
    by_email = reply_route(active, EMAIL, None, "grace@example.org")
    assert (by_email.channel, by_email.recipient) == (EMAIL, ContactPoint(1, "grace@example.org"))
    with pytest.raises(FailedPrecondition, match="no email contact"):
        reply_route(active, EMAIL, None, None)
    with pytest.raises(NotFound):
        reply_route(active, 0, None, None)
    with pytest.raises(FailedPrecondition, match="opted out of SMS"):
        refuse_opted_out(route, True)


def test_email_references_try_the_full_id_then_ours_without_the_domain() -> None:
    assert reference_candidates(("a@x", "b")) == ("a@x", "a", "b")


def test_identity_claims_link_adopt_merge_or_suggest() -> None:
    from inbox_threading.plans import plan_identity

    email = ContactPoint(1, "grace@example.org")
    new, known = CustomerRecord("new", "", 1, 0, ""), CustomerRecord("old", "Grace", 0, 4, "conv-9")
    me = CustomerRecord("me", "", 1, 2, "conv-1")
    linked = plan_identity(me, email, None, verified=True, sender=PHONE, message_id="m1", now_us=5)
    assert linked.change.contact_links == ((email, "me", 5),) and [a.action for a in linked.change.audit] == [
        "contact_linked"
    ]
    assert plan_identity(me, email, None, verified=False, sender=PHONE, message_id="m1", now_us=5).change == (
        plan_identity(me, email, me, verified=True, sender=PHONE, message_id="m1", now_us=5).change
    )  # an unverified claim of nobody's contact, or one's own: nothing
    adopted = plan_identity(new, email, known, verified=True, sender=PHONE, message_id="m1", now_us=5)
    assert adopted.adopt_owner and adopted.change.contact_links == ((PHONE, "old", 5),)
    assert plan_identity(me, email, known, verified=True, sender=PHONE, message_id="m1", now_us=5).merge_with_owner
    suggested = plan_identity(me, email, known, verified=False, sender=PHONE, message_id="m1", now_us=5)
    [suggestion] = suggested.change.suggestions
    assert (suggestion.customer_id, suggestion.other_customer_id, suggestion.status) == ("me", "old", "pending")
    assert not suggested.change.contact_links  # a claim never hands over the contact point


def test_tags_participants_and_assignments_write_a_line_only_when_something_changes() -> None:
    from inbox_threading.plans import plan_assignment, plan_participant, plan_tags

    current = conversation(ConversationStatus.OPEN)
    tagged = plan_tags(current, ("vip", "billing"), (), actor="ada", activity_id="a", now_us=1)
    assert tagged is not None and tagged.items[0].text == "Tags added vip, billing by ada"
    assert plan_tags(current, (), ("vip",), actor="ada", activity_id="a", now_us=1) is None
    with pytest.raises(InvalidInput, match="at most 20 tags"):
        plan_tags(current, tuple(f"t{i}" for i in range(21)), (), actor="ada", activity_id="a", now_us=1)
    joined = plan_participant(current, "bob", actor="ada", activity_id="a", now_us=1)
    assert joined is not None and joined.items[0].text == "bob joined, added by ada"
    assert plan_assignment(current, "ada", activity_id="a", now_us=1) is None  # already hers
    back = plan_assignment(current, "", activity_id="a", now_us=1)
    assert back is not None and back.items[0].text == "Back in the queue"


def test_a_snooze_ends_once_and_a_confident_language_travels_to_the_conversation() -> None:
    from inbox_threading.domain import Direction, StoredMessage
    from inbox_threading.plans import plan_language, plan_wake

    snoozed = Conversation("conv-1", "c1", ConversationStatus.SNOOZED, "sms", "main", "", 1, 2, 1, snoozed_until_us=50)
    first, first_id = plan_wake(snoozed, customer(), now_us=60)
    _, again_id = plan_wake(snoozed, customer(), now_us=61)
    assert first_id == again_id and first.items[0].text == "Snooze ended"
    item = StoredMessage("m1", "conv-1", "c1", Direction.INBOUND, 3, "", "hola", 1, 1, 1)
    confident = plan_language(item, "es", fallback=False)
    assert confident is not None
    assert confident.patches[0].language == "es" and confident.customer_patches[0].language == "es"
    guessed = plan_language(item, "es", fallback=True)
    assert guessed is not None
    assert guessed.item_patches[0].language == "es" and not guessed.patches and not guessed.customer_patches
    assert plan_language(item, "", fallback=True) is None  # nothing known, nothing guessed: nothing to write


def test_a_sure_first_guess_is_the_messages_and_fills_in_an_unknown_conversation_or_customer_language() -> None:
    opened = plan(language="es")
    assert [p.language for p in opened.change.item_patches] == ["es"]
    assert [p.language for p in opened.change.patches if p.language] == ["es"]
    assert [p.language for p in opened.change.customer_patches if p.language] == ["es"]
    # Known languages (confirmed by translation's detection) are not overridden by a guess.
    known = replace(conversation(ConversationStatus.OPEN), language="en")
    continued = plan(language="es", active=known, customer=replace(customer(), language="en"))
    assert [p.language for p in continued.change.item_patches] == ["es"]
    assert not [p for p in (*continued.change.patches, *continued.change.customer_patches) if p.language]
    unsure = plan()
    assert not unsure.change.item_patches and not [p for p in unsure.change.patches if p.language]


def test_a_detection_that_corrects_the_guess_takes_it_back_where_it_spread() -> None:
    from inbox_threading.plans import plan_language

    guessed = StoredMessage("m1", "conv-1", "c1", Direction.INBOUND, 3, "", "Where is my order?", 1, 1, 1)
    guessed = replace(guessed, language="de")
    sure = plan_language(guessed, "en", fallback=False)
    assert sure is not None and sure.patches[0].language == "en" and sure.customer_patches[0].language == "en"
    # The careful detection cannot tell: the customer's known language, where the guess had spread.
    unsure = plan_language(guessed, "fr", fallback=True, conversation_language="de", customer_language="fr")
    assert unsure is not None and unsure.item_patches[0].language == "fr"
    assert [p.language for p in unsure.patches] == ["fr"] and not unsure.customer_patches
    withdrawn = plan_language(guessed, "", fallback=True, conversation_language="de", customer_language="de")
    assert withdrawn is not None and withdrawn.item_patches[0].language == ""
    assert withdrawn.patches[0].language == "" and withdrawn.customer_patches[0].language == ""


def test_unanswered_messages_count_up_until_an_agent_answers() -> None:
    waiting = replace(conversation(ConversationStatus.OPEN), waiting_since_us=90, unanswered_count=2)
    third = plan(active=waiting).change.patches[-1]
    assert (third.waiting_since_us, third.unanswered_count) == (90, 3)
    answered_patch = answered("conv-1", "On it", "r1")
    assert (answered_patch.unanswered_count, answered_patch.waiting_since_us) == (0, 0)
    assert (answered_patch.last_outbound_id, answered_patch.last_delivery_status) == ("r1", DeliveryStatus.UNSPECIFIED)
    # After an answer the count starts again from the customer's next message.
    assert plan(active=conversation(ConversationStatus.OPEN)).change.patches[-1].unanswered_count == 1


def test_the_first_emails_subject_is_the_conversations() -> None:
    mail = replace(message(channel=EMAIL), metadata=(("subject", "  Order 4411 is late "),))
    policy = ThreadPolicy(reopen_window_us=DAY_US)
    opened = plan_inbound(
        mail, customer=customer(), active=None, latest_resolved=None, referenced=None, policy=policy, now_us=1_000
    )
    assert opened.change.patches[-1].subject == "Order 4411 is late"
    titled = replace(conversation(ConversationStatus.OPEN, channel=EMAIL), subject="Order 4411 is late")
    later = replace(mail, metadata=(("subject", "Re: anything else"),))
    continued = plan_inbound(
        later, customer=customer(), active=titled, latest_resolved=None, referenced=None, policy=policy, now_us=1_000
    )
    assert continued.change.patches[-1].subject is None
    assert plan().change.patches[-1].subject is None  # an SMS has no subject


def test_a_delivery_report_never_takes_a_message_back_but_a_bounce_after_delivery_counts() -> None:
    queued, sent, delivered, read, failed = (
        DeliveryStatus.QUEUED,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.READ,
        DeliveryStatus.FAILED,
    )
    assert delivery_moves_on(0, queued) and delivery_moves_on(queued, delivered) and delivery_moves_on(delivered, read)
    assert not delivery_moves_on(delivered, sent) and not delivery_moves_on(read, delivered)
    assert delivery_moves_on(delivered, failed) and delivery_moves_on(failed, delivered)
    assert not delivery_moves_on(sent, sent) and not delivery_moves_on(sent, 0) and not delivery_moves_on(sent, 99)


def test_a_delivery_report_is_the_conversations_only_for_its_latest_message_sent() -> None:
    reply = StoredMessage("r1", "conv-1", "c1", Direction.OUTBOUND, SMS, "ada", "On it", 1, 1, 2)
    latest = replace(conversation(ConversationStatus.OPEN), last_outbound_id="r1")
    change = plan_delivery(reply, latest, DeliveryStatus.DELIVERED, "")
    assert change is not None
    assert change.patches == (ConversationPatch("conv-1", last_delivery_status=DeliveryStatus.DELIVERED),)
    (patch,) = change.item_patches
    assert patch.message_id == "r1" and patch.delivery is not None
    status, detail, replaces = patch.delivery
    assert (status, detail) == (DeliveryStatus.DELIVERED, "")
    assert set(replaces) == {0, DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.FAILED}
    older = replace(latest, last_outbound_id="r2")
    assert plan_delivery(reply, older, DeliveryStatus.DELIVERED, "").patches == ()  # type: ignore[union-attr]
    assert plan_delivery(replace(reply, delivery_status=DeliveryStatus.READ), latest, DeliveryStatus.SENT, "") is None
    inbound = replace(reply, direction=Direction.INBOUND)
    assert plan_delivery(inbound, latest, DeliveryStatus.DELIVERED, "") is None
    assert isinstance(patch, ItemPatch)


def test_the_mood_follows_recent_messages_and_says_where_it_is_going() -> None:
    first = rolled_mood(None, -0.8)
    assert first == Mood(-0.8, "steady", -0.8, -0.8, 1)
    better = rolled_mood(first, 0.4)
    assert (better.score, better.trend, better.latest_score, better.lowest_score) == (-0.2, "improving", 0.4, -0.8)
    worse = rolled_mood(better, -0.9)
    assert (worse.score, worse.trend, worse.scored_messages) == (-0.55, "worsening", 3)
    assert rolled_mood(worse, -0.5).trend == "steady"
    # A message read again (from its translation) replaces its score: it is not counted twice.
    assert rolled_mood(worse, -0.3, replaces=True).scored_messages == 3


def test_a_message_scored_as_stored_keeps_its_score_and_rolls_the_mood() -> None:
    active = replace(conversation(ConversationStatus.OPEN), mood=Mood(0.5, "steady", 0.5, 0.5, 1))
    planned = plan(active=active, sentiment=-0.7, language="en")
    [patch] = [p for p in planned.change.patches if p.mood is not None]
    assert patch.mood == Mood(-0.1, "worsening", -0.7, -0.7, 2)
    assert planned.change.item_patches == (ItemPatch("m1", language="en", sentiment=(-0.7, "")),)
    # Unscored (another language, left to translation): nothing about sentiment is written.
    unscored = plan(active=active, language="es")
    assert all(p.mood is None for p in unscored.change.patches)
    assert unscored.change.item_patches == (ItemPatch("m1", language="es"),)


def test_a_late_score_is_kept_once_and_replaces_a_score_read_before_translation() -> None:
    active = conversation(ConversationStatus.OPEN)
    item = StoredMessage("m1", "conv-1", "c1", Direction.INBOUND, SMS, "", "estoy furioso", 1, 1, 1)
    change = plan_sentiment(item, active, -0.6, "es")
    assert change is not None
    assert change.item_patches == (ItemPatch("m1", sentiment=(-0.6, "es")),)
    assert change.patches == (ConversationPatch("conv-1", mood=Mood(-0.6, "steady", -0.6, -0.6, 1)),)
    written = replace(item, sentiment=-0.6, sentiment_translated_from="es")
    assert plan_sentiment(written, replace(active, mood=change.patches[0].mood), -0.6, "es") is None
    misread = replace(item, sentiment=0.0)  # stored as English, read as neutral
    rescored = plan_sentiment(misread, replace(active, mood=Mood(0.0, "steady", 0.0, 0.0, 1)), -0.6, "es")
    assert rescored is not None and rescored.patches[0].mood == Mood(-0.3, "worsening", -0.6, -0.6, 1)
