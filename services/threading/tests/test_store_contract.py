"""ConversationStore contract: the same tests against every implementation (SQLite and MongoDB).

What a store promises the actions: a change is written whole or not at all, its guard decides which
of two racing writers wins, writing a change twice writes it once, items keep their order, pages
continue where they stopped, search shows only what the viewer may see, erasure leaves nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from inbox_runtime.errors import InvalidInput
from inbox_threading.changes import (
    AuditEntry,
    ConversationPatch,
    ConversationQuery,
    CustomerGuard,
    CustomerRecord,
    ItemPatch,
    NewConversation,
    NewItem,
    SearchQuery,
    ThreadChange,
    Tombstone,
)
from inbox_threading.domain import ContactPoint, ConversationStatus, Direction, ItemKind, Mood, Satisfaction, Viewer
from inbox_threading.outreach import SentOutreach
from inbox_threading.store import ConversationStore

from .conftest import OpenStore

PHONE = ContactPoint(2, "+14155550100")
SMS = "sms"


def item(message_id: str, conversation_id: str, text: str = "hello", at: int = 10, **extra: object) -> NewItem:
    fields: dict[str, object] = {
        "message_id": message_id,
        "conversation_id": conversation_id,
        "customer_id": "c1",
        "direction": Direction.INBOUND,
        "channel": SMS,
        "inbox_id": "main",
        "agent_id": "",
        "contact": PHONE,
        "text": text,
        "sent_at_us": at,
        "received_at_us": at,
        "at_us": at,
        **extra,
    }
    return NewItem(**fields)  # type: ignore[arg-type]


def opening(conversation_id: str = "conv-1", message_id: str = "m1") -> ThreadChange:
    """A new customer's first message, as the planner writes it."""
    return ThreadChange(
        guard=CustomerGuard("c1", 0, conversation_id, display_name="Grace", created_at_us=5, contact=PHONE),
        conversations=(NewConversation(conversation_id, "c1", SMS, "main", 5, team="tier1"),),
        items=(item(message_id, conversation_id, provider_key=f"{SMS}:SM-{message_id}"),),
    )


async def test_a_change_is_written_whole_and_read_back_in_domain_terms(store: ConversationStore) -> None:
    [committed] = await store.commit([opening()])
    assert committed.applied and committed.sequences == {"m1": 1}
    customer = await store.customer_by_contact(PHONE)
    assert customer == CustomerRecord("c1", "Grace", 5, 1, "conv-1")
    conversation = await store.get_conversation("conv-1")
    assert conversation is not None
    assert (conversation.status, conversation.message_count, conversation.team) == (ConversationStatus.OPEN, 1, "tier1")
    assert await store.message_id_for(f"{SMS}:SM-m1") == "m1"
    stored = await store.item("m1")
    assert stored is not None and (stored.text, stored.sequence, stored.direction) == ("hello", 1, Direction.INBOUND)


async def test_a_stale_guard_writes_nothing(store: ConversationStore) -> None:
    await store.commit([opening()])
    stale = ThreadChange(
        guard=CustomerGuard("c1", 0, "conv-2", contact=PHONE),  # written as if the customer were new
        conversations=(NewConversation("conv-2", "c1", SMS, "main", 6),),
        items=(item("m2", "conv-2"),),
    )
    current = ThreadChange(guard=CustomerGuard("c1", 1), items=(item("m3", "conv-1"),))
    results = await store.commit([stale, current])
    assert [r.applied for r in results] == [False, True]
    assert await store.get_conversation("conv-2") is None and await store.item("m2") is None
    assert results[1].sequences == {"m3": 2}
    record = await store.customer("c1")
    assert record is not None and (record.version, record.active_conversation_id) == (2, "conv-1")


async def test_two_instances_racing_on_one_guard_let_exactly_one_win(open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    await first.commit([opening()])
    racers = [ThreadChange(guard=CustomerGuard("c1", 1, ""), items=(item(f"r{i}", "conv-1"),)) for i in range(10)]
    results = await asyncio.gather(*(s.commit([c]) for s, c in zip([first, second] * 5, racers, strict=True)))
    assert sum(r[0].applied for r in results) == 1
    assert len(await first.list_messages("conv-1", 50, 0)) == 2


async def test_writing_a_change_twice_writes_it_once(store: ConversationStore) -> None:
    audit = AuditEntry("a1", 7, "ada", "exported", "c1", {"why": "asked"})
    change = ThreadChange(items=(item("m2", "conv-1"),), refs=(("ref@x", "conv-1"),), audit=(audit,))
    await store.commit([opening()])
    first, again = await store.commit([change, change])
    assert first.sequences == {"m2": 2} and again.applied and again.sequences == {}
    assert len(await store.list_messages("conv-1", 50, 0)) == 2
    conversation = await store.conversation_for_refs(["unknown", "ref@x"])
    assert conversation is not None and conversation.conversation_id == "conv-1"
    _, _, exported_audit = await store.export("c1")
    assert exported_audit == [{"at_us": 7, "actor": "ada", "action": "exported", "details": {"why": "asked"}}]


async def test_a_patch_is_written_with_its_item_and_without_one_already_stored(store: ConversationStore) -> None:
    await store.commit([opening()])
    assigned = ThreadChange(
        patches=(ConversationPatch("conv-1", assignee_agent_id="ada", preview="assigned", add_tags=("vip",)),),
        items=(item("a1", "conv-1", text="Assigned to ada", at=20),),
    )
    [first] = await store.commit([assigned])
    conversation = await store.get_conversation("conv-1")
    assert first.sequences == {"a1": 2} and conversation is not None
    assert (conversation.assignee_agent_id, conversation.preview, conversation.tags) == ("ada", "assigned", ("vip",))
    assert (conversation.message_count, conversation.last_activity_at_us) == (2, 20)
    # The same item again, with another patch: the item is not written twice, the patch is written.
    again = ThreadChange(
        patches=(ConversationPatch("conv-1", assignee_agent_id="bo"), ConversationPatch("conv-1", preview="again")),
        items=(item("a1", "conv-1", text="Assigned to ada", at=20),),
    )
    [second] = await store.commit([again])
    conversation = await store.get_conversation("conv-1")
    assert second.applied and second.sequences == {} and conversation is not None
    assert (conversation.assignee_agent_id, conversation.preview, conversation.message_count) == ("bo", "again", 2)


async def test_items_keep_their_order_and_pages_continue(store: ConversationStore) -> None:
    await store.commit([opening()])
    await store.commit([ThreadChange(items=tuple(item(f"m{i}", "conv-1", at=10 + i) for i in range(2, 8)))])
    first_page = await store.list_messages("conv-1", 3, 0)
    rest = await store.list_messages("conv-1", 10, first_page[-1].sequence)
    assert [m.message_id for m in [*first_page, *rest]] == [f"m{i}" for i in range(1, 8)]
    assert [m.sequence for m in [*first_page, *rest]] == list(range(1, 8))
    timeline, cursor = await store.timeline("c1", 4, "", exclude_notes=True)
    more, end = await store.timeline("c1", 4, cursor, exclude_notes=True)
    assert [m.message_id for m in [*timeline, *more]] == [f"m{i}" for i in range(1, 8)] and end == ""


async def test_inbox_pages_are_newest_first_and_filtered(store: ConversationStore) -> None:
    changes = []
    for i in range(5):
        contact = ContactPoint(2, f"+1555000{i}")
        changes.append(
            ThreadChange(
                guard=CustomerGuard(f"c{i}", 0, f"conv-{i}", created_at_us=i, contact=contact),
                conversations=(NewConversation(f"conv-{i}", f"c{i}", SMS, "main", 100 + i),),
                patches=(
                    ConversationPatch(
                        f"conv-{i}", add_tags=("vip",) if i % 2 else (), add_participants=("cy",) if i < 2 else ()
                    ),
                ),
            )
        )
    await store.commit(changes)
    page, cursor = await store.list_conversations(ConversationQuery(limit=2))
    rest, _ = await store.list_conversations(ConversationQuery(limit=10, cursor=cursor))
    assert [c.conversation_id for c in [*page, *rest]] == [f"conv-{i}" for i in (4, 3, 2, 1, 0)]
    tagged, _ = await store.list_conversations(ConversationQuery(tag="vip"))
    assert [c.conversation_id for c in tagged] == ["conv-3", "conv-1"]
    shared, _ = await store.list_conversations(ConversationQuery(participant_agent_id="cy"))
    assert [c.conversation_id for c in shared] == ["conv-1", "conv-0"]
    with pytest.raises(InvalidInput):
        await store.list_conversations(ConversationQuery(cursor="not-ours"))


async def test_search_matches_every_word_and_only_where_the_viewer_may_look(store: ConversationStore) -> None:
    await store.commit([opening()])
    await store.commit(
        [
            ThreadChange(
                patches=(ConversationPatch("conv-1", assignee_agent_id="ada"),),
                items=(
                    item("m2", "conv-1", "Mon colis est arrivé cassé", at=20),
                    item("m3", "conv-1", "Resolved by ada", at=30, kind=ItemKind.ACTIVITY),
                ),
            )
        ]
    )
    found = await store.search(SearchQuery(("colis", "cass")), Viewer(), 10, 0)
    assert [m.message_id for m in found] == ["m2"]
    assert await store.search(SearchQuery(("colis", "perdu")), Viewer(), 10, 0) == []
    assert await store.search(SearchQuery(("resolved",)), Viewer(), 10, 0) == []  # activity lines are not searched
    assert [m.message_id for m in await store.search(SearchQuery(("colis",)), Viewer("ada"), 10, 0)] == ["m2"]
    assert await store.search(SearchQuery(("colis",)), Viewer("bob", ("tier2",)), 10, 0) == []
    assert len(await store.search(SearchQuery(("colis",)), Viewer("bob", ("tier1",)), 10, 0)) == 1


async def test_erasure_leaves_nothing_but_the_tombstone(store: ConversationStore) -> None:
    await store.commit([opening()])
    await store.set_opt_out(SMS, PHONE, True)
    receipt = await store.erase_customer(Tombstone("c1", 99, "dpo", "asked"))
    assert (len(receipt.conversation_ids), receipt.items, receipt.contact_points) == (1, 1, (PHONE,))
    assert await store.customer("c1") is None and await store.customer_by_contact(PHONE) is None
    assert await store.item("m1") is None and await store.message_id_for(f"{SMS}:SM-m1") is None
    assert await store.search(SearchQuery(("hello",)), Viewer(), 10, 0) == []
    assert not await store.is_opted_out(SMS, PHONE)
    assert (await store.erasure("c1") or {})["counts"] == {"conversations": 1, "items": 1, "contact_points": 1}
    # The same phone writing again is a new customer from version 0.
    [again] = await store.commit([opening("conv-9", "m9")])
    assert again.applied


async def test_a_conversation_is_listed_with_its_customer_s_name_else_first_contact(store: ConversationStore) -> None:
    await store.commit([opening()])
    await store.commit(
        [ThreadChange(patches=(ConversationPatch("conv-1", add_tags=("vip",), add_participants=("bo",)),))]
    )
    named = await store.get_conversation("conv-1")
    assert named is not None and named.customer_label == "Grace"
    # What a change is planned on: the same conversation, without the label only views show.
    assert await store.conversation_state("conv-1") == dataclasses.replace(named, customer_label="")
    assert named.tags == ("vip",) and named.participants == ("bo",)
    assert await store.conversation_state("conv-404") is None
    visitor = ContactPoint(3, "v9x8y7w6")
    await store.commit(
        [
            ThreadChange(
                guard=CustomerGuard("c2", 0, "conv-2", created_at_us=6, contact=visitor),
                conversations=(NewConversation("conv-2", "c2", "chat", "main", 6),),
            )
        ]
    )
    [listed] = [c for c in (await store.list_conversations(ConversationQuery()))[0] if c.conversation_id == "conv-2"]
    assert listed.customer_label == "Visitor v9x8y7"


async def test_a_message_s_sentiment_and_its_conversation_s_mood_are_kept(store: ConversationStore) -> None:
    await store.commit([opening()])
    mood = Mood(-0.65, "worsening", -0.8, -0.8, 2)
    await store.commit(
        [
            ThreadChange(
                item_patches=(ItemPatch("m1", sentiment=(-0.8, "es")),),
                patches=(ConversationPatch("conv-1", mood=mood),),
            )
        ]
    )
    stored = await store.item("m1")
    assert stored is not None and (stored.sentiment, stored.sentiment_translated_from) == (-0.8, "es")
    [listed] = await store.list_messages("conv-1", 50, 0)
    assert listed.sentiment == -0.8
    conversation = await store.get_conversation("conv-1")
    assert conversation is not None and conversation.mood == mood
    await store.commit([ThreadChange(items=(item("m2", "conv-1"),))])
    unscored = await store.item("m2")
    assert unscored is not None and unscored.sentiment is None


async def test_what_a_customer_was_sent_and_the_survey_answers_of_a_period(store: ConversationStore) -> None:
    await store.commit([opening()])
    outbound = [
        item("p1", "conv-1", at=100, direction=Direction.OUTBOUND, metadata=(("outreach", "promotional"),)),
        item(
            "p2",
            "conv-1",
            at=200,
            direction=Direction.OUTBOUND,
            metadata=(("nudge_rule", "basket"), ("outreach", "nudge")),
        ),
        item("r1", "conv-1", at=300, direction=Direction.OUTBOUND),  # an agent's reply: not outreach
    ]
    await store.commit([ThreadChange(items=tuple(outbound))])
    assert sorted(await store.outreach_sent("c1", 0), key=lambda s: s.sent_at_us) == [
        SentOutreach(100, ""),
        SentOutreach(200, "basket"),
    ]
    assert await store.outreach_sent("c1", 150) == [SentOutreach(200, "basket")]
    answered = Satisfaction("s1", 10, "ada", "care", 4, "kind", 500)
    await store.commit([ThreadChange(patches=(ConversationPatch("conv-1", satisfaction=answered),))])
    assert await store.satisfaction_answers(400, 600) == [answered]
    assert await store.satisfaction_answers(600, 700) == []
    conversation = await store.get_conversation("conv-1")
    assert conversation is not None and conversation.satisfaction == answered
