"""ChatRecords contract, against SQLite and MongoDB alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from inbox_channel_chat.store import ChatRecords, Upload, VisitorIdentity
from inbox_channel_chat.store.mongo import MongoChatRecords
from inbox_channel_chat.store.sqlite import SqliteChatRecords
from inbox_devstack.plugin import StoreBackend


@pytest.fixture
async def records(store_backend: StoreBackend) -> AsyncIterator[ChatRecords]:
    async with store_backend.opened(MongoChatRecords.open, SqliteChatRecords.open, "chat.sqlite3") as opened:
        yield opened


async def test_replies_wait_in_order_and_are_delivered_once(records: ChatRecords) -> None:
    for i in range(3):
        await records.hold(f"r{i}", "conv-1", "v1", f"reply {i}", 10 + i)
    await records.hold("r0", "conv-1", "v1", "reply 0", 99)  # held again: nothing changes
    assert [p.message_id for p in await records.pending("v1")] == ["r0", "r1", "r2"]
    results = await asyncio.gather(*(records.mark_delivered("r1", 20) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert [p.text for p in await records.pending("v1")] == ["reply 0", "reply 2"]
    assert await records.conversation_of("r1", "v1") == "conv-1"
    assert await records.conversation_of("r1", "someone-else") is None


async def test_identities_uploads_and_erasure(records: ChatRecords) -> None:
    await records.set_identity("v1", VisitorIdentity("u1", "grace@example.org", "Grace", True))
    await records.set_identity("v1", VisitorIdentity("u1", "grace@example.org", "Grace H.", True))
    assert await records.identity("v1") == VisitorIdentity("u1", "grace@example.org", "Grace H.", True)
    shared, own = Upload("abc", "a.png", "image/png", 3), Upload("def", "b.pdf", "application/pdf", 4)
    await records.add_upload("v1", shared)
    await records.add_upload("v1", own)
    await records.add_upload("v2", shared)
    assert await records.upload("def", "v1") == own and await records.upload("def", "v2") is None
    await records.hold("r1", "conv-1", "v1", "hi", 1)
    removed, orphans = await records.erase_visitors(["v1"])
    assert removed == 4 and orphans == ["def"]  # outbox, identity, two uploads; "abc" is v2's too
    assert await records.identity("v1") is None and await records.pending("v1") == []
    assert await records.upload("abc", None) == shared
