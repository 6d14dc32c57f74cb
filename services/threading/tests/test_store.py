"""ConversationStore contract, run against every implementation (SQLite here; MongoDB when reachable)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox_runtime.errors import NotFound
from inbox_threading.domain import ContactPoint, ConversationStatus, Direction, NewInboundMessage
from inbox_threading.store.sqlite import SqliteConversationStore

CHAT, SMS = 1, 3
VISITOR, PHONE = 3, 2


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteConversationStore]:
    opened = await SqliteConversationStore.open(tmp_path / "threading.sqlite3")
    yield opened
    await opened.close()


def inbound(
    message_id: str, provider_id: str = "", sender: str = "visitor-1", channel: int = CHAT
) -> NewInboundMessage:
    kind = VISITOR if channel == CHAT else PHONE
    return NewInboundMessage(
        message_id=message_id,
        channel=channel,
        inbox_id="main",
        provider_message_id=provider_id or message_id,
        sender=ContactPoint(kind, sender),
        sender_name="Grace",
        text=f"text of {message_id}",
        sent_at_us=1,
        received_at_us=2,
    )


async def test_first_message_opens_a_conversation_and_later_ones_continue_it(store: SqliteConversationStore) -> None:
    first = await store.record_inbound(inbound("m1"), now_us=10)
    second = await store.record_inbound(inbound("m2"), now_us=20)
    assert first.opened and not second.opened
    assert second.conversation.conversation_id == first.conversation.conversation_id
    assert [second.message.sequence, second.conversation.message_count] == [2, 2]
    assert second.conversation.last_activity_at_us == 20


async def test_a_redelivered_message_changes_nothing(store: SqliteConversationStore) -> None:
    first = await store.record_inbound(inbound("m1", "provider-1"), now_us=10)
    again = await store.record_inbound(inbound("m1", "provider-1"), now_us=20)
    # Same provider id under another message id (a retry after our id scheme changed) is caught too.
    other_id = await store.record_inbound(inbound("m1-bis", "provider-1"), now_us=30)
    assert again.duplicate and other_id.duplicate
    assert again.message == first.message == other_id.message
    messages = await store.list_messages(first.conversation.conversation_id, 10, 0)
    assert len(messages) == 1


async def test_customers_are_told_apart_by_contact_point(store: SqliteConversationStore) -> None:
    a = await store.record_inbound(inbound("m1", sender="visitor-a"), now_us=10)
    b = await store.record_inbound(inbound("m2", sender="visitor-b"), now_us=10)
    assert a.conversation.customer_id != b.conversation.customer_id
    assert a.conversation.conversation_id != b.conversation.conversation_id


async def test_replies_go_back_where_the_customer_wrote_and_are_stored_once(store: SqliteConversationStore) -> None:
    first = await store.record_inbound(inbound("m1", sender="+14155550100", channel=SMS), now_us=10)
    conversation_id = first.conversation.conversation_id
    reply, route, duplicate = await store.record_reply(conversation_id, "ada", "hi", "r-id", "r1", now_us=20)
    assert not duplicate and reply.direction == Direction.OUTBOUND and reply.sequence == 2
    assert (route.channel, route.recipient) == (SMS, ContactPoint(PHONE, "+14155550100"))
    again, _, duplicate = await store.record_reply(conversation_id, "ada", "hi", "r-id", "r1", now_us=30)
    assert duplicate and again == reply
    with pytest.raises(NotFound):
        await store.record_reply("nope", "ada", "hi", "x", "r1", now_us=30)


async def test_conversations_list_by_assignee_newest_first_with_a_cursor(store: SqliteConversationStore) -> None:
    ids = []
    for i in range(5):
        outcome = await store.record_inbound(inbound(f"m{i}", sender=f"v{i}"), now_us=100 + i)
        ids.append(outcome.conversation.conversation_id)
        await store.set_assignee(outcome.conversation.conversation_id, "ada" if i % 2 == 0 else "bob")
    page, cursor = await store.list_conversations("ada", (ConversationStatus.OPEN,), 2, "")
    assert [c.conversation_id for c in page] == [ids[4], ids[2]]
    rest, end = await store.list_conversations("ada", (), 2, cursor)
    assert [c.conversation_id for c in rest] == [ids[0]] and end == ""
    with pytest.raises(ValueError):
        await store.list_conversations("", (), 2, "not-a-cursor")


async def test_two_replicas_never_open_two_conversations_for_one_customer(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    replicas = [await SqliteConversationStore.open(path) for _ in range(2)]
    try:
        outcomes = await asyncio.gather(
            *(replicas[i % 2].record_inbound(inbound(f"m{i}", sender="same"), now_us=i) for i in range(20))
        )
    finally:
        for replica in replicas:
            await replica.close()
    assert len({o.conversation.conversation_id for o in outcomes}) == 1
    assert sorted(o.message.sequence for o in outcomes) == list(range(1, 21))


async def test_a_proactive_message_opens_a_conversation_owned_by_its_sender(store: SqliteConversationStore) -> None:
    from inbox_threading.domain import NewProactiveMessage

    notice = NewProactiveMessage(
        "p1", SMS, "main", ContactPoint(PHONE, "+14155550100"), "ada", "Your refund is sent", 5
    )
    first = await store.record_proactive(notice, now_us=10)
    assert first.opened and first.conversation.assignee_agent_id == "ada"
    assert first.message.direction == Direction.OUTBOUND
    assert (await store.record_proactive(notice, now_us=20)).duplicate
    answer = await store.record_inbound(inbound("m1", sender="+14155550100", channel=SMS), now_us=30)
    assert answer.conversation.conversation_id == first.conversation.conversation_id
    assert answer.message.sequence == 2
