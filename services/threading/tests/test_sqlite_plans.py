"""SQLite only: the inbox's queries use indexes, never a scan of every conversation or message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox_devstack.migrations import written_by
from inbox_threading.changes import ConversationQuery, CustomerRecord, SearchQuery
from inbox_threading.domain import ContactPoint, ConversationStatus, NewInboundMessage, ThreadPolicy, Viewer
from inbox_threading.plans import plan_inbound
from inbox_threading.store.sqlite import SqliteConversationStore
from inbox_threading.store.sqlite.schema import MIGRATIONS

SMS = "sms"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteConversationStore]:
    opened = await SqliteConversationStore.open(tmp_path / "threading.sqlite3")
    first = NewInboundMessage("m1", "chat", "main", "m1", ContactPoint(3, "v1"), "", "some text", 1, 2)
    plan = plan_inbound(
        first,
        customer=CustomerRecord("c1", "", 1, 0, ""),
        active=None,
        latest_resolved=None,
        referenced=None,
        policy=ThreadPolicy(),
        now_us=2,
    )
    await opened.commit([plan.change])
    yield opened
    await opened.close()


@pytest.mark.parametrize(
    "query",
    [
        ConversationQuery(assignee_agent_id="ada"),
        ConversationQuery(assignee_agent_id="ada", statuses=(ConversationStatus.OPEN,)),
        ConversationQuery(team="tier1"),
        ConversationQuery(statuses=(ConversationStatus.OPEN, ConversationStatus.PENDING)),
        ConversationQuery(channels=(SMS,)),
        ConversationQuery(language="es"),
        ConversationQuery(tag="vip"),
        ConversationQuery(customer_id="c1"),
        ConversationQuery(),
    ],
)
async def test_inbox_queries_use_indexes_not_scans(store: SqliteConversationStore, query: ConversationQuery) -> None:
    plans = await store.database.query_plans(lambda: store.list_conversations(query))
    listing = plans[0]
    assert "SCAN conversations" not in listing or "INDEX" in listing, listing
    assert "TEMP B-TREE" not in listing or query.statuses or query.channels or query.tag, listing


async def test_the_timeline_and_search_use_indexes(store: SqliteConversationStore) -> None:
    plans = await store.database.query_plans(lambda: store.timeline("c1", 50, "", exclude_notes=True))
    assert "USING INDEX messages_timeline" in plans[0], plans[0]
    plans = await store.database.query_plans(lambda: store.search(SearchQuery(("text",)), Viewer("ada"), 10, 0))
    assert "VIRTUAL TABLE INDEX" in plans[0] and "SCAN m " not in plans[0], plans[0]


async def test_conversations_stored_before_read_models_grew_get_their_subject_count_and_latest_reply(
    tmp_path: Path,
) -> None:
    """Migration 10 on a file written by migration 9: the fields are filled in from what is stored."""
    path = tmp_path / "older.sqlite3"
    older = written_by(path, MIGRATIONS[:9])
    older.execute("INSERT INTO customers (customer_id, created_at_us) VALUES ('c1', 1)")
    older.execute(
        "INSERT INTO conversations (conversation_id, customer_id, status, channel, inbox_id, opened_at_us, "
        "last_activity_at_us, waiting_since_us) VALUES ('conv-1', 'c1', 1, 2, 'main', 1, 40, 30)"
    )
    rows = [
        ("m1", 1, 10, '{"subject": "Order 4411"}'),
        ("r1", 2, 20, "{}"),
        ("m2", 1, 30, '{"subject": "Re: Order 4411"}'),
        ("m3", 1, 40, '{"subject": "Re: Order 4411"}'),
    ]
    for sequence, (message_id, direction, sent_at, metadata) in enumerate(rows, start=1):
        older.execute(
            "INSERT INTO messages (message_id, conversation_id, customer_id, direction, channel, inbox_id, "
            "contact_kind, contact_value, text, sent_at_us, received_at_us, sequence, metadata) "
            "VALUES (?, 'conv-1', 'c1', ?, 2, 'main', 1, 'grace@example.org', 'text', ?, ?, ?, ?)",
            (message_id, direction, sent_at, sent_at, sequence, metadata),
        )
    older.commit()
    older.close()

    store = await SqliteConversationStore.open(path)
    try:
        conversation = await store.get_conversation("conv-1")
        assert conversation is not None
        assert (conversation.subject, conversation.unanswered_count) == ("Order 4411", 2)
        assert (conversation.last_outbound_id, conversation.last_delivery_status) == ("r1", 0)
    finally:
        await store.close()
