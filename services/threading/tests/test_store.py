"""ConversationStore contract, run against every implementation (SQLite here; MongoDB when reachable)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox_runtime.errors import FailedPrecondition, InvalidInput, NotFound
from inbox_threading.domain import (
    DAY_US,
    ContactPoint,
    ConversationStatus,
    Direction,
    ItemKind,
    NewInboundMessage,
    NewProactiveMessage,
    ThreadPolicy,
)
from inbox_threading.store.sqlite import SqliteConversationStore

CHAT, EMAIL, SMS, VOICE = 1, 2, 3, 4
EMAIL_KIND, PHONE, VISITOR = 1, 2, 3
POLICY = ThreadPolicy(reopen_window_us=7 * DAY_US)
KIND_OF = {CHAT: VISITOR, SMS: PHONE, EMAIL: EMAIL_KIND}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteConversationStore]:
    opened = await SqliteConversationStore.open(tmp_path / "threading.sqlite3")
    yield opened
    await opened.close()


def inbound(
    message_id: str,
    provider_id: str = "",
    sender: str = "visitor-1",
    channel: int = CHAT,
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


async def record(store: SqliteConversationStore, message: NewInboundMessage, now: int = 10):  # type: ignore[no-untyped-def]
    return await store.record_inbound(message, now, POLICY)


async def test_first_message_opens_a_conversation_and_later_ones_continue_it(store: SqliteConversationStore) -> None:
    first = await record(store, inbound("m1"), now=10)
    second = await record(store, inbound("m2"), now=20)
    assert first.opened and not second.opened
    assert second.conversation.conversation_id == first.conversation.conversation_id
    assert [second.message.sequence, second.conversation.message_count] == [2, 2]
    assert second.conversation.last_activity_at_us == 20


async def test_a_redelivered_message_changes_nothing(store: SqliteConversationStore) -> None:
    first = await record(store, inbound("m1", "provider-1"))
    again = await record(store, inbound("m1", "provider-1"), now=20)
    # Same provider id under another message id (a retry after our id scheme changed) is caught too.
    other_id = await record(store, inbound("m1-bis", "provider-1"), now=30)
    assert again.duplicate and other_id.duplicate
    assert again.message == first.message == other_id.message
    assert len(await store.list_messages(first.conversation.conversation_id, 10, 0)) == 1


async def test_customers_are_told_apart_by_contact_point(store: SqliteConversationStore) -> None:
    a = await record(store, inbound("m1", sender="visitor-a"))
    b = await record(store, inbound("m2", sender="visitor-b"))
    assert a.conversation.customer_id != b.conversation.customer_id


async def test_a_channel_switch_is_written_in_the_timeline(store: SqliteConversationStore) -> None:
    texted = await record(store, inbound("m1", sender="+14155550100", channel=SMS, sent_at=20), now=21)
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
    voicemail = await record(store, call, now=31)
    assert voicemail.conversation.conversation_id == texted.conversation.conversation_id
    assert [a.text for a in voicemail.activities] == ["Continued by phone"]
    assert voicemail.conversation.channel == VOICE
    items = await store.list_messages(texted.conversation.conversation_id, 20, 0)
    assert [i.kind for i in items] == [ItemKind.TEXT, ItemKind.ACTIVITY, ItemKind.VOICEMAIL]
    assert voicemail.conversation.message_count == 2


async def test_resolved_conversations_reopen_within_the_window_then_new_ones_link_back(
    store: SqliteConversationStore,
) -> None:
    first = await record(store, inbound("m1", sent_at=1), now=1)
    conversation_id = first.conversation.conversation_id
    await store.set_assignee(conversation_id, "ada", "a1", 2)
    await store.set_status(conversation_id, ConversationStatus.RESOLVED, 0, "ada", "Resolved by ada", 3)
    reopened = await record(store, inbound("m2", sent_at=3 * DAY_US), now=3 * DAY_US)
    assert reopened.reopened and reopened.conversation.conversation_id == conversation_id
    assert reopened.previous_agent_id == "ada" and reopened.conversation.status == ConversationStatus.OPEN
    assert [a.text for a in reopened.activities] == ["Reopened: the customer wrote again"]
    await store.set_status(conversation_id, ConversationStatus.RESOLVED, 0, "ada", "Resolved by ada", 4 * DAY_US)
    later = await record(store, inbound("m3", sent_at=20 * DAY_US), now=20 * DAY_US)
    assert later.opened and later.conversation.conversation_id != conversation_id
    assert later.conversation.previous_conversation_id == conversation_id


async def test_an_email_answering_one_of_ours_goes_to_that_conversation(store: SqliteConversationStore) -> None:
    grace = "grace@example.org"
    first = await record(store, inbound("m1", sender=grace, channel=EMAIL, metadata=(("email_message_id", "a@x"),)))
    conversation_id = first.conversation.conversation_id
    reply, _, _ = await store.record_reply(conversation_id, "ada", "Answer", "our-reply-id", "r1", 5)
    await store.set_status(conversation_id, ConversationStatus.RESOLVED, 0, "ada", "Resolved", 6)
    other = await record(store, inbound("m2", sender=grace, channel=EMAIL, sent_at=7), now=7)
    assert other.reopened  # the latest resolved conversation reopens within the window
    await store.set_status(conversation_id, ConversationStatus.RESOLVED, 0, "ada", "Resolved", 8)
    # A new question in a fresh thread opens a new conversation after the window...
    fresh = await record(store, inbound("m3", sender=grace, channel=EMAIL, sent_at=9 * DAY_US), now=9 * DAY_US)
    assert fresh.opened
    await store.set_status(
        fresh.conversation.conversation_id, ConversationStatus.PENDING, 0, "ada", "Pending", 9 * DAY_US
    )
    # ...and an answer to our old reply names it: it joins the conversation it answers when that is active,
    # otherwise the customer's active one (never two active conversations).
    answer = await record(
        store,
        inbound(
            "m4",
            sender=grace,
            channel=EMAIL,
            sent_at=10 * DAY_US,
            metadata=(("in_reply_to", "our-reply-id@inbox.example.com"),),
        ),
        now=10 * DAY_US,
    )
    assert answer.conversation.conversation_id == fresh.conversation.conversation_id
    assert reply.message_id == "our-reply-id"


async def test_someone_else_naming_our_message_id_does_not_join_that_conversation(
    store: SqliteConversationStore,
) -> None:
    grace = await record(
        store, inbound("m1", sender="grace@example.org", channel=EMAIL, metadata=(("email_message_id", "g@x"),))
    )
    mallory = await record(
        store, inbound("m2", sender="mallory@example.org", channel=EMAIL, metadata=(("in_reply_to", "g@x"),))
    )
    assert mallory.conversation.conversation_id != grace.conversation.conversation_id


async def test_replies_go_back_where_the_customer_wrote_and_are_stored_once(store: SqliteConversationStore) -> None:
    first = await record(store, inbound("m1", sender="+14155550100", channel=SMS))
    conversation_id = first.conversation.conversation_id
    reply, route, duplicate = await store.record_reply(conversation_id, "ada", "hi", "r-id", "r1", now_us=20)
    assert not duplicate and reply.direction == Direction.OUTBOUND and reply.sequence == 2
    assert (route.channel, route.recipient, route.in_reply_to_message_id) == (
        SMS,
        ContactPoint(PHONE, "+14155550100"),
        "m1",
    )
    again, again_route, duplicate = await store.record_reply(conversation_id, "ada", "hi", "r-id", "r1", now_us=30)
    assert duplicate and again == reply and again_route.recipient == route.recipient
    with pytest.raises(NotFound):
        await store.record_reply("nope", "ada", "hi", "x", "r1", now_us=30)


async def test_replies_on_another_channel_and_opt_outs(store: SqliteConversationStore) -> None:
    first = await record(store, inbound("m1", sender="+14155550100", channel=SMS))
    conversation_id = first.conversation.conversation_id
    with pytest.raises(FailedPrecondition, match="no email contact"):
        await store.record_reply(conversation_id, "ada", "hi", "r1", "r1", 20, channel=EMAIL)
    await store.set_opt_out(SMS, ContactPoint(PHONE, "+14155550100"), True)
    with pytest.raises(FailedPrecondition, match="opted out of SMS"):
        await store.record_reply(conversation_id, "ada", "hi", "r2", "r2", 21)
    await store.set_opt_out(SMS, ContactPoint(PHONE, "+14155550100"), False)
    _, route, _ = await store.record_reply(conversation_id, "ada", "hi", "r3", "r3", 22)
    assert route.channel == SMS


async def test_lifecycle_tags_notes_and_participants_are_timeline_entries(store: SqliteConversationStore) -> None:
    first = await record(store, inbound("m1"))
    conversation_id = first.conversation.conversation_id
    snoozed, previous, line = await store.set_status(
        conversation_id, ConversationStatus.SNOOZED, 500, "ada", "Snoozed until later by ada", 100
    )
    assert (snoozed.status, snoozed.snoozed_until_us, previous) == (
        ConversationStatus.SNOOZED,
        500,
        ConversationStatus.OPEN,
    )
    assert line is not None and line.kind == ItemKind.ACTIVITY
    _, _, unchanged = await store.set_status(conversation_id, ConversationStatus.SNOOZED, 500, "ada", "again", 101)
    assert unchanged is None
    woken = await store.wake_snoozed(now_us=499)
    assert woken == []
    [(awake, ended)] = await store.wake_snoozed(now_us=500)
    assert awake.status == ConversationStatus.OPEN and ended.text == "Snooze ended"
    tagged, _ = await store.update_tags(conversation_id, ("vip", "billing"), (), "ada", 600)
    assert tagged.tags == ("billing", "vip")
    untagged, _ = await store.update_tags(conversation_id, (), ("vip",), "ada", 601)
    assert untagged.tags == ("billing",)
    note, duplicate = await store.add_note(conversation_id, "ada", "Customer is upset", "note-1", 700)
    assert note.kind == ItemKind.NOTE and note.direction == Direction.INTERNAL and not duplicate
    assert (await store.add_note(conversation_id, "ada", "Customer is upset", "note-1", 701))[1]
    with_bob, _ = await store.add_participant(conversation_id, "bob", "ada", 800)
    assert with_bob.participants == ("bob",)
    timeline, _ = await store.timeline(first.conversation.customer_id, 50, "", exclude_notes=False)
    assert [i.kind for i in timeline].count(ItemKind.NOTE) == 1
    without_notes, _ = await store.timeline(first.conversation.customer_id, 50, "", exclude_notes=True)
    assert ItemKind.NOTE not in [i.kind for i in without_notes]
    assert (await store.get_conversation(conversation_id)).message_count == 1  # type: ignore[union-attr]


async def test_reopening_by_hand_never_makes_two_active_conversations(store: SqliteConversationStore) -> None:
    first = await record(store, inbound("m1", sent_at=1), now=1)
    await store.set_status(first.conversation.conversation_id, ConversationStatus.RESOLVED, 0, "ada", "Resolved", 2)
    second = await record(store, inbound("m2", sent_at=30 * DAY_US), now=30 * DAY_US)
    assert second.opened
    with pytest.raises(FailedPrecondition, match="already has an active conversation"):
        await store.set_status(
            first.conversation.conversation_id, ConversationStatus.OPEN, 0, "ada", "Opened", 31 * DAY_US
        )


async def test_the_timeline_spans_conversations_in_provider_time_then_arrival(store: SqliteConversationStore) -> None:
    await record(store, inbound("late", sender="+1555", channel=SMS, sent_at=50), now=60)
    early = await record(store, inbound("early", sender="+1555", channel=SMS, sent_at=40), now=61)
    customer = early.conversation.customer_id
    await store.set_status(early.conversation.conversation_id, ConversationStatus.RESOLVED, 0, "ada", "Resolved", 70)
    await record(store, inbound("next", sender="+1555", channel=SMS, sent_at=30 * DAY_US), now=30 * DAY_US)
    page, cursor = await store.timeline(customer, 2, "", exclude_notes=True)
    rest, end = await store.timeline(customer, 10, cursor, exclude_notes=True)
    texts = [i.text for i in [*page, *rest]]
    assert texts == ["text of early", "text of late", "Resolved", "text of next"]
    assert end == ""
    with pytest.raises(InvalidInput):
        await store.timeline(customer, 2, "garbage", exclude_notes=True)


async def test_the_profile_sums_up_the_customer(store: SqliteConversationStore) -> None:
    first = await record(store, inbound("m1", sender="+1555", channel=SMS, sent_at=DAY_US), now=DAY_US)
    await store.record_reply(first.conversation.conversation_id, "ada", "hi", "r1", "r1", 2 * DAY_US)
    facts = await store.profile(first.conversation.customer_id)
    assert facts is not None
    assert (facts.display_name, facts.conversation_count, facts.last_agent_id) == ("Grace", 1, "ada")
    assert facts.channels_used == (SMS,) and facts.contact_points == (ContactPoint(PHONE, "+1555"),)
    assert facts.open_conversation_id == first.conversation.conversation_id
    assert facts.tenure_days(11 * DAY_US) == 10
    assert await store.profile("nobody") is None


async def test_inbox_queries_filter_and_page_newest_first(store: SqliteConversationStore) -> None:
    ids = []
    for i in range(5):
        outcome = await record(store, inbound(f"m{i}", sender=f"v{i}"), now=100 + i)
        ids.append(outcome.conversation.conversation_id)
        await store.set_assignee(outcome.conversation.conversation_id, "ada" if i % 2 == 0 else "bob", f"a{i}", 100 + i)
    await store.update_tags(ids[2], ("vip",), (), "ada", 200)
    page, cursor = await store.list_conversations(assignee_agent_id="ada", statuses=(ConversationStatus.OPEN,), limit=2)
    assert [c.conversation_id for c in page] == [ids[2], ids[4]]  # the tag change is newest activity
    rest, end = await store.list_conversations(assignee_agent_id="ada", limit=2, cursor=cursor)
    assert [c.conversation_id for c in rest] == [ids[0]] and end == ""
    assert [c.conversation_id for c in (await store.list_conversations(tag="vip"))[0]] == [ids[2]]
    assert (await store.list_conversations(channels=(SMS,)))[0] == []
    with pytest.raises(InvalidInput):
        await store.list_conversations(cursor="not-a-cursor")


async def test_two_replicas_never_open_two_conversations_for_one_customer(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    replicas = [await SqliteConversationStore.open(path) for _ in range(2)]
    try:
        outcomes = await asyncio.gather(
            *(record(replicas[i % 2], inbound(f"m{i}", sender="same"), now=i) for i in range(20))
        )
    finally:
        for replica in replicas:
            await replica.close()
    assert len({o.conversation.conversation_id for o in outcomes}) == 1
    assert sorted(o.message.sequence for o in outcomes) == list(range(1, 21))


async def test_a_proactive_message_opens_a_conversation_owned_by_its_sender(store: SqliteConversationStore) -> None:
    notice = NewProactiveMessage(
        "p1", SMS, "main", ContactPoint(PHONE, "+14155550100"), "ada", "Your refund is sent", 5
    )
    first = await store.record_proactive(notice, now_us=10)
    assert first.opened and first.conversation.assignee_agent_id == "ada"
    assert first.message.direction == Direction.OUTBOUND
    assert (await store.record_proactive(notice, now_us=20)).duplicate
    answer = await record(store, inbound("m1", sender="+14155550100", channel=SMS), now=30)
    assert answer.conversation.conversation_id == first.conversation.conversation_id
    assert answer.message.sequence == 2


async def test_search_finds_words_in_what_the_viewer_may_see_only(store: SqliteConversationStore) -> None:
    from inbox_threading.domain import Viewer, fts_query

    ada = await record(
        store,
        NewInboundMessage(
            "m1", CHAT, "main", "m1", ContactPoint(VISITOR, "v1"), "", "Mon colis est arrivé cassé", 1, 2
        ),
    )
    bob = await record(store, inbound("m2", sender="v2"))
    await store.set_assignee(ada.conversation.conversation_id, "ada", "a1", 3)
    await store.set_assignee(bob.conversation.conversation_id, "bob", "a2", 3)
    await store.add_note(bob.conversation.conversation_id, "bob", "colis perdu, rembourser", "n1", 4)
    everyone = await store.search(fts_query("colis"), Viewer(), 10, 0)
    assert {m.message_id for m in everyone} == {"m1", "n1"}
    as_ada = await store.search(fts_query("colis"), Viewer("ada"), 10, 0)
    assert [m.message_id for m in as_ada] == ["m1"]
    assert [m.text for m in await store.search(fts_query("arrive cass"), Viewer("ada"), 10, 0)] == [
        "Mon colis est arrivé cassé"  # diacritics folded, last word as a prefix
    ]
    await store.add_participant(bob.conversation.conversation_id, "ada", "bob", 5)
    assert len(await store.search(fts_query("colis"), Viewer("ada"), 10, 0)) == 2
    assert await store.search(fts_query("colis"), Viewer("carol", ("tier1",)), 10, 0) == []


async def test_erasure_leaves_nothing_findable_and_a_tombstone(store: SqliteConversationStore) -> None:
    from inbox_threading.domain import Viewer, fts_query

    first = await record(store, inbound("m1", sender="+1555", channel=SMS))
    customer = first.conversation.customer_id
    await store.add_note(first.conversation.conversation_id, "ada", "secret plan", "n1", 5)
    await store.update_tags(first.conversation.conversation_id, ("vip",), (), "ada", 6)
    await store.set_opt_out(SMS, ContactPoint(PHONE, "+1555"), True)
    receipt = await store.erase_customer(customer, "dpo", "customer request", 100)
    assert (receipt.conversations, receipt.items, receipt.contact_points) == (1, 3, (ContactPoint(PHONE, "+1555"),))
    assert await store.profile(customer) is None
    assert await store.get_conversation(first.conversation.conversation_id) is None
    assert (await store.timeline(customer, 10, "", False))[0] == []
    assert await store.search(fts_query("secret"), Viewer(), 10, 0) == []
    assert await store.search(fts_query("text"), Viewer(), 10, 0) == []
    assert (await store.list_conversations(tag="vip"))[0] == []
    tombstone = await store.erasure(customer)
    assert tombstone == {
        "customer_id": customer,
        "erased_at_us": 100,
        "erased_by": "dpo",
        "reason": "customer request",
        "counts": {"contact_points": 1, "conversations": 1, "items": 3},
    }
    with pytest.raises(NotFound):
        await store.erase_customer(customer, "dpo", "again", 101)
    # Writing again later makes a new customer with no past.
    again = await record(store, inbound("m9", sender="+1555", channel=SMS), now=200)
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


async def test_a_verified_identity_links_then_merges_records(store: SqliteConversationStore) -> None:
    by_email = await record(store, inbound("e1", sender="grace@example.org", channel=EMAIL, sent_at=1), now=1)
    email_customer = by_email.conversation.customer_id
    await store.set_status(by_email.conversation.conversation_id, ConversationStatus.RESOLVED, 0, "ada", "Resolved", 2)
    chat = await record(store, chat_with_identity("c1", "visitor-9", "grace@example.org", True, 100), now=100)
    # The older record survives and now owns the visitor too; her email history is in the same timeline.
    assert chat.conversation.customer_id == email_customer
    assert [(m.surviving_customer_id, m.merged_customer_id != email_customer) for m in chat.merges] == [
        (email_customer, True)
    ]
    facts = await store.profile(email_customer)
    assert facts is not None and ContactPoint(VISITOR, "visitor-9") in facts.contact_points
    timeline, _ = await store.timeline(email_customer, 50, "", exclude_notes=True)
    assert {"e1", "c1"} <= {i.message_id for i in timeline}
    # A first verified identity with no other record just links the contact point.
    fresh = await record(store, chat_with_identity("c2", "visitor-10", "ada@example.net", True, 200), now=200)
    assert not fresh.merges
    facts = await store.profile(fresh.conversation.customer_id)
    assert facts is not None and ContactPoint(EMAIL_KIND, "ada@example.net") in facts.contact_points


async def test_an_unverified_claim_only_suggests_and_an_agent_decides(store: SqliteConversationStore) -> None:
    victim = await record(store, inbound("e1", sender="grace@example.org", channel=EMAIL, sent_at=1), now=1)
    claimer = await record(store, chat_with_identity("c1", "visitor-evil", "grace@example.org", False, 5), now=5)
    assert claimer.conversation.customer_id != victim.conversation.customer_id and not claimer.merges
    # The claim adds no contact point: mail to grace@ still lands on Grace alone.
    facts = await store.profile(claimer.conversation.customer_id)
    assert facts is not None and facts.contact_points == (ContactPoint(VISITOR, "visitor-evil"),)
    [suggestion] = await store.merge_suggestions("")
    assert (suggestion.customer_id, suggestion.other_customer_id, suggestion.status) == (
        claimer.conversation.customer_id,
        victim.conversation.customer_id,
        "pending",
    )
    await record(store, chat_with_identity("c2", "visitor-evil", "grace@example.org", False, 6), now=6)
    assert len(await store.merge_suggestions("")) == 1  # the same claim again is the same suggestion
    rejected, receipt = await store.decide_suggestion(suggestion.suggestion_id, False, "ada", 10)
    assert rejected.status == "rejected" and rejected.decided_by == "ada" and receipt is None
    with pytest.raises(FailedPrecondition):
        await store.decide_suggestion(suggestion.suggestion_id, True, "ada", 11)
    assert await store.merge_suggestions("") == []


async def test_agents_merge_and_split_and_every_change_is_audited(store: SqliteConversationStore) -> None:
    phone = await record(store, inbound("s1", sender="+1555", channel=SMS, sent_at=1), now=1)
    email = await record(store, inbound("e1", sender="grace@example.org", channel=EMAIL, sent_at=2), now=2)
    receipt = await store.merge_customers(
        email.conversation.customer_id, phone.conversation.customer_id, "ada", "same person", 10
    )
    assert receipt.surviving_customer_id == phone.conversation.customer_id
    # Both had an active conversation: the merged one's is resolved and points to the survivor's.
    assert receipt.resolved_conversation_id == email.conversation.conversation_id
    ended = await store.get_conversation(email.conversation.conversation_id)
    assert ended is not None and ended.status == ConversationStatus.RESOLVED
    assert ended.customer_id == phone.conversation.customer_id
    with pytest.raises(NotFound):
        await store.merge_customers(phone.conversation.customer_id, email.conversation.customer_id, "ada", "again", 11)
    new_customer, moved = await store.split_customer(
        phone.conversation.customer_id, (ContactPoint(EMAIL_KIND, "grace@example.org"),), "ada", "two people", 20
    )
    assert moved == [email.conversation.conversation_id]
    later = await record(store, inbound("e2", sender="grace@example.org", channel=EMAIL, sent_at=30), now=30)
    assert later.conversation.customer_id == new_customer
    with pytest.raises(InvalidInput):
        await store.split_customer(new_customer, (ContactPoint(EMAIL_KIND, "grace@example.org"),), "ada", "all", 40)
    _, _, audit = await store.export(phone.conversation.customer_id)
    assert [a["action"] for a in audit] == ["merged", "split"]
    _, _, new_audit = await store.export(new_customer)
    assert [a["action"] for a in new_audit] == ["split_from"]


@pytest.mark.parametrize(
    "query",
    [
        {"assignee_agent_id": "ada"},
        {"assignee_agent_id": "ada", "statuses": (ConversationStatus.OPEN,)},
        {"team": "tier1"},
        {"statuses": (ConversationStatus.OPEN, ConversationStatus.PENDING)},
        {"channels": (SMS,)},
        {"language": "es"},
        {"tag": "vip"},
        {"customer_id": "c1"},
        {},
    ],
)
async def test_inbox_queries_use_indexes_not_scans(store: SqliteConversationStore, query: dict[str, object]) -> None:
    await record(store, inbound("m1"))
    plans = await store.database.query_plans(lambda: store.list_conversations(limit=50, **query))  # type: ignore[arg-type]
    listing = plans[0]
    assert "SCAN conversations" not in listing or "INDEX" in listing, listing
    assert "TEMP B-TREE" not in listing or query.get("statuses") or query.get("channels") or query.get("tag"), listing


async def test_the_timeline_and_search_use_indexes(store: SqliteConversationStore) -> None:
    from inbox_threading.domain import Viewer, fts_query

    first = await record(store, inbound("m1"))
    plans = await store.database.query_plans(
        lambda: store.timeline(first.conversation.customer_id, 50, "", exclude_notes=True)
    )
    assert "USING INDEX messages_timeline" in plans[0], plans[0]
    plans = await store.database.query_plans(lambda: store.search(fts_query("text"), Viewer("ada"), 10, 0))
    assert "VIRTUAL TABLE INDEX" in plans[0] and "SCAN m " not in plans[0], plans[0]


async def test_customer_attributes_are_kept_audited_and_travel_with_new_items(store: SqliteConversationStore) -> None:
    first = await record(store, inbound("m1", sender="+1555", channel=SMS))
    customer = first.conversation.customer_id
    assert await store.update_attributes(customer, {"tier": "vip", "plan": "pro"}, "ada", 5) == (
        ("plan", "pro"),
        ("tier", "vip"),
    )
    assert await store.update_attributes(customer, {"plan": ""}, "ada", 6) == (("tier", "vip"),)
    with pytest.raises(InvalidInput):
        await store.update_attributes(customer, {"Bad Key": "x"}, "ada", 7)
    second = await record(store, inbound("m2", sender="+1555", channel=SMS), now=8)
    assert second.customer_attributes == (("tier", "vip"),)
    _, _, audit = await store.export(customer)
    assert [a["action"] for a in audit] == ["attributes_changed", "attributes_changed"]
