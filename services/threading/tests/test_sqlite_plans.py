"""SQLite only: the inbox's queries use indexes, never a scan of every conversation or message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox_threading.changes import ConversationQuery, CustomerRecord, SearchQuery
from inbox_threading.domain import ContactPoint, ConversationStatus, NewInboundMessage, ThreadPolicy, Viewer
from inbox_threading.plans import plan_inbound
from inbox_threading.store.sqlite import SqliteConversationStore

SMS = 3


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteConversationStore]:
    opened = await SqliteConversationStore.open(tmp_path / "threading.sqlite3")
    first = NewInboundMessage("m1", 1, "main", "m1", ContactPoint(3, "v1"), "", "some text", 1, 2)
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
