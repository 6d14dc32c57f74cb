"""Reading: what the actions decide on, and the inbox's views, each using an index (see test_sqlite_plans)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from inbox_threading.changes import ConversationQuery, CustomerRecord, ReplySource, SearchQuery
from inbox_threading.domain import (
    ContactPoint,
    Conversation,
    ConversationStatus,
    CustomerFacts,
    Direction,
    ItemKind,
    MergeSuggestion,
    ReplyRoute,
    Satisfaction,
    StoredMessage,
    Viewer,
)
from inbox_threading.domain import (
    customer_label as label_for,
)
from inbox_threading.outreach import SentOutreach
from inbox_threading.store.cursors import decode_cursor, encode_cursor
from inbox_threading.store.sqlite import rows
from inbox_threading.store.sqlite.rows import MESSAGE_COLUMNS

RESOLVED = int(ConversationStatus.RESOLVED)


# A conversation with everything a list shows of it, in one statement: its tags, its participants and what
# its customer is called (their name, else their first contact point). Four statements per conversation
# before; a page of 200 took 800.
_CONVERSATION_SELECT = """
SELECT c.*,
    (SELECT json_group_array(tag) FROM conversation_tags t WHERE t.conversation_id = c.conversation_id)
        AS tag_list,
    (SELECT json_group_array(agent_id) FROM conversation_participants p
        WHERE p.conversation_id = c.conversation_id) AS participant_list,
    cu.customer_id AS known_customer,
    cu.display_name AS customer_name,
    (SELECT kind FROM contact_points p WHERE p.customer_id = c.customer_id ORDER BY created_at_us LIMIT 1)
        AS first_contact_kind,
    (SELECT value FROM contact_points p WHERE p.customer_id = c.customer_id ORDER BY created_at_us LIMIT 1)
        AS first_contact_value
FROM conversations c LEFT JOIN customers cu ON cu.customer_id = c.customer_id
"""


# What a change is planned on: the conversation with its tags and participants, not its customer's label.
_CONVERSATION_STATE_SELECT = """
SELECT c.*,
    (SELECT json_group_array(tag) FROM conversation_tags t WHERE t.conversation_id = c.conversation_id)
        AS tag_list,
    (SELECT json_group_array(agent_id) FROM conversation_participants p
        WHERE p.conversation_id = c.conversation_id) AS participant_list
FROM conversations c WHERE c.conversation_id = ?
"""


def _conversation_of(row: sqlite3.Row) -> Conversation:
    label = ""
    if row["known_customer"] is not None:
        kind = row["first_contact_kind"]
        first = ContactPoint(kind, row["first_contact_value"]) if kind is not None else None
        label = label_for(row["customer_name"], first)
    tags = sorted(json.loads(row["tag_list"]))
    participants = sorted(json.loads(row["participant_list"]))
    return rows.conversation(row, tags, participants, label)


def conversation(conn: sqlite3.Connection, conversation_id: str) -> Conversation | None:
    row = conn.execute(_CONVERSATION_SELECT + "WHERE c.conversation_id = ?", (conversation_id,)).fetchone()
    return _conversation_of(row) if row is not None else None


def conversation_state(conn: sqlite3.Connection, conversation_id: str) -> Conversation | None:
    row = conn.execute(_CONVERSATION_STATE_SELECT, (conversation_id,)).fetchone()
    if row is None:
        return None
    return rows.conversation(row, sorted(json.loads(row["tag_list"])), sorted(json.loads(row["participant_list"])), "")


def conversations(conn: sqlite3.Connection, ids: Sequence[str]) -> list[Conversation]:
    """The conversations of `ids` that exist, in the order of `ids`."""
    found: dict[str, Conversation] = {}
    # SQLite's limit on variables is far above a page; chunks keep any caller's list within it.
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ", ".join("?" * len(chunk))
        for row in conn.execute(_CONVERSATION_SELECT + f"WHERE c.conversation_id IN ({marks})", chunk):
            found[row["conversation_id"]] = _conversation_of(row)
    return [found[i] for i in ids if i in found]


def item(conn: sqlite3.Connection, message_id: str) -> StoredMessage | None:
    row = conn.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE message_id = ?", (message_id,)).fetchone()
    return rows.message(row) if row else None


def message_id_for(conn: sqlite3.Connection, provider_key: str) -> str | None:
    row = conn.execute("SELECT message_id FROM messages WHERE provider_key = ?", (provider_key,)).fetchone()
    return str(row[0]) if row else None


def item_route(conn: sqlite3.Connection, message_id: str) -> ReplyRoute | None:
    row = conn.execute(
        "SELECT channel, inbox_id, contact_kind, contact_value FROM messages WHERE message_id = ?", (message_id,)
    ).fetchone()
    if row is None:
        return None
    return ReplyRoute(row["channel"], row["inbox_id"], ContactPoint(row["contact_kind"], row["contact_value"]), "")


def customer(conn: sqlite3.Connection, customer_id: str) -> CustomerRecord | None:
    row = conn.execute("SELECT * FROM customers WHERE customer_id = ?", (customer_id,)).fetchone()
    return rows.customer(row) if row else None


def customer_by_contact(conn: sqlite3.Connection, contact: ContactPoint) -> CustomerRecord | None:
    row = conn.execute(
        "SELECT customers.* FROM contact_points JOIN customers USING (customer_id) WHERE kind = ? AND value = ?",
        (contact.kind, contact.value),
    ).fetchone()
    return rows.customer(row) if row else None


def contacts_of(conn: sqlite3.Connection, customer_id: str) -> tuple[ContactPoint, ...]:
    return tuple(
        ContactPoint(k, v)
        for k, v in conn.execute(
            "SELECT kind, value FROM contact_points WHERE customer_id = ? ORDER BY created_at_us, kind, value",
            (customer_id,),
        )
    )


def latest_resolved(conn: sqlite3.Connection, customer_id: str) -> Conversation | None:
    row = conn.execute(
        "SELECT conversation_id FROM conversations WHERE customer_id = ? AND status = ? "
        "ORDER BY last_activity_at_us DESC LIMIT 1",
        (customer_id, RESOLVED),
    ).fetchone()
    return conversation(conn, row[0]) if row else None


def outreach_sent(conn: sqlite3.Connection, customer_id: str, since_us: int) -> list[SentOutreach]:
    found = conn.execute(
        "SELECT sent_at_us, json_extract(metadata, '$.nudge_rule') FROM messages "
        "WHERE customer_id = ? AND direction = 2 AND sent_at_us >= ? "
        "AND json_extract(metadata, '$.outreach') IS NOT NULL",
        (customer_id, since_us),
    )
    return [SentOutreach(at, rule or "") for at, rule in found]


def satisfaction_answers(conn: sqlite3.Connection, since_us: int, until_us: int) -> list[Satisfaction]:
    found = conn.execute(
        "SELECT satisfaction FROM conversations WHERE satisfaction_answered_at_us > 0 "
        "AND satisfaction_answered_at_us >= ? AND satisfaction_answered_at_us < ?",
        (since_us, until_us),
    )
    return [answer for (column,) in found if (answer := rows.satisfaction_of(column)) is not None]


def conversation_for_refs(conn: sqlite3.Connection, refs: Sequence[str]) -> Conversation | None:
    for ref in refs:
        row = conn.execute("SELECT conversation_id FROM message_refs WHERE ref = ?", (ref,)).fetchone()
        if row is not None:
            return conversation(conn, row[0])
    return None


def last_inbound(conn: sqlite3.Connection, conversation_id: str, channel: str) -> ReplySource | None:
    row = conn.execute(
        "SELECT message_id, channel, inbox_id, contact_kind, contact_value FROM messages "
        "WHERE conversation_id = ? AND direction = ? AND (? = '' OR channel = ?) ORDER BY sequence DESC LIMIT 1",
        (conversation_id, int(Direction.INBOUND), channel, channel),
    ).fetchone()
    if row is None:
        return None
    return ReplySource(
        row["message_id"], row["channel"], row["inbox_id"], ContactPoint(row["contact_kind"], row["contact_value"])
    )


def latest_contact(conn: sqlite3.Connection, customer_id: str, kind: int) -> str | None:
    row = conn.execute(
        "SELECT value FROM contact_points WHERE customer_id = ? AND kind = ? ORDER BY created_at_us DESC",
        (customer_id, kind),
    ).fetchone()
    return str(row[0]) if row else None


def is_opted_out(conn: sqlite3.Connection, channel: str, contact: ContactPoint) -> bool:
    row = conn.execute(
        "SELECT 1 FROM opt_outs WHERE channel = ? AND kind = ? AND value = ?", (channel, contact.kind, contact.value)
    ).fetchone()
    return row is not None


def due_snoozed(conn: sqlite3.Connection, now_us: int, limit: int) -> list[Conversation]:
    due = conn.execute(
        "SELECT conversation_id FROM conversations WHERE status = ? AND snoozed_until_us <= ? LIMIT ?",
        (int(ConversationStatus.SNOOZED), now_us, limit),
    ).fetchall()
    return conversations(conn, [r[0] for r in due])


def inbound_writers(conn: sqlite3.Connection, customer_id: str) -> dict[str, frozenset[ContactPoint]]:
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT conversation_id FROM conversations WHERE customer_id = ? ORDER BY opened_at_us, conversation_id",
            (customer_id,),
        )
    ]
    writers = {}
    for conversation_id in ids:
        writers[conversation_id] = frozenset(
            ContactPoint(k, v)
            for k, v in conn.execute(
                "SELECT DISTINCT contact_kind, contact_value FROM messages WHERE conversation_id = ? AND direction = ?",
                (conversation_id, int(Direction.INBOUND)),
            )
        )
    return writers


def merge_suggestion(conn: sqlite3.Connection, suggestion_id: str) -> MergeSuggestion | None:
    row = conn.execute("SELECT * FROM merge_suggestions WHERE suggestion_id = ?", (suggestion_id,)).fetchone()
    return rows.suggestion(row) if row else None


def merge_suggestions(conn: sqlite3.Connection, customer_id: str) -> list[MergeSuggestion]:
    if customer_id:
        found = conn.execute(
            "SELECT * FROM merge_suggestions WHERE customer_id = ? OR other_customer_id = ? ORDER BY created_at_us",
            (customer_id, customer_id),
        )
    else:
        found = conn.execute("SELECT * FROM merge_suggestions WHERE status = 'pending' ORDER BY created_at_us")
    return [rows.suggestion(r) for r in found.fetchall()]


def list_conversations(conn: sqlite3.Connection, query: ConversationQuery) -> tuple[list[Conversation], str]:
    clauses: list[str] = []
    params: list[object] = []
    for column, value in (
        ("assignee_agent_id", query.assignee_agent_id),
        ("team", query.team),
        ("language", query.language),
        ("customer_id", query.customer_id),
    ):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if query.statuses:
        clauses.append(f"status IN ({', '.join('?' for _ in query.statuses)})")
        params.extend(int(s) for s in query.statuses)
    if query.channels:
        clauses.append(f"channel IN ({', '.join('?' for _ in query.channels)})")
        params.extend(query.channels)
    if query.tag:
        clauses.append("conversation_id IN (SELECT conversation_id FROM conversation_tags WHERE tag = ?)")
        params.append(query.tag)
    if query.participant_agent_id:
        clauses.append("conversation_id IN (SELECT conversation_id FROM conversation_participants WHERE agent_id = ?)")
        params.append(query.participant_agent_id)
    if query.cursor:
        activity, conversation_id = decode_cursor(query.cursor, 2)
        clauses.append("(last_activity_at_us, conversation_id) < (?, ?)")
        params.extend((activity, conversation_id))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(query.limit + 1)
    ids = [
        row[0]
        for row in conn.execute(
            f"SELECT conversation_id FROM conversations {where} "
            "ORDER BY last_activity_at_us DESC, conversation_id DESC LIMIT ?",
            params,
        )
    ]
    found = conversations(conn, ids)
    page = found[: query.limit]
    more = len(found) > query.limit
    next_cursor = encode_cursor(page[-1].last_activity_at_us, page[-1].conversation_id) if page and more else ""
    return page, next_cursor


def list_messages(
    conn: sqlite3.Connection, conversation_id: str, limit: int, after_sequence: int
) -> list[StoredMessage]:
    found = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND sequence > ? ORDER BY sequence LIMIT ?",
        (conversation_id, after_sequence, limit),
    )
    return [rows.message(row) for row in found.fetchall()]


def timeline(
    conn: sqlite3.Connection, customer_id: str, limit: int, cursor: str, exclude_notes: bool
) -> tuple[list[StoredMessage], str]:
    clauses = ["customer_id = ?"]
    params: list[object] = [customer_id]
    if exclude_notes:
        clauses.append("kind != ?")
        params.append(int(ItemKind.NOTE))
    if cursor:
        clauses.append("(sent_at_us, received_at_us, conversation_id, sequence) > (?, ?, ?, ?)")
        params.extend(decode_cursor(cursor, 4))
    params.append(limit + 1)
    found = [
        rows.message(r)
        for r in conn.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(clauses)} "
            "ORDER BY sent_at_us, received_at_us, conversation_id, sequence LIMIT ?",
            params,
        )
    ]
    page = found[:limit]
    next_cursor = ""
    if len(found) > limit:
        last = page[-1]
        next_cursor = encode_cursor(last.sent_at_us, last.received_at_us, last.conversation_id, last.sequence)
    return page, next_cursor


def fts_expression(query: SearchQuery) -> str:
    """Every term quoted (so nothing typed is an FTS5 operator), the last one as a prefix."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in query.terms]
    if query.last_is_prefix:
        quoted[-1] += "*"
    return " ".join(quoted)


def search(
    conn: sqlite3.Connection, query: SearchQuery, viewer: Viewer, limit: int, offset: int
) -> list[StoredMessage]:
    """Newest first (not by rank) lets the index stop at the page instead of ranking every match."""
    clauses = ["messages_fts MATCH ?"]
    params: list[object] = [fts_expression(query)]
    if not viewer.sees_everything:
        visible = [
            "c.assignee_agent_id = ?",
            "EXISTS (SELECT 1 FROM conversation_participants p WHERE p.conversation_id = c.conversation_id "
            "AND p.agent_id = ?)",
        ]
        params.extend((viewer.agent_id, viewer.agent_id))
        if viewer.teams:
            visible.append(f"(c.team != '' AND c.team IN ({', '.join('?' for _ in viewer.teams)}))")
            params.extend(viewer.teams)
        clauses.append(f"({' OR '.join(visible)})")
    params.extend((limit, offset))
    columns = ", ".join(f"m.{c.strip()}" for c in MESSAGE_COLUMNS.split(","))
    sql = (
        f"SELECT {columns} FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid "
        f"JOIN conversations c ON c.conversation_id = m.conversation_id WHERE {' AND '.join(clauses)} "
        "ORDER BY messages_fts.rowid DESC LIMIT ? OFFSET ?"
    )
    return [rows.message(r) for r in conn.execute(sql, params).fetchall()]


def export(
    conn: sqlite3.Connection, customer_id: str
) -> tuple[list[Conversation], list[StoredMessage], list[dict[str, object]]]:
    ids = conn.execute(
        "SELECT conversation_id FROM conversations WHERE customer_id = ? ORDER BY opened_at_us", (customer_id,)
    ).fetchall()
    items = [
        rows.message(r)
        for r in conn.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE customer_id = ? "
            "ORDER BY sent_at_us, received_at_us, conversation_id, sequence",
            (customer_id,),
        )
    ]
    audit = [
        {"at_us": r["at_us"], "actor": r["actor"], "action": r["action"], "details": json.loads(r["details"])}
        for r in conn.execute("SELECT * FROM audit_log WHERE customer_id = ? ORDER BY at_us, rowid", (customer_id,))
    ]
    return conversations(conn, [i[0] for i in ids]), items, audit


def erasure(conn: sqlite3.Connection, customer_id: str) -> dict[str, object] | None:
    row = conn.execute("SELECT * FROM erasures WHERE customer_id = ?", (customer_id,)).fetchone()
    if row is None:
        return None
    return {
        "customer_id": row["customer_id"],
        "erased_at_us": row["erased_at_us"],
        "erased_by": row["erased_by"],
        "reason": row["reason"],
        "counts": json.loads(row["counts"]),
    }


def profile(conn: sqlite3.Connection, customer_id: str) -> CustomerFacts | None:
    found = conn.execute("SELECT * FROM customers WHERE customer_id = ?", (customer_id,)).fetchone()
    if found is None:
        return None
    spans = conn.execute(
        "SELECT MIN(sent_at_us), MAX(sent_at_us) FROM messages WHERE customer_id = ? AND direction = ?",
        (customer_id, int(Direction.INBOUND)),
    ).fetchone()
    channels = conn.execute(
        "SELECT DISTINCT channel FROM messages WHERE customer_id = ? AND direction = ? ORDER BY channel",
        (customer_id, int(Direction.INBOUND)),
    ).fetchall()
    count = conn.execute("SELECT COUNT(*) FROM conversations WHERE customer_id = ?", (customer_id,)).fetchone()[0]
    last_agent = conn.execute(
        "SELECT agent_id FROM messages WHERE customer_id = ? AND direction = ? AND agent_id != '' "
        "ORDER BY sent_at_us DESC LIMIT 1",
        (customer_id, int(Direction.OUTBOUND)),
    ).fetchone()
    return CustomerFacts(
        customer_id=customer_id,
        display_name=found["display_name"],
        contact_points=contacts_of(conn, customer_id),
        first_contact_at_us=spans[0] or found["created_at_us"],
        last_contact_at_us=spans[1] or found["created_at_us"],
        channels_used=tuple(c[0] for c in channels),
        conversation_count=count,
        open_conversation_id=found["active_conversation_id"],
        last_agent_id=last_agent[0] if last_agent else "",
        attributes=tuple(sorted(json.loads(found["attributes"]).items())),
    )
