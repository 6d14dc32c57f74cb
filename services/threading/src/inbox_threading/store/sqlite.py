"""SQLite implementation of ConversationStore.

Invariants held by the schema, not by timing:
- one message per (channel, provider id) and per message id: a redelivered event is a no-op;
- one active conversation per customer (partial unique index): two replicas cannot open two;
- one reply per (conversation, client_reply_id): a retried SendReply stores and sends once.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
from pathlib import Path

from inbox_runtime.sqlite import SqliteDatabase

from inbox_threading.domain import (
    AttachmentRef,
    ContactPoint,
    Conversation,
    ConversationStatus,
    Direction,
    InboundOutcome,
    NewInboundMessage,
    NewProactiveMessage,
    NotFound,
    ReplyRoute,
    StoredMessage,
    decide_thread,
    new_id,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    created_at_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS contact_points (
    kind INTEGER NOT NULL,
    value TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(customer_id),
    created_at_us INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX IF NOT EXISTS contact_points_by_customer ON contact_points(customer_id);
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(customer_id),
    status INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    inbox_id TEXT NOT NULL,
    assignee_agent_id TEXT NOT NULL DEFAULT '',
    opened_at_us INTEGER NOT NULL,
    last_activity_at_us INTEGER NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS conversations_one_active_per_customer
    ON conversations(customer_id) WHERE status != 4;
CREATE INDEX IF NOT EXISTS conversations_by_activity
    ON conversations(last_activity_at_us DESC, conversation_id DESC);
CREATE INDEX IF NOT EXISTS conversations_by_assignee
    ON conversations(assignee_agent_id, last_activity_at_us DESC, conversation_id DESC);
CREATE TABLE IF NOT EXISTS messages (
    message_id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id),
    customer_id TEXT NOT NULL,
    direction INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    inbox_id TEXT NOT NULL,
    agent_id TEXT NOT NULL DEFAULT '',
    contact_kind INTEGER NOT NULL,
    contact_value TEXT NOT NULL,
    text TEXT NOT NULL,
    provider_message_id TEXT,
    client_reply_id TEXT,
    sent_at_us INTEGER NOT NULL,
    received_at_us INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    kind INTEGER NOT NULL DEFAULT 1,
    metadata TEXT NOT NULL DEFAULT '{}',
    attachments TEXT NOT NULL DEFAULT '[]',
    UNIQUE (conversation_id, sequence)
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_provider_id
    ON messages(channel, provider_message_id) WHERE provider_message_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_client_reply_id
    ON messages(conversation_id, client_reply_id) WHERE client_reply_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_last_inbound
    ON messages(conversation_id, direction, sequence DESC);
"""

_MESSAGE_COLUMNS = (
    "message_id, conversation_id, customer_id, direction, channel, agent_id, text, sent_at_us, received_at_us, "
    "sequence, kind, metadata, attachments"
)


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        conversation_id=row["conversation_id"],
        customer_id=row["customer_id"],
        status=ConversationStatus(row["status"]),
        channel=row["channel"],
        inbox_id=row["inbox_id"],
        assignee_agent_id=row["assignee_agent_id"],
        opened_at_us=row["opened_at_us"],
        last_activity_at_us=row["last_activity_at_us"],
        message_count=row["message_count"],
    )


def _message(row: sqlite3.Row) -> StoredMessage:
    return StoredMessage(
        message_id=row["message_id"],
        conversation_id=row["conversation_id"],
        customer_id=row["customer_id"],
        direction=Direction(row["direction"]),
        channel=row["channel"],
        agent_id=row["agent_id"],
        text=row["text"],
        sent_at_us=row["sent_at_us"],
        received_at_us=row["received_at_us"],
        sequence=row["sequence"],
        kind=row["kind"],
        metadata=tuple(sorted(json.loads(row["metadata"]).items())),
        attachments=tuple(AttachmentRef(**a) for a in json.loads(row["attachments"])),
    )


def _encode_cursor(conversation: Conversation) -> str:
    raw = f"{conversation.last_activity_at_us}|{conversation.conversation_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        activity, conversation_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return int(activity), conversation_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("page_token is not one this service issued") from exc


class SqliteConversationStore:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    @classmethod
    async def open(cls, path: Path | str) -> SqliteConversationStore:
        database = SqliteDatabase(path)
        await database.open(SCHEMA)
        return cls(database)

    async def close(self) -> None:
        await self._db.close()

    async def record_inbound(self, message: NewInboundMessage, now_us: int) -> InboundOutcome:
        def write(conn: sqlite3.Connection) -> InboundOutcome:
            duplicate = conn.execute(
                "SELECT message_id FROM messages WHERE message_id = ? OR (channel = ? AND provider_message_id = ?)",
                (message.message_id, message.channel, message.provider_message_id or None),
            ).fetchone()
            if duplicate is not None:
                existing = self._existing(conn, duplicate["message_id"])
                assert existing is not None
                return existing
            customer_id = self._resolve_customer(conn, message.sender, message.sender_name, now_us)
            conversation_id = self._active_or_new_conversation(
                conn, customer_id, message.channel, message.inbox_id, "", now_us
            )
            sequence = self._append(
                conn,
                conversation_id,
                message_id=message.message_id,
                customer_id=customer_id,
                direction=Direction.INBOUND,
                channel=message.channel,
                inbox_id=message.inbox_id,
                agent_id="",
                contact=message.sender,
                text=message.text,
                provider_message_id=message.provider_message_id or None,
                client_reply_id=None,
                sent_at_us=message.sent_at_us or message.received_at_us,
                received_at_us=message.received_at_us,
                now_us=now_us,
                kind=message.kind,
                metadata=message.metadata,
                attachments=message.attachments,
            )
            return self._outcome(conn, message.message_id, conversation_id, sequence)

        return await self._db.write(write)

    @staticmethod
    def _resolve_customer(conn: sqlite3.Connection, contact: ContactPoint, display_name: str, now_us: int) -> str:
        row = conn.execute(
            "SELECT customer_id FROM contact_points WHERE kind = ? AND value = ?", (contact.kind, contact.value)
        ).fetchone()
        if row is not None:
            return str(row["customer_id"])
        customer_id = new_id()
        conn.execute(
            "INSERT INTO customers (customer_id, display_name, created_at_us) VALUES (?, ?, ?)",
            (customer_id, display_name, now_us),
        )
        conn.execute(
            "INSERT INTO contact_points (kind, value, customer_id, created_at_us) VALUES (?, ?, ?, ?)",
            (contact.kind, contact.value, customer_id, now_us),
        )
        return customer_id

    @staticmethod
    def _active_or_new_conversation(
        conn: sqlite3.Connection, customer_id: str, channel: int, inbox_id: str, assignee: str, now_us: int
    ) -> str:
        active_row = conn.execute(
            "SELECT * FROM conversations WHERE customer_id = ? AND status != ?",
            (customer_id, int(ConversationStatus.RESOLVED)),
        ).fetchone()
        decision = decide_thread(_conversation(active_row) if active_row else None)
        if decision.conversation_id is not None:
            return decision.conversation_id
        conversation_id = new_id()
        conn.execute(
            "INSERT INTO conversations (conversation_id, customer_id, status, channel, inbox_id, assignee_agent_id, "
            "opened_at_us, last_activity_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (conversation_id, customer_id, int(ConversationStatus.OPEN), channel, inbox_id, assignee, now_us, now_us),
        )
        return conversation_id

    def _existing(self, conn: sqlite3.Connection, message_id: str) -> InboundOutcome | None:
        row = conn.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE message_id = ?", (message_id,)).fetchone()
        if row is None:
            return None
        stored = _message(row)
        conversation = _conversation(
            conn.execute("SELECT * FROM conversations WHERE conversation_id = ?", (stored.conversation_id,)).fetchone()
        )
        return InboundOutcome(conversation, stored, opened=stored.sequence == 1, duplicate=True)

    def _outcome(
        self, conn: sqlite3.Connection, message_id: str, conversation_id: str, sequence: int
    ) -> InboundOutcome:
        stored = _message(
            conn.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE message_id = ?", (message_id,)).fetchone()
        )
        conversation = _conversation(
            conn.execute("SELECT * FROM conversations WHERE conversation_id = ?", (conversation_id,)).fetchone()
        )
        return InboundOutcome(conversation, stored, opened=sequence == 1, duplicate=False)

    async def record_proactive(self, message: NewProactiveMessage, now_us: int) -> InboundOutcome:
        def write(conn: sqlite3.Connection) -> InboundOutcome:
            existing = self._existing(conn, message.message_id)
            if existing is not None:
                return existing
            customer_id = self._resolve_customer(conn, message.recipient, "", now_us)
            conversation_id = self._active_or_new_conversation(
                conn, customer_id, message.channel, message.inbox_id, message.agent_id, now_us
            )
            sequence = self._append(
                conn,
                conversation_id,
                message_id=message.message_id,
                customer_id=customer_id,
                direction=Direction.OUTBOUND,
                channel=message.channel,
                inbox_id=message.inbox_id,
                agent_id=message.agent_id,
                contact=message.recipient,
                text=message.text,
                provider_message_id=None,
                client_reply_id=None,
                sent_at_us=message.sent_at_us or now_us,
                received_at_us=now_us,
                now_us=now_us,
            )
            return self._outcome(conn, message.message_id, conversation_id, sequence)

        return await self._db.write(write)

    @staticmethod
    def _append(
        conn: sqlite3.Connection,
        conversation_id: str,
        *,
        message_id: str,
        customer_id: str,
        direction: Direction,
        channel: int,
        inbox_id: str,
        agent_id: str,
        contact: ContactPoint,
        text: str,
        provider_message_id: str | None,
        client_reply_id: str | None,
        sent_at_us: int,
        received_at_us: int,
        now_us: int,
        kind: int = 1,
        metadata: tuple[tuple[str, str], ...] = (),
        attachments: tuple[AttachmentRef, ...] = (),
    ) -> int:
        row = conn.execute(
            "UPDATE conversations SET message_count = message_count + 1, last_activity_at_us = ?, channel = ? "
            "WHERE conversation_id = ? RETURNING message_count",
            (now_us, channel, conversation_id),
        ).fetchone()
        sequence = int(row["message_count"])
        conn.execute(
            "INSERT INTO messages (message_id, conversation_id, customer_id, direction, channel, inbox_id, "
            "agent_id, contact_kind, contact_value, text, provider_message_id, client_reply_id, sent_at_us, "
            "received_at_us, sequence, kind, metadata, attachments) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message_id,
                conversation_id,
                customer_id,
                int(direction),
                channel,
                inbox_id,
                agent_id,
                contact.kind,
                contact.value,
                text,
                provider_message_id,
                client_reply_id,
                sent_at_us,
                received_at_us,
                sequence,
                kind,
                json.dumps(dict(metadata)),
                json.dumps([dataclasses.asdict(a) for a in attachments]),
            ),
        )
        return sequence

    async def record_reply(
        self, conversation_id: str, agent_id: str, text: str, message_id: str, client_reply_id: str, now_us: int
    ) -> tuple[StoredMessage, ReplyRoute, bool]:
        def write(conn: sqlite3.Connection) -> tuple[StoredMessage, ReplyRoute, bool]:
            conversation = conn.execute(
                "SELECT customer_id FROM conversations WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
            if conversation is None:
                raise NotFound(f"conversation {conversation_id} not found")
            last_inbound = conn.execute(
                "SELECT message_id, channel, inbox_id, contact_kind, contact_value FROM messages "
                "WHERE conversation_id = ? AND direction = ? ORDER BY sequence DESC LIMIT 1",
                (conversation_id, int(Direction.INBOUND)),
            ).fetchone()
            if last_inbound is None:
                raise NotFound(f"conversation {conversation_id} has no customer message to reply to")
            route = ReplyRoute(
                channel=last_inbound["channel"],
                inbox_id=last_inbound["inbox_id"],
                recipient=ContactPoint(last_inbound["contact_kind"], last_inbound["contact_value"]),
                in_reply_to_message_id=last_inbound["message_id"],
            )
            existing = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE message_id = ?", (message_id,)
            ).fetchone()
            if existing is not None:
                return _message(existing), route, True
            self._append(
                conn,
                conversation_id,
                message_id=message_id,
                customer_id=conversation["customer_id"],
                direction=Direction.OUTBOUND,
                channel=route.channel,
                inbox_id=route.inbox_id,
                agent_id=agent_id,
                contact=route.recipient,
                text=text,
                provider_message_id=None,
                client_reply_id=client_reply_id,
                sent_at_us=now_us,
                received_at_us=now_us,
                now_us=now_us,
            )
            stored = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE message_id = ?", (message_id,)
            ).fetchone()
            return _message(stored), route, False

        return await self._db.write(write)

    async def set_assignee(self, conversation_id: str, agent_id: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE conversations SET assignee_agent_id = ? WHERE conversation_id = ?",
                (agent_id, conversation_id),
            )
            return cursor.rowcount > 0

        return await self._db.write(write)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        def read(conn: sqlite3.Connection) -> Conversation | None:
            row = conn.execute("SELECT * FROM conversations WHERE conversation_id = ?", (conversation_id,)).fetchone()
            return _conversation(row) if row else None

        return await self._db.read(read)

    async def list_conversations(
        self,
        assignee_agent_id: str,
        statuses: tuple[ConversationStatus, ...],
        limit: int,
        cursor: str,
    ) -> tuple[list[Conversation], str]:
        clauses: list[str] = []
        params: list[object] = []
        if assignee_agent_id:
            clauses.append("assignee_agent_id = ?")
            params.append(assignee_agent_id)
        if statuses:
            clauses.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(int(s) for s in statuses)
        if cursor:
            activity, conversation_id = decode_cursor(cursor)
            clauses.append("(last_activity_at_us, conversation_id) < (?, ?)")
            params.extend((activity, conversation_id))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT * FROM conversations {where} ORDER BY last_activity_at_us DESC, conversation_id DESC LIMIT ?"
        params.append(limit + 1)

        def read(conn: sqlite3.Connection) -> list[Conversation]:
            return [_conversation(row) for row in conn.execute(query, params).fetchall()]

        rows = await self._db.read(read)
        page = rows[:limit]
        next_cursor = _encode_cursor(page[-1]) if len(rows) > limit else ""
        return page, next_cursor

    async def list_messages(self, conversation_id: str, limit: int, after_sequence: int) -> list[StoredMessage]:
        def read(conn: sqlite3.Connection) -> list[StoredMessage]:
            rows = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND sequence > ? "
                "ORDER BY sequence LIMIT ?",
                (conversation_id, after_sequence, limit),
            ).fetchall()
            return [_message(row) for row in rows]

        return await self._db.read(read)
