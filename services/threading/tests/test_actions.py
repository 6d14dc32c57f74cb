"""The use cases over every store (SQLite and MongoDB), a real nats-server and an injected clock:
threading, identity, replies, lifecycle, timeline, search, export and erasure."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import nats
import nats.aio.msg
import pytest
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.events.v1 import envelope_pb2
from inbox_devstack.clock import Clock
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.waiting import eventually
from inbox_events import EventBus
from inbox_language import DEFAULT_LANGUAGES, DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_MARGIN, Detector
from inbox_runtime.errors import FailedPrecondition, InvalidInput, NotFound
from inbox_threading.actions import ThreadingActions
from inbox_threading.changes import ConversationQuery, CustomerGuard, NewConversation, ThreadChange
from inbox_threading.domain import (
    DAY_US,
    ContactPoint,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    InboundOutcome,
    ItemKind,
    NewInboundMessage,
    NewProactiveMessage,
    StoredMessage,
    ThreadPolicies,
    ThreadPolicy,
    Viewer,
)
from inbox_threading.plans import conversation_id_for
from inbox_threading.protos import message_to_proto
from inbox_threading.store import ConversationStore

from .conftest import OpenStore, World

RESOLVED, OPEN, PENDING, SNOOZED = (
    ConversationStatus.RESOLVED,
    ConversationStatus.OPEN,
    ConversationStatus.PENDING,
    ConversationStatus.SNOOZED,
)
CHAT, EMAIL, SMS, VOICE = "chat", "email", "sms", "voice"
EMAIL_KIND, PHONE, VISITOR = 1, 2, 3
KIND_OF = {CHAT: VISITOR, SMS: PHONE, EMAIL: EMAIL_KIND}


def inbound(
    message_id: str,
    provider_id: str = "",
    sender: str = "visitor-1",
    channel: str = CHAT,
    sent_at: int = 1,
    metadata: tuple[tuple[str, str], ...] = (),
) -> NewInboundMessage:
    return NewInboundMessage(
        message_id=message_id,
        channel=channel,
        inbox_id="main",
        provider_message_id=provider_id or message_id,
        sender=ContactPoint(KIND_OF[channel], sender),
        sender_name="Grace",
        text=f"text of {message_id}",
        sent_at_us=sent_at,
        received_at_us=sent_at + 1,
        metadata=metadata,
    )


async def search(world: World, text: str, viewer: Viewer) -> list[StoredMessage]:
    found, _ = await world.actions.search(text, viewer, 10, "")
    return found


async def record(world: World, message: NewInboundMessage, now: int = 10) -> InboundOutcome:
    return await world.at(now).record_inbound(message)


async def test_first_message_opens_a_conversation_and_later_ones_continue_it(world: World) -> None:
    first = await record(world, inbound("m1"), now=10)
    second = await record(world, inbound("m2"), now=20)
    assert first.opened and not second.opened
    assert second.conversation.conversation_id == first.conversation.conversation_id
    assert [second.message.sequence, second.conversation.message_count] == [2, 2]
    assert second.conversation.last_activity_at_us == 20


async def test_a_redelivered_message_changes_nothing(world: World) -> None:
    first = await record(world, inbound("m1", "provider-1"))
    again = await record(world, inbound("m1", "provider-1"), now=20)
    # Same provider id under another message id (a retry after our id scheme changed) is caught too.
    other_id = await record(world, inbound("m1-bis", "provider-1"), now=30)
    assert again.duplicate and other_id.duplicate
    assert again.message == first.message == other_id.message
    assert len(await world.store.list_messages(first.conversation.conversation_id, 10, 0)) == 1


async def test_customers_are_told_apart_by_contact_point(world: World) -> None:
    a = await record(world, inbound("m1", sender="visitor-a"))
    b = await record(world, inbound("m2", sender="visitor-b"))
    assert a.conversation.customer_id != b.conversation.customer_id


async def test_a_channel_switch_is_written_in_the_timeline(world: World) -> None:
    texted = await record(world, inbound("m1", sender="+14155550100", channel=SMS, sent_at=20), now=21)
    assert not texted.activities
    # The same number calls: same customer, same conversation, and the timeline says so.
    call = NewInboundMessage(
        message_id="v1",
        channel=VOICE,
        inbox_id="main",
        provider_message_id="CA1:voicemail",
        sender=ContactPoint(PHONE, "+14155550100"),
        sender_name="",
        text="Please call me back",
        sent_at_us=30,
        received_at_us=31,
        kind=ItemKind.VOICEMAIL,
    )
    voicemail = await record(world, call, now=31)
    assert voicemail.conversation.conversation_id == texted.conversation.conversation_id
    assert [a.text for a in voicemail.activities] == ["Continued by phone"]
    assert voicemail.conversation.channel == VOICE
    items = await world.store.list_messages(texted.conversation.conversation_id, 20, 0)
    assert [i.kind for i in items] == [ItemKind.TEXT, ItemKind.ACTIVITY, ItemKind.VOICEMAIL, ItemKind.NOTE]
    assert voicemail.conversation.message_count == 2
    # Whoever picks the call back up reads a summary first, quoting the messages it drew from.
    summary = items[-1]
    assert dict(summary.metadata)["summary"] == "continued by phone"
    assert dict(summary.metadata)["sources"] == "m1 v1"
    assert summary.text.startswith("Summary for the next agent (continued by phone)\nWho: Grace · phone +14155550100")
    assert "Wants:\n- text of m1\n- Please call me back\n" in summary.text
    # A redelivery of the call writes no second summary.
    await record(world, call, now=32)
    assert len(await world.store.list_messages(texted.conversation.conversation_id, 20, 0)) == 4


async def test_resolved_conversations_reopen_within_the_window_then_new_ones_link_back(
    world: World,
) -> None:
    first = await record(world, inbound("m1", sent_at=1), now=1)
    conversation_id = first.conversation.conversation_id
    await world.at(2).record_assignment(conversation_id, "ada", "a1")
    await world.at(3).set_status(conversation_id, ConversationStatus.RESOLVED, 0, "ada")
    reopened = await record(world, inbound("m2", sent_at=3 * DAY_US), now=3 * DAY_US)
    assert reopened.reopened and reopened.conversation.conversation_id == conversation_id
    assert reopened.previous_agent_id == "ada" and reopened.conversation.status == ConversationStatus.OPEN
    assert [a.text for a in reopened.activities] == ["Reopened: the customer wrote again"]
    await world.at(4 * DAY_US).set_status(conversation_id, ConversationStatus.RESOLVED, 0, "ada")
    later = await record(world, inbound("m3", sent_at=20 * DAY_US), now=20 * DAY_US)
    assert later.opened and later.conversation.conversation_id != conversation_id
    assert later.conversation.previous_conversation_id == conversation_id


async def test_an_email_answering_one_of_ours_goes_to_that_conversation(world: World) -> None:
    grace = "grace@example.org"
    first = await record(world, inbound("m1", sender=grace, channel=EMAIL, metadata=(("email_message_id", "a@x"),)))
    conversation_id = first.conversation.conversation_id
    reply = await world.at(5).send_reply(conversation_id, "ada", "Answer", "r1")
    await world.at(6).set_status(conversation_id, ConversationStatus.RESOLVED, 0, "ada")
    other = await record(world, inbound("m2", sender=grace, channel=EMAIL, sent_at=7), now=7)
    assert other.reopened  # the latest resolved conversation reopens within the window
    await world.at(8).set_status(conversation_id, ConversationStatus.RESOLVED, 0, "ada")
    # A new question in a fresh thread opens a new conversation after the window...
    fresh = await record(world, inbound("m3", sender=grace, channel=EMAIL, sent_at=9 * DAY_US), now=9 * DAY_US)
    assert fresh.opened
    await world.at(9 * DAY_US).set_status(fresh.conversation.conversation_id, ConversationStatus.PENDING, 0, "ada")
    # ...and an answer to our old reply names it: it joins the conversation it answers when that is active,
    # otherwise the customer's active one (never two active conversations).
    answer = await record(
        world,
        inbound(
            "m4",
            sender=grace,
            channel=EMAIL,
            sent_at=10 * DAY_US,
            metadata=(("in_reply_to", f"{reply.message_id}@inbox.example.com"),),
        ),
        now=10 * DAY_US,
    )
    assert answer.conversation.conversation_id == fresh.conversation.conversation_id


async def test_someone_else_naming_our_message_id_does_not_join_that_conversation(
    world: World,
) -> None:
    grace = await record(
        world, inbound("m1", sender="grace@example.org", channel=EMAIL, metadata=(("email_message_id", "g@x"),))
    )
    mallory = await record(
        world, inbound("m2", sender="mallory@example.org", channel=EMAIL, metadata=(("in_reply_to", "g@x"),))
    )
    assert mallory.conversation.conversation_id != grace.conversation.conversation_id


async def test_replies_go_back_where_the_customer_wrote_and_are_stored_once(world: World) -> None:
    first = await record(world, inbound("m1", sender="+14155550100", channel=SMS))
    conversation_id = first.conversation.conversation_id
    reply = await world.at(20).send_reply(conversation_id, "ada", "hi", "r1")
    assert reply.direction == Direction.OUTBOUND and reply.sequence == 2
    route = await world.store.item_route(reply.message_id)
    assert route is not None and (route.channel, route.recipient) == (SMS, ContactPoint(PHONE, "+14155550100"))
    again = await world.at(30).send_reply(conversation_id, "ada", "hi", "r1")
    assert again == reply
    assert len(await world.store.list_messages(conversation_id, 10, 0)) == 2
    with pytest.raises(NotFound):
        await world.at(30).send_reply("nope", "ada", "hi", "r1")


async def test_replies_on_another_channel_and_opt_outs(world: World) -> None:
    first = await record(world, inbound("m1", sender="+14155550100", channel=SMS))
    conversation_id = first.conversation.conversation_id
    with pytest.raises(FailedPrecondition, match="no email contact"):
        await world.at(20).send_reply(conversation_id, "ada", "hi", "r1", channel=EMAIL)
    await world.store.set_opt_out(SMS, ContactPoint(PHONE, "+14155550100"), True)
    with pytest.raises(FailedPrecondition, match="opted out of SMS"):
        await world.at(21).send_reply(conversation_id, "ada", "hi", "r2")
    await world.store.set_opt_out(SMS, ContactPoint(PHONE, "+14155550100"), False)
    sent = await world.at(22).send_reply(conversation_id, "ada", "hi", "r3")
    assert sent.channel == SMS


async def test_lifecycle_tags_notes_and_participants_are_timeline_entries(world: World) -> None:
    first = await record(world, inbound("m1"))
    conversation_id = first.conversation.conversation_id
    snoozed = await world.at(100).set_status(conversation_id, ConversationStatus.SNOOZED, 500, "ada")
    assert (snoozed.status, snoozed.snoozed_until_us) == (ConversationStatus.SNOOZED, 500)
    unchanged = await world.at(101).set_status(conversation_id, ConversationStatus.SNOOZED, 500, "ada")
    assert unchanged == snoozed
    assert await world.at(499).wake_snoozed() == 0
    assert await world.at(500).wake_snoozed() == 1
    assert await world.at(501).wake_snoozed() == 0  # woken once
    awake = await world.store.get_conversation(conversation_id)
    assert awake is not None and awake.status == ConversationStatus.OPEN
    tagged = await world.at(600).update_tags(conversation_id, ["vip", "billing"], [], "ada")
    assert tagged.tags == ("billing", "vip")
    untagged = await world.at(601).update_tags(conversation_id, [], ["vip"], "ada")
    assert untagged.tags == ("billing",)
    note = await world.at(700).add_note(conversation_id, "ada", "Customer is upset", "note-1")
    assert note.kind == ItemKind.NOTE and note.direction == Direction.INTERNAL
    assert await world.at(701).add_note(conversation_id, "ada", "Customer is upset", "note-1") == note
    with_bob = await world.at(800).add_participant(conversation_id, "bob", "ada")
    assert with_bob.participants == ("bob",)
    items = await world.store.list_messages(conversation_id, 50, 0)
    assert [i.text for i in items if i.kind == ItemKind.ACTIVITY] == [
        "Snoozed until 1970-01-01 00:00 UTC by ada",
        "Snooze ended",
        "Tags added vip, billing by ada",
        "Tags removed vip by ada",
        "bob joined, added by ada",
    ]
    timeline, _ = await world.store.timeline(first.conversation.customer_id, 50, "", exclude_notes=False)
    assert [i.kind for i in timeline].count(ItemKind.NOTE) == 1
    without_notes, _ = await world.store.timeline(first.conversation.customer_id, 50, "", exclude_notes=True)
    assert ItemKind.NOTE not in [i.kind for i in without_notes]
    assert (await world.store.get_conversation(conversation_id)).message_count == 1  # type: ignore[union-attr]


async def test_reopening_by_hand_never_makes_two_active_conversations(world: World) -> None:
    first = await record(world, inbound("m1", sent_at=1), now=1)
    await world.at(2).set_status(first.conversation.conversation_id, ConversationStatus.RESOLVED, 0, "ada")
    second = await record(world, inbound("m2", sent_at=30 * DAY_US), now=30 * DAY_US)
    assert second.opened
    with pytest.raises(FailedPrecondition, match="already has an active conversation"):
        await world.at(31 * DAY_US).set_status(first.conversation.conversation_id, ConversationStatus.OPEN, 0, "ada")


async def test_the_timeline_spans_conversations_in_provider_time_then_arrival(world: World) -> None:
    await record(world, inbound("late", sender="+1555", channel=SMS, sent_at=50), now=60)
    early = await record(world, inbound("early", sender="+1555", channel=SMS, sent_at=40), now=61)
    customer = early.conversation.customer_id
    await world.at(70).set_status(early.conversation.conversation_id, ConversationStatus.RESOLVED, 0, "ada")
    await record(world, inbound("next", sender="+1555", channel=SMS, sent_at=30 * DAY_US), now=30 * DAY_US)
    page, cursor = await world.store.timeline(customer, 2, "", exclude_notes=True)
    rest, end = await world.store.timeline(customer, 10, cursor, exclude_notes=True)
    texts = [i.text for i in [*page, *rest]]
    # Resolving asked how it went (by SMS, the channel the customer used).
    survey = "How did we do? Reply with a number from 1 (poor) to 5 (great), and a comment if you like."
    assert texts == ["text of early", "text of late", "Resolved by ada", survey, "text of next"]
    assert end == ""
    with pytest.raises(InvalidInput):
        await world.store.timeline(customer, 2, "garbage", exclude_notes=True)


async def test_the_profile_sums_up_the_customer(world: World) -> None:
    first = await record(world, inbound("m1", sender="+1555", channel=SMS, sent_at=DAY_US), now=DAY_US)
    await world.at(2 * DAY_US).send_reply(first.conversation.conversation_id, "ada", "hi", "r1")
    facts = await world.store.profile(first.conversation.customer_id)
    assert facts is not None
    assert (facts.display_name, facts.conversation_count, facts.last_agent_id) == ("Grace", 1, "ada")
    assert facts.channels_used == (SMS,) and facts.contact_points == (ContactPoint(PHONE, "+1555"),)
    assert facts.open_conversation_id == first.conversation.conversation_id
    assert facts.tenure_days(11 * DAY_US) == 10
    assert await world.store.profile("nobody") is None
    # Found by a contact point as well (what a channel knows of the customer); one way or the other.
    assert await world.actions.profile("", ContactPoint(PHONE, "+1555")) == facts
    with pytest.raises(NotFound):
        await world.actions.profile("", ContactPoint(PHONE, "+1999"))
    with pytest.raises(InvalidInput):
        await world.actions.profile(first.conversation.customer_id, ContactPoint(PHONE, "+1555"))


async def test_inbox_queries_filter_and_page_newest_first(world: World) -> None:
    ids = []
    for i in range(5):
        outcome = await record(world, inbound(f"m{i}", sender=f"v{i}"), now=100 + i)
        ids.append(outcome.conversation.conversation_id)
        await world.at(100 + i).record_assignment(
            outcome.conversation.conversation_id, "ada" if i % 2 == 0 else "bob", f"a{i}"
        )
    await world.at(200).update_tags(ids[2], list(("vip",)), list(()), "ada")
    mine = ConversationQuery(assignee_agent_id="ada", statuses=(ConversationStatus.OPEN,))
    page, cursor = await world.actions.list_conversations(mine, page_size=2)
    assert [c.conversation_id for c in page] == [ids[2], ids[4]]  # the tag change is newest activity
    rest, end = await world.actions.list_conversations(replace(mine, cursor=cursor), page_size=2)
    assert [c.conversation_id for c in rest] == [ids[0]] and end == ""
    assert [c.conversation_id for c in (await world.actions.list_conversations(ConversationQuery(tag="VIP")))[0]] == [
        ids[2]
    ]
    assert (await world.actions.list_conversations(ConversationQuery(channels=(SMS,))))[0] == []
    with pytest.raises(InvalidInput):
        await world.actions.list_conversations(ConversationQuery(cursor="not-a-cursor"))


async def test_two_replicas_never_open_two_conversations_for_one_customer(world: World, open_store: OpenStore) -> None:
    """Two store instances on one database, as two replicas have; the customer's guard serialises them."""
    other = ThreadingActions(await open_store(), world.actions._bus, clock=world.clock)
    replicas = [world.actions, other]
    outcomes = await asyncio.gather(
        *(replicas[i % 2].record_inbound(inbound(f"m{i}", sender="same", sent_at=i)) for i in range(20))
    )
    assert len({o.conversation.conversation_id for o in outcomes}) == 1
    assert sum(o.opened for o in outcomes) == 1
    sequences = [m.sequence for m in await world.store.list_messages(outcomes[0].conversation.conversation_id, 50, 0)]
    assert len(sequences) == 20 and sequences == sorted(set(sequences))


async def test_a_proactive_message_opens_a_conversation_owned_by_its_sender(world: World) -> None:
    notice = NewProactiveMessage(
        "p1", SMS, "main", ContactPoint(PHONE, "+14155550100"), "ada", "Your refund is sent", 5
    )
    first = await world.at(10).record_proactive(notice)
    assert first.opened and first.conversation.assignee_agent_id == "ada"
    assert first.message.direction == Direction.OUTBOUND
    assert (await world.at(20).record_proactive(notice)).duplicate
    answer = await record(world, inbound("m1", sender="+14155550100", channel=SMS), now=30)
    assert answer.conversation.conversation_id == first.conversation.conversation_id
    assert answer.message.sequence == 2


async def test_an_integrations_proactive_message_leaves_the_answer_to_routing(world: World) -> None:
    notice = NewProactiveMessage(
        "p2", SMS, "main", ContactPoint(PHONE, "+14155550177"), "key:crm", "Your order has shipped", 5
    )
    first = await world.at(10).record_proactive(notice)
    # Nobody from an integration can answer: the conversation is resolved at once, owned by nobody...
    assert first.opened and first.conversation.status == ConversationStatus.RESOLVED
    assert first.conversation.assignee_agent_id == ""
    customer = await world.store.customer(first.conversation.customer_id)
    assert customer is not None and customer.active_conversation_id == ""
    # ...and the customer's answer reopens it, with the message in the thread, for routing to place.
    answer = await record(world, inbound("m2", sender="+14155550177", channel=SMS), now=30)
    assert answer.reopened and answer.conversation.conversation_id == first.conversation.conversation_id
    assert answer.message.sequence > 1


async def test_search_finds_words_in_what_the_viewer_may_see_only(world: World) -> None:

    ada = await record(
        world,
        NewInboundMessage(
            "m1", CHAT, "main", "m1", ContactPoint(VISITOR, "v1"), "", "Mon colis est arrivé cassé", 1, 2
        ),
        now=1,
    )
    bob = await record(world, inbound("m2", sender="v2"), now=2)
    await world.at(3).record_assignment(ada.conversation.conversation_id, "ada", "a1")
    await world.at(3).record_assignment(bob.conversation.conversation_id, "bob", "a2")
    note = await world.at(4).add_note(bob.conversation.conversation_id, "bob", "colis perdu, rembourser", "n1")
    everyone = await search(world, "colis", Viewer())
    assert [m.message_id for m in everyone] == [note.message_id, "m1"]  # newest first
    as_ada = await search(world, "colis", Viewer("ada"))
    assert [m.message_id for m in as_ada] == ["m1"]
    assert [m.text for m in await search(world, "arrive cass", Viewer("ada"))] == [
        "Mon colis est arrivé cassé"  # diacritics folded, last word as a prefix
    ]
    await world.at(5).add_participant(bob.conversation.conversation_id, "ada", "bob")
    assert len(await search(world, "colis", Viewer("ada"))) == 2
    assert await search(world, "colis", Viewer("carol", ("tier1",))) == []


async def test_erasure_leaves_nothing_findable_and_a_tombstone(world: World) -> None:
    first = await record(world, inbound("m1", sender="+1555", channel=SMS))
    customer = first.conversation.customer_id
    await world.at(5).add_note(first.conversation.conversation_id, "ada", "secret plan", "n1")
    await world.at(6).update_tags(first.conversation.conversation_id, list(("vip",)), list(()), "ada")
    await world.store.set_opt_out(SMS, ContactPoint(PHONE, "+1555"), True)
    receipt = await world.at(100).erase_customer(customer, "dpo", "customer request")
    assert receipt.conversation_ids == (first.conversation.conversation_id,)
    assert (receipt.items, receipt.contact_points) == (3, (ContactPoint(PHONE, "+1555"),))
    assert await world.store.profile(customer) is None
    assert await world.store.get_conversation(first.conversation.conversation_id) is None
    assert (await world.store.timeline(customer, 10, "", False))[0] == []
    assert await search(world, "secret", Viewer()) == []
    assert await search(world, "text", Viewer()) == []
    assert (await world.store.list_conversations(ConversationQuery(tag="vip")))[0] == []
    tombstone = await world.store.erasure(customer)
    assert tombstone == {
        "customer_id": customer,
        "erased_at_us": 100,
        "erased_by": "dpo",
        "reason": "customer request",
        "counts": {"contact_points": 1, "conversations": 1, "items": 3},
    }
    with pytest.raises(NotFound):
        await world.at(101).erase_customer(customer, "dpo", "again")
    # Writing again later makes a new customer with no past.
    again = await record(world, inbound("m9", sender="+1555", channel=SMS), now=200)
    assert again.conversation.customer_id != customer and again.opened


def chat_with_identity(message_id: str, visitor: str, email: str, verified: bool, sent_at: int) -> NewInboundMessage:
    meta = (("identity_email", email), ("identity_verified", "true" if verified else "false"))
    return NewInboundMessage(
        message_id,
        CHAT,
        "main",
        message_id,
        ContactPoint(VISITOR, visitor),
        "",
        "hello",
        sent_at,
        sent_at,
        metadata=meta,
    )


async def test_a_verified_identity_links_then_merges_records(world: World) -> None:
    by_email = await record(world, inbound("e1", sender="grace@example.org", channel=EMAIL, sent_at=1), now=1)
    email_customer = by_email.conversation.customer_id
    await world.at(2).set_status(by_email.conversation.conversation_id, ConversationStatus.RESOLVED, 0, "ada")
    chat = await record(world, chat_with_identity("c1", "visitor-9", "grace@example.org", True, 100), now=100)
    # The older record survives and now owns the visitor too; her email history is in the same timeline.
    assert chat.conversation.customer_id == email_customer
    assert [(m.surviving_customer_id, m.merged_customer_id != email_customer) for m in chat.merges] == [
        (email_customer, True)
    ]
    facts = await world.store.profile(email_customer)
    assert facts is not None and ContactPoint(VISITOR, "visitor-9") in facts.contact_points
    timeline, _ = await world.store.timeline(email_customer, 50, "", exclude_notes=True)
    assert {"e1", "c1"} <= {i.message_id for i in timeline}
    # A first verified identity with no other record just links the contact point.
    fresh = await record(world, chat_with_identity("c2", "visitor-10", "ada@example.net", True, 200), now=200)
    assert not fresh.merges
    facts = await world.store.profile(fresh.conversation.customer_id)
    assert facts is not None and ContactPoint(EMAIL_KIND, "ada@example.net") in facts.contact_points


async def test_an_unverified_claim_only_suggests_and_an_agent_decides(world: World) -> None:
    victim = await record(world, inbound("e1", sender="grace@example.org", channel=EMAIL, sent_at=1), now=1)
    claimer = await record(world, chat_with_identity("c1", "visitor-evil", "grace@example.org", False, 5), now=5)
    assert claimer.conversation.customer_id != victim.conversation.customer_id and not claimer.merges
    # The claim adds no contact point: mail to grace@ still lands on Grace alone.
    facts = await world.store.profile(claimer.conversation.customer_id)
    assert facts is not None and facts.contact_points == (ContactPoint(VISITOR, "visitor-evil"),)
    [suggestion] = await world.store.merge_suggestions("")
    assert (suggestion.customer_id, suggestion.other_customer_id, suggestion.status) == (
        claimer.conversation.customer_id,
        victim.conversation.customer_id,
        "pending",
    )
    await record(world, chat_with_identity("c2", "visitor-evil", "grace@example.org", False, 6), now=6)
    assert len(await world.store.merge_suggestions("")) == 1  # the same claim again is the same suggestion
    rejected, receipt = await world.at(10).decide_suggestion(suggestion.suggestion_id, False, "ada")
    assert rejected.status == "rejected" and rejected.decided_by == "ada" and receipt is None
    with pytest.raises(FailedPrecondition):
        await world.at(11).decide_suggestion(suggestion.suggestion_id, True, "ada")
    assert await world.store.merge_suggestions("") == []


async def test_agents_merge_and_split_and_every_change_is_audited(world: World) -> None:
    phone = await record(world, inbound("s1", sender="+1555", channel=SMS, sent_at=1), now=1)
    email = await record(world, inbound("e1", sender="grace@example.org", channel=EMAIL, sent_at=2), now=2)
    receipt = await world.at(10).merge_customers(
        email.conversation.customer_id, phone.conversation.customer_id, "ada", "same person"
    )
    assert receipt.surviving_customer_id == phone.conversation.customer_id
    # Both had an active conversation: the merged one's is resolved and points to the survivor's.
    assert receipt.resolved_conversation_id == email.conversation.conversation_id
    ended = await world.store.get_conversation(email.conversation.conversation_id)
    assert ended is not None and ended.status == ConversationStatus.RESOLVED
    assert ended.customer_id == phone.conversation.customer_id
    with pytest.raises(NotFound):
        await world.at(11).merge_customers(
            phone.conversation.customer_id, email.conversation.customer_id, "ada", "again"
        )
    new_customer, moved = await world.at(20).split_customer(
        phone.conversation.customer_id, (ContactPoint(EMAIL_KIND, "grace@example.org"),), "ada", "two people"
    )
    assert moved == [email.conversation.conversation_id]
    later = await record(world, inbound("e2", sender="grace@example.org", channel=EMAIL, sent_at=30), now=30)
    assert later.conversation.customer_id == new_customer
    with pytest.raises(InvalidInput):
        await world.at(40).split_customer(new_customer, (ContactPoint(EMAIL_KIND, "grace@example.org"),), "ada", "all")
    _, _, audit = await world.store.export(phone.conversation.customer_id)
    assert [a["action"] for a in audit] == ["merged", "split"]
    _, _, new_audit = await world.store.export(new_customer)
    assert [a["action"] for a in new_audit] == ["split_from"]


async def test_customer_attributes_are_kept_audited_and_travel_with_new_items(world: World) -> None:
    first = await record(world, inbound("m1", sender="+1555", channel=SMS))
    customer = first.conversation.customer_id
    facts = await world.at(5).update_attributes(customer, {"tier": "vip", "plan": "pro"}, "ada")
    assert facts.attributes == (("plan", "pro"), ("tier", "vip"))
    facts = await world.at(6).update_attributes(customer, {"plan": ""}, "ada")
    assert facts.attributes == (("tier", "vip"),)
    with pytest.raises(InvalidInput):
        await world.at(7).update_attributes(customer, {"Bad Key": "x"}, "ada")
    second = await record(world, inbound("m2", sender="+1555", channel=SMS), now=8)
    assert second.customer_attributes == (("tier", "vip"),)
    _, _, audit = await world.store.export(customer)
    assert [a["action"] for a in audit] == ["attributes_changed", "attributes_changed"]


async def test_an_open_interrupted_after_its_first_write_is_finished_on_redelivery(world: World) -> None:
    """A store without transactions can be left with the customer pointing at a conversation not yet
    written (the process died between two writes); the redelivered message finishes it, under that id."""
    message = inbound("m1", sender="+1555", channel=SMS)
    interrupted = conversation_id_for(message.message_id)
    guard_only = ThreadChange(guard=CustomerGuard("c-half", 0, interrupted, created_at_us=1, contact=message.sender))
    [committed] = await world.store.commit([guard_only])
    assert committed.applied and await world.store.get_conversation(interrupted) is None
    outcome = await record(world, message)
    assert outcome.opened and outcome.conversation.conversation_id == interrupted
    assert outcome.conversation.customer_id == "c-half" and outcome.message.sequence == 1


async def test_an_open_interrupted_after_writing_its_conversation_is_still_announced_as_an_opening(
    world: World,
) -> None:
    """The process died after the conversation's document, before the message's: the redelivered message
    is the conversation's first item, so it opened it, and routing must hear so, or nobody places it."""
    message = inbound("m1", sender="+1555", channel=SMS)
    interrupted = conversation_id_for(message.message_id)
    half_written = ThreadChange(
        guard=CustomerGuard("c-half", 0, interrupted, created_at_us=1, contact=message.sender),
        conversations=(NewConversation(interrupted, "c-half", SMS, "main", opened_at_us=1),),
    )
    [committed] = await world.store.commit([half_written])
    assert committed.applied and await world.store.get_conversation(interrupted) is not None
    outcome = await record(world, message)
    assert outcome.conversation.conversation_id == interrupted and outcome.message.sequence == 1
    assert outcome.opened
    again = await record(world, message)  # and once more, as a second redelivery would
    assert again.duplicate and again.opened


async def test_lists_show_who_wrote_the_latest_message_and_since_when_the_customer_waits(world: World) -> None:
    first = await record(world, inbound("m1", sender="+14155550100", channel=SMS, sent_at=50), now=60)
    conversation = await world.store.get_conversation(first.conversation.conversation_id)  # as lists read it
    assert conversation is not None
    assert (conversation.customer_label, conversation.preview, conversation.waiting_since_us) == (
        "Grace",
        "text of m1",
        50,
    )
    later = await record(world, inbound("m2", sender="+14155550100", channel=SMS, sent_at=70), now=80)
    assert later.conversation.waiting_since_us == 50  # still waiting since the first unanswered message
    await world.at(90).send_reply(conversation.conversation_id, "system", "You are number 2 in line", "q1")
    noticed = await world.store.get_conversation(conversation.conversation_id)
    assert noticed is not None and noticed.waiting_since_us == 50  # an automatic notice is no answer
    await world.at(100).send_reply(conversation.conversation_id, "ada", "Looking  into\nit now", "r1")
    answered = await world.store.get_conversation(conversation.conversation_id)
    assert answered is not None
    assert (answered.preview, answered.preview_direction, answered.waiting_since_us) == (
        "Looking into it now",
        Direction.OUTBOUND,
        0,
    )
    unnamed = NewInboundMessage("m3", SMS, "main", "m3", ContactPoint(PHONE, "+1555"), "", "hi", 5, 5)
    unnamed_conversation = await world.store.get_conversation(
        (await record(world, unnamed, now=110)).conversation.conversation_id
    )
    assert unnamed_conversation is not None and unnamed_conversation.customer_label == "+1555"  # no name: the number


async def test_a_new_conversation_is_announced_with_the_team_that_sees_it(
    store: ConversationStore, nats_server: NatsServer
) -> None:
    opened: list[conversation_events.ConversationOpened] = []

    async def on_opened(envelope: envelope_pb2.EventEnvelope) -> None:
        event = conversation_events.MessageAdded()
        envelope.payload.Unpack(event)
        if event.HasField("opened"):
            opened.append(event.opened)

    async with EventBus.connect(nats_server.url, service="test") as bus:
        await bus.ensure_streams()
        async with bus.watch(["conv.message_added"], on_opened):
            policies = ThreadPolicies(default=ThreadPolicy(team="tier1"))
            outcome = await ThreadingActions(store, bus, policies, clock=Clock()).record_inbound(inbound("m1"))

            async def announced() -> bool:
                return len(opened) == 1

            await eventually(announced, what="the conversation's opening with its first message")
    assert (opened[0].conversation_id, opened[0].team) == (outcome.conversation.conversation_id, "tier1")


def automatic(message_id: str, sender: str, in_reply_to: str = "") -> NewInboundMessage:
    meta = (
        (("automatic", "auto-reply"), ("in_reply_to", in_reply_to)) if in_reply_to else (("automatic", "auto-reply"),)
    )
    return replace(inbound(message_id, sender=sender, channel=EMAIL, metadata=meta), kind=ItemKind.AUTOMATIC)


async def test_an_automatic_reply_is_kept_flagged_where_it_answers_and_changes_nothing_else(world: World) -> None:
    first = await record(world, inbound("m1", sender="grace@example.org", channel=EMAIL))
    conversation = first.conversation
    await world.at(3).set_status(conversation.conversation_id, ConversationStatus.PENDING, 0, "ada")
    before = await world.store.get_conversation(conversation.conversation_id)
    assert before is not None
    kept = await world.at(50).record_inbound(automatic("ooo-1", "grace@example.org"))
    assert kept is not None and kept.message.kind == ItemKind.AUTOMATIC
    assert kept.conversation.conversation_id == conversation.conversation_id
    assert not kept.opened and not kept.reopened
    after = await world.store.get_conversation(conversation.conversation_id)
    assert after is not None
    # Still pending (waiting on the customer), same preview and waiting time: nobody waits on an autoreply.
    assert after.status == ConversationStatus.PENDING
    assert (after.preview, after.waiting_since_us) == (before.preview, before.waiting_since_us)
    # A redelivery keeps it once.
    again = await world.at(60).record_inbound(automatic("ooo-1", "grace@example.org"))
    assert again is not None and again.duplicate


async def test_an_automatic_reply_to_a_resolved_conversation_is_kept_there_without_reopening_it(world: World) -> None:
    first = await record(
        world,
        inbound(
            "m1", sender="grace@example.org", channel=EMAIL, metadata=(("email_message_id", "grace-1@example.org"),)
        ),
    )
    conversation_id = first.conversation.conversation_id
    await world.at(3).set_status(conversation_id, ConversationStatus.RESOLVED, 0, "ada")
    kept = await world.at(50).record_inbound(automatic("ooo-2", "grace@example.org", in_reply_to="grace-1@example.org"))
    assert kept is not None and kept.conversation.conversation_id == conversation_id and not kept.reopened
    after = await world.store.get_conversation(conversation_id)
    assert after is not None and after.status == ConversationStatus.RESOLVED


async def test_an_automatic_message_from_a_stranger_or_about_nothing_is_not_kept(world: World) -> None:
    assert await world.at(50).record_inbound(automatic("ooo-3", "nobody@example.org")) is None
    assert await world.store.customer_by_contact(ContactPoint(KIND_OF[EMAIL], "nobody@example.org")) is None
    first = await record(world, inbound("m1", sender="grace@example.org", channel=EMAIL))
    await world.at(3).set_status(first.conversation.conversation_id, ConversationStatus.RESOLVED, 0, "ada")
    # Grace has no active conversation and it answers none of hers: nowhere to keep it.
    assert await world.at(50).record_inbound(automatic("ooo-4", "grace@example.org")) is None
    assert await world.store.item("ooo-4") is None


async def test_a_sure_detection_is_stored_with_the_message_and_a_correction_takes_it_back(world: World) -> None:
    guesser = Detector(DEFAULT_LANGUAGES, DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_MARGIN)
    actions = ThreadingActions(world.store, world.actions._bus, clock=world.clock, guesser=guesser)
    spanish = await actions.record_inbound(replace(inbound("m1"), text="Hola, necesito ayuda con mi pedido"))
    assert spanish is not None and spanish.message.language == "es" and spanish.conversation.language == "es"
    assert spanish.message == await world.store.item("m1")  # what the event carries is what was stored
    customer = await world.store.customer(spanish.conversation.customer_id)
    assert customer is not None and customer.language == "es"
    # A known customer's message is taken to be in their language (translation corrects a switch).
    assert (await actions.record_inbound(replace(inbound("m2"), text="ok"))).message.language == "es"
    unsure = await actions.record_inbound(replace(inbound("m4", sender="visitor-3"), text="ok"))
    assert unsure.message.language == "" and unsure.conversation.language == ""  # a new customer, too short

    # Under looser rules than translation's (a setting), threading is sure of the wrong language here
    # (Spanish for Portuguese); translation is unsure, and says so.
    loose = Detector(DEFAULT_LANGUAGES, 0.5, 0.2)
    actions = ThreadingActions(world.store, world.actions._bus, clock=world.clock, guesser=loose)
    wrong = await actions.record_inbound(replace(inbound("m3", sender="visitor-2"), text="O aplicativo fecha sozinho"))
    assert wrong is not None and wrong.message.language == "es" and wrong.conversation.language == "es"
    await actions.record_language("m3", "", fallback=True)
    item = await world.store.item("m3")
    conversation = await world.store.get_conversation(wrong.conversation.conversation_id)
    customer = await world.store.customer(wrong.conversation.customer_id)
    assert item is not None and conversation is not None and customer is not None
    assert (item.language, conversation.language, customer.language) == ("", "", "")


async def test_an_assignments_timeline_line_is_announced_as_it_was_stored(
    world: World, nats_server: NatsServer
) -> None:
    outcome = await record(world, inbound("m1"))
    nc = await nats.connect(nats_server.url)
    announced: asyncio.Queue[conversation_events.AssigneeChanged] = asyncio.Queue()

    async def on_live(msg: nats.aio.msg.Msg) -> None:
        changed = conversation_events.AssigneeChanged()
        envelope_pb2.EventEnvelope.FromString(msg.data).payload.Unpack(changed)
        await announced.put(changed)

    await nc.subscribe("live.conv.assignee_changed", cb=on_live)
    await nc.flush()
    try:
        await world.at(20).record_assignment(outcome.conversation.conversation_id, "ada", "assigned-event-1")
        changed = await asyncio.wait_for(announced.get(), timeout=10)
    finally:
        await nc.close()
    stored = await world.store.item(changed.activity.message_id)
    assert stored is not None and stored.text == "Assigned to ada"
    assert changed.activity == message_to_proto(stored)


async def test_an_email_conversation_carries_its_subject_what_waits_and_how_the_last_reply_fared(
    world: World,
) -> None:
    grace = "grace@example.org"
    first = await record(world, inbound("m1", sender=grace, channel=EMAIL, metadata=(("subject", "Order 4411"),)))
    conversation_id = first.conversation.conversation_id
    await record(world, inbound("m2", sender=grace, channel=EMAIL, metadata=(("subject", "Re: Order 4411"),)), now=11)
    waiting = await world.store.get_conversation(conversation_id)
    assert waiting is not None and (waiting.subject, waiting.unanswered_count) == ("Order 4411", 2)

    reply = await world.at(20).send_reply(conversation_id, "ada", "It ships today", "r1")
    answered = await world.store.get_conversation(conversation_id)
    assert answered is not None and (answered.unanswered_count, answered.last_delivery_status) == (0, 0)
    # The channel's reports, one late: the message and the conversation keep the furthest.
    for status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.SENT):
        assert await world.at(30).record_delivery(reply.message_id, status, "", deliveries=1) is None
    stored = await world.store.item(reply.message_id)
    conversation = await world.store.get_conversation(conversation_id)
    assert stored is not None and conversation is not None
    assert (stored.delivery_status, conversation.last_delivery_status) == (DeliveryStatus.DELIVERED,) * 2
    await world.at(40).record_delivery(reply.message_id, DeliveryStatus.FAILED, "550 mailbox gone", deliveries=1)
    bounced = await world.store.item(reply.message_id)
    assert bounced is not None and (bounced.delivery_status, bounced.delivery_detail) == (
        DeliveryStatus.FAILED,
        "550 mailbox gone",
    )

    # A report that overtook its message waits for it, and is let go after a few tries.
    assert await world.at(50).record_delivery("not-yet", DeliveryStatus.SENT, "", deliveries=1) == 0.5
    assert await world.at(50).record_delivery("not-yet", DeliveryStatus.SENT, "", deliveries=4) is None


async def test_resolving_asks_once_and_the_answer_is_kept_without_reopening(world: World) -> None:
    def sms(message_id: str, text: str, at: int) -> NewInboundMessage:
        return replace(inbound(message_id, sender="+1555", channel=SMS, sent_at=at), text=text)

    first = await world.at(DAY_US).record_inbound(sms("m1", "My parcel is late", DAY_US))
    conversation_id = first.conversation.conversation_id
    await world.at(DAY_US + 5).set_status(conversation_id, ConversationStatus.RESOLVED, 0, "ada")
    resolved = await world.store.get_conversation(conversation_id)
    assert resolved is not None and resolved.satisfaction is not None
    assert (resolved.satisfaction.agent_id, resolved.satisfaction.score) == (resolved.assignee_agent_id, 0)
    survey = await world.store.item(resolved.satisfaction.survey_message_id)
    assert survey is not None and dict(survey.metadata) == {"survey": "satisfaction"}

    # "2 slow" within the window answers it: kept in the thread, the conversation stays resolved, and a
    # low score leaves a follow-up for a supervisor.
    answer = await world.at(2 * DAY_US).record_inbound(sms("a1", "2 - slow, and nobody called", 2 * DAY_US))
    assert answer is not None and answer.message.kind == ItemKind.FEEDBACK
    assert answer.message.text == "slow, and nobody called"
    after = await world.store.get_conversation(conversation_id)
    assert after is not None and after.status == ConversationStatus.RESOLVED
    assert after.satisfaction is not None and (after.satisfaction.score, after.satisfaction.comment) == (
        2,
        "slow, and nobody called",
    )
    assert "follow-up" in after.tags
    items = await world.store.list_messages(conversation_id, 50, 0)
    assert items[-1].text == "Follow-up for a supervisor: the customer rated 2/5: “slow, and nobody called”"
    # A redelivery keeps nothing twice.
    await world.at(2 * DAY_US + 1).record_inbound(sms("a1", "2 - slow, and nobody called", 2 * DAY_US))
    assert len(await world.store.list_messages(conversation_id, 50, 0)) == len(items)

    # Answered: a later number is a message like any other, and resolving again asks nothing more.
    again = await world.at(3 * DAY_US).record_inbound(sms("m2", "5", 3 * DAY_US))
    assert again is not None and again.reopened and again.message.kind == ItemKind.TEXT
    await world.at(3 * DAY_US + 5).set_status(conversation_id, ConversationStatus.RESOLVED, 0, "ada")
    surveys = [i for i in await world.store.list_messages(conversation_id, 50, 0) if dict(i.metadata).get("survey")]
    assert len(surveys) == 1
    overall, agents, _ = await world.actions.satisfaction_scores(0, 4 * DAY_US)
    assert (overall.responses, overall.average, overall.low) == (1, 2.0, 1)
    assert [a.key for a in agents] == [after.satisfaction.agent_id or "(nobody)"]


async def test_no_survey_to_a_customer_who_opted_out(world: World) -> None:
    first = await record(world, inbound("m1", sender="+1666", channel=SMS, sent_at=DAY_US), now=DAY_US)
    await world.actions.record_opt_out(SMS, ContactPoint(PHONE, "+1666"), True)
    await world.at(DAY_US + 5).set_status(first.conversation.conversation_id, ConversationStatus.RESOLVED, 0, "ada")
    resolved = await world.store.get_conversation(first.conversation.conversation_id)
    assert resolved is not None and resolved.satisfaction is None
    # And a number they send later is just a message.
    later = await record(world, replace(inbound("m2", sender="+1666", channel=SMS, sent_at=2 * DAY_US), text="3"))
    assert later.message.kind == ItemKind.TEXT
