"""SQLite only: the search index takes a commit's new items when it commits, and stays whole when an item
is deleted before it was indexed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox_devstack.migrations import written_by
from inbox_threading.changes import CustomerGuard, NewConversation, SearchQuery, ThreadChange, Tombstone
from inbox_threading.domain import ContactPoint, Viewer
from inbox_threading.store.sqlite import SqliteConversationStore
from inbox_threading.store.sqlite.schema import MIGRATIONS

from .test_store_contract import item

SMS = "sms"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteConversationStore]:
    opened = await SqliteConversationStore.open(tmp_path / "threading.sqlite3")
    yield opened
    await opened.close()


def opening(customer_id: str, text: str) -> ThreadChange:
    conversation_id = f"conv-{customer_id}"
    contact = ContactPoint(2, f"+1415555{customer_id}")
    return ThreadChange(
        guard=CustomerGuard(customer_id, 0, conversation_id, created_at_us=5, contact=contact),
        conversations=(NewConversation(conversation_id, customer_id, SMS, "main", 5),),
        items=(item(f"m-{customer_id}", conversation_id, text, customer_id=customer_id, contact=contact),),
    )


async def index_is_whole(store: SqliteConversationStore) -> None:
    """FTS5's own check of the index against the messages (raises when they disagree)."""
    await store.database.write(
        lambda conn: conn.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
    )


async def test_items_committed_together_are_all_found(store: SqliteConversationStore) -> None:
    # Side by side: one group commit, several changes (each under its own savepoint).
    await asyncio.gather(*(store.commit([opening(f"{n:04d}", f"parcel number {n}")]) for n in range(20)))
    found = await store.search(SearchQuery(("parcel",)), Viewer(), 50, 0)
    assert len(found) == 20
    assert [m.message_id for m in await store.search(SearchQuery(("7",)), Viewer(), 50, 0)] == ["m-0007"]
    await index_is_whole(store)


async def test_an_item_erased_in_the_commit_that_stored_it_leaves_the_index_whole(
    store: SqliteConversationStore,
) -> None:
    await store.commit([opening("0001", "kept words")])
    # Queued together, so one transaction stores the item and erases its customer before the index takes it.
    await asyncio.gather(
        store.commit([opening("0002", "erased words")]),
        store.erase_customer(Tombstone("0002", 99, "dpo", "asked")),
    )
    assert [m.message_id for m in await store.search(SearchQuery(("words",)), Viewer(), 10, 0)] == ["m-0001"]
    await index_is_whole(store)


async def test_items_indexed_before_the_upgrade_are_still_found_and_deleted(tmp_path: Path) -> None:
    path = tmp_path / "threading.sqlite3"
    older = written_by(path, MIGRATIONS[:14])
    older.execute("INSERT INTO customers (customer_id, created_at_us) VALUES ('c1', 1)")
    older.execute(
        "INSERT INTO conversations (conversation_id, customer_id, status, channel, inbox_id, opened_at_us, "
        "last_activity_at_us) VALUES ('conv-1', 'c1', 1, 'sms', 'main', 1, 1)"
    )
    older.execute(
        "INSERT INTO messages (message_id, conversation_id, customer_id, direction, channel, inbox_id, "
        "contact_kind, contact_value, text, sent_at_us, received_at_us, sequence) "
        "VALUES ('m1', 'conv-1', 'c1', 1, 'sms', 'main', 2, '+14155550100', 'older words', 1, 1, 1)"
    )
    older.commit()
    older.close()
    store = await SqliteConversationStore.open(path)
    try:
        assert [m.message_id for m in await store.search(SearchQuery(("older",)), Viewer(), 10, 0)] == ["m1"]
        await store.erase_customer(Tombstone("c1", 99, "dpo", "asked"))
        assert await store.search(SearchQuery(("older",)), Viewer(), 10, 0) == []
        await index_is_whole(store)
    finally:
        await store.close()
