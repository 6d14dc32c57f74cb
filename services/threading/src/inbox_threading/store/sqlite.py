"""SQLite implementation of ConversationStore.

Invariants held by the schema, not by timing:
- one message per (channel, provider id) and per message id: a redelivered event is a no-op;
- one active conversation per customer (partial unique index): two replicas cannot open two;
- one reply per (conversation, client_reply_id): a retried SendReply stores and sends once.
Writers take `BEGIN IMMEDIATE`, so each read-decide-write below is atomic across processes.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
from collections.abc import Sequence

from inbox_runtime.sqlite import SqliteStore

from inbox_threading.domain import (
    CHANNEL_NAMES,
    CONTACT_KIND_FOR_CHANNEL,
    AttachmentRef,
    ContactPoint,
    Conversation,
    ConversationStatus,
    CustomerFacts,
    Direction,
    ErasureReceipt,
    FailedPrecondition,
    IdentityAction,
    InboundOutcome,
    InvalidInput,
    ItemKind,
    MergeReceipt,
    MergeSuggestion,
    NewInboundMessage,
    NewProactiveMessage,
    NotFound,
    ReplyRoute,
    StoredMessage,
    ThreadAction,
    ThreadPolicy,
    Viewer,
    continued_by,
    decide_identity,
    decide_thread,
    derived_id,
    identity_claim,
    merge_attributes,
    new_id,
    surviving_customer,
)

SCHEMA_V1 = """
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

# Lifecycle, tags, participants, timelines, reply references, opt-outs.
MIGRATION_V2 = """
ALTER TABLE conversations ADD COLUMN item_count INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET item_count = message_count;
ALTER TABLE conversations ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN language TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN previous_conversation_id TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN snoozed_until_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN resolved_at_us INTEGER NOT NULL DEFAULT 0;
CREATE INDEX conversations_by_customer ON conversations(customer_id, last_activity_at_us DESC);
CREATE INDEX conversations_by_team ON conversations(team, last_activity_at_us DESC, conversation_id DESC);
CREATE INDEX conversations_by_status ON conversations(status, last_activity_at_us DESC, conversation_id DESC);
CREATE INDEX conversations_by_channel ON conversations(channel, last_activity_at_us DESC, conversation_id DESC);
CREATE INDEX conversations_by_language ON conversations(language, last_activity_at_us DESC, conversation_id DESC);
CREATE TABLE conversation_tags (
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id),
    tag TEXT NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);
CREATE INDEX conversation_tags_by_tag ON conversation_tags(tag, conversation_id);
CREATE TABLE conversation_participants (
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id),
    agent_id TEXT NOT NULL,
    PRIMARY KEY (conversation_id, agent_id)
);
-- Ids other messages may answer (an email's Message-ID, our replies' ids) -> their conversation.
CREATE TABLE message_refs (
    ref TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id)
);
CREATE TABLE opt_outs (
    channel INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (channel, kind, value)
);
CREATE INDEX messages_timeline ON messages(customer_id, sent_at_us, received_at_us, conversation_id, sequence);
"""

# Search, identity (suggested merges), audit, erasure tombstones.
MIGRATION_V3 = """
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.kind != 6 BEGIN
    INSERT INTO messages_fts(rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.kind != 6 BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
INSERT INTO messages_fts(rowid, text) SELECT rowid, text FROM messages WHERE kind != 6;
CREATE TABLE merge_suggestions (
    suggestion_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    other_customer_id TEXT NOT NULL,
    contact_kind INTEGER NOT NULL,
    contact_value TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at_us INTEGER NOT NULL,
    decided_by TEXT NOT NULL DEFAULT '',
    decided_at_us INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX merge_suggestions_pending ON merge_suggestions(status, created_at_us);
CREATE TABLE audit_log (
    audit_id TEXT PRIMARY KEY,
    at_us INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_log_by_customer ON audit_log(customer_id, at_us);
CREATE TABLE erasures (
    customer_id TEXT PRIMARY KEY,
    erased_at_us INTEGER NOT NULL,
    erased_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    counts TEXT NOT NULL
);
CREATE INDEX messages_by_customer ON messages(customer_id);
"""

# A customer's conversations, newest first, without sorting.
MIGRATION_V4 = """
DROP INDEX conversations_by_customer;
CREATE INDEX conversations_by_customer ON conversations(customer_id, last_activity_at_us DESC, conversation_id DESC);
"""

# Customer attributes (for routing rules and agents).
MIGRATION_V5 = """
ALTER TABLE customers ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
"""

# Languages and translations.
MIGRATION_V6 = """
ALTER TABLE messages ADD COLUMN language TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN translations TEXT NOT NULL DEFAULT '{}';
ALTER TABLE messages ADD COLUMN translation_status TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN language TEXT NOT NULL DEFAULT '';
"""

_MESSAGE_COLUMNS = (
    "message_id, conversation_id, customer_id, direction, channel, agent_id, text, sent_at_us, received_at_us, "
    "sequence, kind, metadata, attachments, language, translations, translation_status"
)
# Notes and activity are timeline items, not messages between customer and agent.
_COUNTED_KINDS = (ItemKind.TEXT, ItemKind.CALL_EVENT, ItemKind.VOICEMAIL, ItemKind.MISSED_CALL)


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
        language=row["language"],
        translations=tuple(sorted(json.loads(row["translations"]).items())),
        translation_status=row["translation_status"],
    )


def _encode_cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()


def decode_cursor(cursor: str, arity: int) -> list[object]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("page_token is not one this service issued") from exc
    if not isinstance(parts, list) or len(parts) != arity:
        raise InvalidInput("page_token is not one this service issued")
    return parts


class SqliteConversationStore(SqliteStore):
    MIGRATIONS = (SCHEMA_V1, MIGRATION_V2, MIGRATION_V3, MIGRATION_V4, MIGRATION_V5, MIGRATION_V6)

    # --- reading helpers (inside a transaction) ---------------------------------------------

    @staticmethod
    def _conversation(conn: sqlite3.Connection, conversation_id: str) -> Conversation | None:
        row = conn.execute("SELECT * FROM conversations WHERE conversation_id = ?", (conversation_id,)).fetchone()
        if row is None:
            return None
        tags = conn.execute(
            "SELECT tag FROM conversation_tags WHERE conversation_id = ? ORDER BY tag", (conversation_id,)
        ).fetchall()
        participants = conn.execute(
            "SELECT agent_id FROM conversation_participants WHERE conversation_id = ? ORDER BY agent_id",
            (conversation_id,),
        ).fetchall()
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
            tags=tuple(t[0] for t in tags),
            team=row["team"],
            language=row["language"],
            previous_conversation_id=row["previous_conversation_id"],
            snoozed_until_us=row["snoozed_until_us"],
            resolved_at_us=row["resolved_at_us"],
            participants=tuple(p[0] for p in participants),
        )

    def _must(self, conn: sqlite3.Connection, conversation_id: str) -> Conversation:
        conversation = self._conversation(conn, conversation_id)
        if conversation is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return conversation

    @staticmethod
    def _item(conn: sqlite3.Connection, message_id: str) -> StoredMessage | None:
        row = conn.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE message_id = ?", (message_id,)).fetchone()
        return _message(row) if row else None

    def _existing(self, conn: sqlite3.Connection, message_id: str) -> InboundOutcome | None:
        stored = self._item(conn, message_id)
        if stored is None:
            return None
        conversation = self._must(conn, stored.conversation_id)
        return InboundOutcome(conversation, stored, opened=stored.sequence == 1, duplicate=True)

    # --- writing helpers ----------------------------------------------------------------

    @staticmethod
    def _resolve_customer(conn: sqlite3.Connection, contact: ContactPoint, display_name: str, now_us: int) -> str:
        row = conn.execute(
            "SELECT customer_id FROM contact_points WHERE kind = ? AND value = ?", (contact.kind, contact.value)
        ).fetchone()
        if row is not None:
            if display_name:
                conn.execute(
                    "UPDATE customers SET display_name = ? WHERE customer_id = ? AND display_name = ''",
                    (display_name, row["customer_id"]),
                )
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

    def _referenced(self, conn: sqlite3.Connection, customer_id: str, refs: Sequence[str]) -> Conversation | None:
        for ref in refs:
            # Our own replies go out as "<message id>@<domain>"; customers' mails are known by their full id.
            for candidate in dict.fromkeys((ref, ref.rpartition("@")[0])):
                row = conn.execute("SELECT conversation_id FROM message_refs WHERE ref = ?", (candidate,)).fetchone()
                if row is not None:
                    conversation = self._conversation(conn, row["conversation_id"])
                    # Never thread into another customer's conversation on a header they control.
                    if conversation is not None and conversation.customer_id == customer_id:
                        return conversation
        return None

    def _open_conversation(
        self,
        conn: sqlite3.Connection,
        customer_id: str,
        channel: int,
        inbox_id: str,
        assignee: str,
        previous: str,
        now_us: int,
    ) -> str:
        conversation_id = new_id()
        conn.execute(
            "INSERT INTO conversations (conversation_id, customer_id, status, channel, inbox_id, assignee_agent_id, "
            "opened_at_us, last_activity_at_us, previous_conversation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                customer_id,
                int(ConversationStatus.OPEN),
                channel,
                inbox_id,
                assignee,
                now_us,
                now_us,
                previous,
            ),
        )
        return conversation_id

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
        sent_at_us: int,
        received_at_us: int,
        now_us: int,
        kind: int = ItemKind.TEXT,
        provider_message_id: str | None = None,
        client_reply_id: str | None = None,
        metadata: tuple[tuple[str, str], ...] = (),
        attachments: tuple[AttachmentRef, ...] = (),
    ) -> int:
        counted = 1 if kind in _COUNTED_KINDS else 0
        row = conn.execute(
            "UPDATE conversations SET item_count = item_count + 1, message_count = message_count + ?, "
            "last_activity_at_us = MAX(last_activity_at_us, ?), channel = CASE WHEN ? THEN ? ELSE channel END "
            "WHERE conversation_id = ? RETURNING item_count",
            (counted, now_us, counted and direction == Direction.INBOUND, channel, conversation_id),
        ).fetchone()
        sequence = int(row["item_count"])
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
                int(kind),
                json.dumps(dict(metadata)),
                json.dumps([dataclasses.asdict(a) for a in attachments]),
            ),
        )
        return sequence

    def _activity(
        self,
        conn: sqlite3.Connection,
        conversation: Conversation,
        text: str,
        *,
        activity_id: str,
        actor: str,
        at_us: int,
        data: dict[str, str],
        kind: ItemKind = ItemKind.ACTIVITY,
    ) -> StoredMessage:
        """An internal timeline item, never sent to the customer: a line about the conversation itself
        ("Resolved by ada", "Continued by SMS") or, with `kind=NOTE`, an agent's private note."""
        existing = self._item(conn, activity_id)
        if existing is not None:
            return existing
        self._append(
            conn,
            conversation.conversation_id,
            message_id=activity_id,
            customer_id=conversation.customer_id,
            direction=Direction.INTERNAL,
            channel=conversation.channel,
            inbox_id=conversation.inbox_id,
            agent_id=actor,
            contact=ContactPoint(0, ""),
            text=text,
            sent_at_us=at_us,
            received_at_us=at_us,
            now_us=at_us,
            kind=kind,
            metadata=tuple(sorted(data.items())),
        )
        item = self._item(conn, activity_id)
        assert item is not None
        return item

    # --- use cases ------------------------------------------------------------------------

    async def record_inbound(self, message: NewInboundMessage, now_us: int, policy: ThreadPolicy) -> InboundOutcome:
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
            customer_id, merges = self._apply_identity(conn, customer_id, message, now_us)
            active = conn.execute(
                "SELECT conversation_id FROM conversations WHERE customer_id = ? AND status != ?",
                (customer_id, int(ConversationStatus.RESOLVED)),
            ).fetchone()
            latest_resolved = conn.execute(
                "SELECT conversation_id FROM conversations WHERE customer_id = ? AND status = ? "
                "ORDER BY last_activity_at_us DESC LIMIT 1",
                (customer_id, int(ConversationStatus.RESOLVED)),
            ).fetchone()
            decision = decide_thread(
                active=self._conversation(conn, active[0]) if active else None,
                latest_resolved=self._conversation(conn, latest_resolved[0]) if latest_resolved else None,
                referenced=self._referenced(conn, customer_id, message.references()),
                now_us=now_us,
                policy=policy,
            )
            activities: list[StoredMessage] = []
            previous_agent = ""
            if decision.action is ThreadAction.OPEN_NEW:
                conversation_id = self._open_conversation(
                    conn, customer_id, message.channel, message.inbox_id, "", decision.previous_conversation_id, now_us
                )
                if policy.team:
                    conn.execute(
                        "UPDATE conversations SET team = ? WHERE conversation_id = ?", (policy.team, conversation_id)
                    )
            else:
                assert decision.conversation_id is not None
                conversation_id = decision.conversation_id
                current = self._must(conn, conversation_id)
                if decision.action is ThreadAction.REOPEN:
                    previous_agent = current.assignee_agent_id
                    conn.execute(
                        "UPDATE conversations SET status = ?, resolved_at_us = 0, snoozed_until_us = 0, "
                        "assignee_agent_id = '' WHERE conversation_id = ?",
                        (int(ConversationStatus.OPEN), conversation_id),
                    )
                    activities.append(
                        self._activity(
                            conn,
                            current,
                            "Reopened: the customer wrote again",
                            activity_id=derived_id("reopened", message.message_id),
                            actor="customer",
                            at_us=message.sent_at_us or now_us,
                            data={"activity": "reopened", "previous_agent_id": previous_agent},
                        )
                    )
                elif current.status in (ConversationStatus.PENDING, ConversationStatus.SNOOZED):
                    # The customer answered: it needs an agent again.
                    conn.execute(
                        "UPDATE conversations SET status = ?, snoozed_until_us = 0 WHERE conversation_id = ?",
                        (int(ConversationStatus.OPEN), conversation_id),
                    )
                switched = continued_by(current.channel, message.channel)
                if switched and message.kind in _COUNTED_KINDS:
                    activities.append(
                        self._activity(
                            conn,
                            current,
                            switched,
                            activity_id=derived_id("continued", message.message_id),
                            actor="customer",
                            at_us=message.sent_at_us or now_us,
                            data={"activity": "channel_switched", "channel": CHANNEL_NAMES[message.channel]},
                        )
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
                sent_at_us=message.sent_at_us or message.received_at_us,
                received_at_us=message.received_at_us,
                now_us=now_us,
                kind=message.kind,
                metadata=message.metadata,
                attachments=message.attachments,
            )
            email_id = dict(message.metadata).get("email_message_id")
            if email_id:
                conn.execute(
                    "INSERT OR IGNORE INTO message_refs (ref, conversation_id) VALUES (?, ?)",
                    (email_id, conversation_id),
                )
            stored = self._item(conn, message.message_id)
            assert stored is not None
            return InboundOutcome(
                self._must(conn, conversation_id),
                stored,
                opened=sequence == 1,
                duplicate=False,
                reopened=decision.action is ThreadAction.REOPEN,
                activities=tuple(activities),
                previous_agent_id=previous_agent,
                merges=tuple(merges),
                customer_attributes=self._attributes(conn, customer_id),
            )

        return await self._db.write(write)

    @staticmethod
    def _attributes(conn: sqlite3.Connection, customer_id: str) -> tuple[tuple[str, str], ...]:
        row = conn.execute("SELECT attributes FROM customers WHERE customer_id = ?", (customer_id,)).fetchone()
        return tuple(sorted(json.loads(row[0]).items())) if row else ()

    async def update_attributes(
        self, customer_id: str, changes: dict[str, str], actor: str, now_us: int
    ) -> tuple[tuple[str, str], ...]:
        def write(conn: sqlite3.Connection) -> tuple[tuple[str, str], ...]:
            row = conn.execute("SELECT attributes FROM customers WHERE customer_id = ?", (customer_id,)).fetchone()
            if row is None:
                raise NotFound(f"customer {customer_id} not found")
            merged = merge_attributes(json.loads(row[0]), changes)
            conn.execute("UPDATE customers SET attributes = ? WHERE customer_id = ?", (json.dumps(merged), customer_id))
            self._audit(conn, actor, "attributes_changed", customer_id, {"changes": changes}, now_us)
            return tuple(merged.items())

        return await self._db.write(write)

    # --- identity ---------------------------------------------------------------------------

    def _apply_identity(
        self, conn: sqlite3.Connection, customer_id: str, message: NewInboundMessage, now_us: int
    ) -> tuple[str, list[MergeReceipt]]:
        """Link, merge or suggest per the identity the customer gave; returns the customer id to use now."""
        claim = identity_claim(message.metadata)
        merges: list[MergeReceipt] = []
        if claim is None:
            return customer_id, merges
        for contact in claim.contacts:
            owner = conn.execute(
                "SELECT customer_id FROM contact_points WHERE kind = ? AND value = ?", (contact.kind, contact.value)
            ).fetchone()
            owner_id = str(owner[0]) if owner else None
            action = decide_identity(customer_id, owner_id, claim.verified)
            if action is IdentityAction.LINK:
                conn.execute(
                    "INSERT INTO contact_points (kind, value, customer_id, created_at_us) VALUES (?, ?, ?, ?)",
                    (contact.kind, contact.value, customer_id, now_us),
                )
                self._audit(
                    conn, "verified identity", "contact_linked", customer_id, {"contact": contact.value}, now_us
                )
            elif action is IdentityAction.MERGE:
                assert owner_id is not None
                receipt = self._merge(conn, customer_id, owner_id, "verified identity", "signed identify", now_us)
                merges.append(receipt)
                customer_id = receipt.surviving_customer_id
            elif action is IdentityAction.SUGGEST:
                assert owner_id is not None
                suggestion_id = derived_id("suggestion", customer_id, owner_id, str(contact.kind), contact.value)
                inserted = conn.execute(
                    "INSERT OR IGNORE INTO merge_suggestions (suggestion_id, customer_id, other_customer_id, "
                    "contact_kind, contact_value, reason, status, created_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        suggestion_id,
                        customer_id,
                        owner_id,
                        contact.kind,
                        contact.value,
                        "claimed without verification",
                        "pending",
                        now_us,
                    ),
                ).rowcount
                if inserted:
                    self._audit(
                        conn, "customer", "merge_suggested", customer_id, {"other_customer_id": owner_id}, now_us
                    )
        return customer_id, merges

    def _merge(self, conn: sqlite3.Connection, a: str, b: str, actor: str, reason: str, now_us: int) -> MergeReceipt:
        rows = {
            r["customer_id"]: int(r["created_at_us"])
            for r in conn.execute(
                "SELECT customer_id, created_at_us FROM customers WHERE customer_id IN (?, ?)", (a, b)
            ).fetchall()
        }
        if len(rows) != 2:
            raise NotFound("both customers must exist (and differ) to merge them")
        surviving, merged = surviving_customer((a, rows[a]), (b, rows[b]))
        actives = {
            r["customer_id"]: r["conversation_id"]
            for r in conn.execute(
                "SELECT customer_id, conversation_id FROM conversations WHERE customer_id IN (?, ?) AND status != ?",
                (surviving, merged, int(ConversationStatus.RESOLVED)),
            ).fetchall()
        }
        resolved = ""
        if surviving in actives and merged in actives:
            # One active conversation per customer: the merged one's ends, pointing to the survivor's.
            resolved = actives[merged]
            current = self._must(conn, resolved)
            conn.execute(
                "UPDATE conversations SET status = ?, resolved_at_us = ? WHERE conversation_id = ?",
                (int(ConversationStatus.RESOLVED), now_us, resolved),
            )
            self._activity(
                conn,
                current,
                f"Customer records merged: continued in conversation {actives[surviving]}",
                activity_id=derived_id("merged", resolved, surviving),
                actor=actor,
                at_us=now_us,
                data={"activity": "merged", "conversation_id": actives[surviving]},
            )
        conn.execute("UPDATE contact_points SET customer_id = ? WHERE customer_id = ?", (surviving, merged))
        conn.execute("UPDATE conversations SET customer_id = ? WHERE customer_id = ?", (surviving, merged))
        conn.execute("UPDATE messages SET customer_id = ? WHERE customer_id = ?", (surviving, merged))
        conn.execute("UPDATE audit_log SET customer_id = ? WHERE customer_id = ?", (surviving, merged))
        conn.execute(
            "UPDATE merge_suggestions SET status = 'merged' WHERE status = 'pending' AND "
            "((customer_id = ? AND other_customer_id = ?) OR (customer_id = ? AND other_customer_id = ?))",
            (surviving, merged, merged, surviving),
        )
        conn.execute("UPDATE merge_suggestions SET customer_id = ? WHERE customer_id = ?", (surviving, merged))
        conn.execute(
            "UPDATE merge_suggestions SET other_customer_id = ? WHERE other_customer_id = ?", (surviving, merged)
        )
        conn.execute(
            "UPDATE customers SET display_name = (SELECT display_name FROM customers WHERE customer_id = ?) "
            "WHERE customer_id = ? AND display_name = ''",
            (merged, surviving),
        )
        conn.execute("DELETE FROM customers WHERE customer_id = ?", (merged,))
        self._audit(conn, actor, "merged", surviving, {"merged_customer_id": merged, "reason": reason}, now_us)
        return MergeReceipt(surviving, merged, resolved)

    async def merge_customers(self, a: str, b: str, actor: str, reason: str, now_us: int) -> MergeReceipt:
        return await self._db.write(lambda conn: self._merge(conn, a, b, actor, reason, now_us))

    async def split_customer(
        self, customer_id: str, contacts: tuple[ContactPoint, ...], actor: str, reason: str, now_us: int
    ) -> tuple[str, list[str]]:
        """Move `contacts` to a new customer, with the conversations in which only they wrote."""

        def write(conn: sqlite3.Connection) -> tuple[str, list[str]]:
            owned = {
                ContactPoint(k, v)
                for k, v in conn.execute(
                    "SELECT kind, value FROM contact_points WHERE customer_id = ?", (customer_id,)
                ).fetchall()
            }
            if not owned:
                raise NotFound(f"customer {customer_id} not found")
            moving = set(contacts)
            if not moving or not moving <= owned:
                raise InvalidInput("contact_points must be some of this customer's contact points")
            if moving == owned:
                raise InvalidInput("at least one contact point must stay with the customer")
            new_customer = new_id()
            conn.execute(
                "INSERT INTO customers (customer_id, display_name, created_at_us) VALUES (?, '', ?)",
                (new_customer, now_us),
            )
            conn.executemany(
                "UPDATE contact_points SET customer_id = ? WHERE kind = ? AND value = ?",
                [(new_customer, c.kind, c.value) for c in moving],
            )
            moved = []
            for (conversation_id,) in conn.execute(
                "SELECT conversation_id FROM conversations WHERE customer_id = ?", (customer_id,)
            ).fetchall():
                writers = {
                    ContactPoint(k, v)
                    for k, v in conn.execute(
                        "SELECT DISTINCT contact_kind, contact_value FROM messages WHERE conversation_id = ? "
                        "AND direction = ?",
                        (conversation_id, int(Direction.INBOUND)),
                    ).fetchall()
                }
                if writers and writers <= moving:
                    moved.append(conversation_id)
            for conversation_id in moved:
                conn.execute(
                    "UPDATE conversations SET customer_id = ? WHERE conversation_id = ?",
                    (new_customer, conversation_id),
                )
                conn.execute(
                    "UPDATE messages SET customer_id = ? WHERE conversation_id = ?", (new_customer, conversation_id)
                )
            details: dict[str, object] = {
                "new_customer_id": new_customer,
                "contact_points": sorted(c.value for c in moving),
                "conversations": moved,
                "reason": reason,
            }
            self._audit(conn, actor, "split", customer_id, details, now_us)
            self._audit(conn, actor, "split_from", new_customer, {"customer_id": customer_id, "reason": reason}, now_us)
            return new_customer, moved

        return await self._db.write(write)

    @staticmethod
    def _suggestion(row: sqlite3.Row) -> MergeSuggestion:
        return MergeSuggestion(
            suggestion_id=row["suggestion_id"],
            customer_id=row["customer_id"],
            other_customer_id=row["other_customer_id"],
            claimed_contact=ContactPoint(row["contact_kind"], row["contact_value"]),
            reason=row["reason"],
            status=row["status"],
            created_at_us=row["created_at_us"],
            decided_by=row["decided_by"],
        )

    async def merge_suggestions(self, customer_id: str) -> list[MergeSuggestion]:
        if customer_id:
            sql = (
                "SELECT * FROM merge_suggestions WHERE customer_id = ? OR other_customer_id = ? ORDER BY created_at_us"
            )
            params: tuple[object, ...] = (customer_id, customer_id)
        else:
            sql, params = "SELECT * FROM merge_suggestions WHERE status = 'pending' ORDER BY created_at_us", ()
        return await self._db.read(lambda conn: [self._suggestion(r) for r in conn.execute(sql, params).fetchall()])

    async def decide_suggestion(
        self, suggestion_id: str, accept: bool, actor: str, now_us: int
    ) -> tuple[MergeSuggestion, MergeReceipt | None]:
        def write(conn: sqlite3.Connection) -> tuple[MergeSuggestion, MergeReceipt | None]:
            row = conn.execute("SELECT * FROM merge_suggestions WHERE suggestion_id = ?", (suggestion_id,)).fetchone()
            if row is None:
                raise NotFound(f"merge suggestion {suggestion_id} not found")
            if row["status"] != "pending":
                raise FailedPrecondition(f"this suggestion is already {row['status']}")
            receipt = None
            if accept:
                receipt = self._merge(
                    conn, row["customer_id"], row["other_customer_id"], actor, "confirmed suggestion", now_us
                )
            conn.execute(
                "UPDATE merge_suggestions SET status = ?, decided_by = ?, decided_at_us = ? WHERE suggestion_id = ?",
                ("accepted" if accept else "rejected", actor, now_us, suggestion_id),
            )
            if not accept:
                self._audit(conn, actor, "merge_rejected", row["customer_id"], {"suggestion_id": suggestion_id}, now_us)
            updated = conn.execute(
                "SELECT * FROM merge_suggestions WHERE suggestion_id = ?", (suggestion_id,)
            ).fetchone()
            return self._suggestion(updated), receipt

        return await self._db.write(write)

    async def record_proactive(self, message: NewProactiveMessage, now_us: int) -> InboundOutcome:
        def write(conn: sqlite3.Connection) -> InboundOutcome:
            existing = self._existing(conn, message.message_id)
            if existing is not None:
                return existing
            customer_id = self._resolve_customer(conn, message.recipient, "", now_us)
            active = conn.execute(
                "SELECT conversation_id FROM conversations WHERE customer_id = ? AND status != ?",
                (customer_id, int(ConversationStatus.RESOLVED)),
            ).fetchone()
            conversation_id = (
                active[0]
                if active
                else self._open_conversation(
                    conn, customer_id, message.channel, message.inbox_id, message.agent_id, "", now_us
                )
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
                sent_at_us=message.sent_at_us or now_us,
                received_at_us=now_us,
                now_us=now_us,
            )
            conn.execute(
                "INSERT OR IGNORE INTO message_refs (ref, conversation_id) VALUES (?, ?)",
                (message.message_id, conversation_id),
            )
            stored = self._item(conn, message.message_id)
            assert stored is not None
            return InboundOutcome(self._must(conn, conversation_id), stored, opened=sequence == 1, duplicate=False)

        return await self._db.write(write)

    def _route(self, conn: sqlite3.Connection, conversation: Conversation, channel: int) -> ReplyRoute:
        last_inbound = conn.execute(
            "SELECT message_id, channel, inbox_id, contact_kind, contact_value FROM messages "
            "WHERE conversation_id = ? AND direction = ? AND (? = 0 OR channel = ?) ORDER BY sequence DESC LIMIT 1",
            (conversation.conversation_id, int(Direction.INBOUND), channel, channel),
        ).fetchone()
        if last_inbound is not None and last_inbound["contact_kind"] > 0:
            route = ReplyRoute(
                channel=last_inbound["channel"],
                inbox_id=last_inbound["inbox_id"],
                recipient=ContactPoint(last_inbound["contact_kind"], last_inbound["contact_value"]),
                in_reply_to_message_id=last_inbound["message_id"],
            )
        elif channel:
            # A channel the customer has not used in this conversation: their contact point for it.
            kind = CONTACT_KIND_FOR_CHANNEL.get(channel, 0)
            contact = conn.execute(
                "SELECT value FROM contact_points WHERE customer_id = ? AND kind = ? ORDER BY created_at_us DESC",
                (conversation.customer_id, kind),
            ).fetchone()
            if contact is None:
                raise FailedPrecondition(f"the customer has no {CHANNEL_NAMES.get(channel, 'such')} contact")
            route = ReplyRoute(channel, conversation.inbox_id, ContactPoint(kind, contact[0]), "")
        else:
            raise NotFound(f"conversation {conversation.conversation_id} has no customer message to reply to")
        opted_out = conn.execute(
            "SELECT 1 FROM opt_outs WHERE channel = ? AND kind = ? AND value = ?",
            (route.channel, route.recipient.kind, route.recipient.value),
        ).fetchone()
        if opted_out:
            raise FailedPrecondition(f"the customer opted out of {CHANNEL_NAMES.get(route.channel, 'this channel')}")
        return route

    async def record_reply(
        self,
        conversation_id: str,
        agent_id: str,
        text: str,
        message_id: str,
        client_reply_id: str,
        now_us: int,
        channel: int = 0,
    ) -> tuple[StoredMessage, ReplyRoute, bool]:
        def write(conn: sqlite3.Connection) -> tuple[StoredMessage, ReplyRoute, bool]:
            conversation = self._must(conn, conversation_id)
            existing = self._item(conn, message_id)
            if existing is not None:
                # A retry goes where the stored reply went, whatever changed since.
                row = conn.execute(
                    "SELECT inbox_id, contact_kind, contact_value FROM messages WHERE message_id = ?", (message_id,)
                ).fetchone()
                recipient = ContactPoint(row["contact_kind"], row["contact_value"])
                return existing, ReplyRoute(existing.channel, row["inbox_id"], recipient, ""), True
            route = self._route(conn, conversation, channel)
            self._append(
                conn,
                conversation_id,
                message_id=message_id,
                customer_id=conversation.customer_id,
                direction=Direction.OUTBOUND,
                channel=route.channel,
                inbox_id=route.inbox_id,
                agent_id=agent_id,
                contact=route.recipient,
                text=text,
                client_reply_id=client_reply_id,
                sent_at_us=now_us,
                received_at_us=now_us,
                now_us=now_us,
            )
            conn.execute(
                "INSERT OR IGNORE INTO message_refs (ref, conversation_id) VALUES (?, ?)", (message_id, conversation_id)
            )
            stored = self._item(conn, message_id)
            assert stored is not None
            return stored, route, False

        return await self._db.write(write)

    async def add_note(
        self, conversation_id: str, agent_id: str, text: str, note_id: str, now_us: int
    ) -> tuple[StoredMessage, bool]:
        def write(conn: sqlite3.Connection) -> tuple[StoredMessage, bool]:
            conversation = self._must(conn, conversation_id)
            existing = self._item(conn, note_id)
            if existing is not None:
                return existing, True
            note = self._activity(
                conn, conversation, text, activity_id=note_id, actor=agent_id, at_us=now_us, data={}, kind=ItemKind.NOTE
            )
            return note, False

        return await self._db.write(write)

    async def set_status(
        self,
        conversation_id: str,
        status: ConversationStatus,
        snoozed_until_us: int,
        actor: str,
        activity_text: str,
        now_us: int,
    ) -> tuple[Conversation, ConversationStatus, StoredMessage | None]:
        """Change the status; returns the conversation, the status before, and the timeline line (None if unchanged)."""

        def write(conn: sqlite3.Connection) -> tuple[Conversation, ConversationStatus, StoredMessage | None]:
            current = self._must(conn, conversation_id)
            if current.status == status and current.snoozed_until_us == snoozed_until_us:
                return current, current.status, None
            if current.status == ConversationStatus.RESOLVED and status != ConversationStatus.RESOLVED:
                other = conn.execute(
                    "SELECT conversation_id FROM conversations WHERE customer_id = ? AND status != ? "
                    "AND conversation_id != ?",
                    (current.customer_id, int(ConversationStatus.RESOLVED), conversation_id),
                ).fetchone()
                if other is not None:
                    raise FailedPrecondition(
                        f"the customer already has an active conversation ({other[0]}); continue there"
                    )
            conn.execute(
                "UPDATE conversations SET status = ?, snoozed_until_us = ?, resolved_at_us = ? "
                "WHERE conversation_id = ?",
                (
                    int(status),
                    snoozed_until_us,
                    now_us if status == ConversationStatus.RESOLVED else 0,
                    conversation_id,
                ),
            )
            activity = self._activity(
                conn,
                current,
                activity_text,
                activity_id=new_id(),
                actor=actor,
                at_us=now_us,
                data={"activity": "status_changed", "status": status.name.lower()},
            )
            return self._must(conn, conversation_id), current.status, activity

        return await self._db.write(write)

    async def update_tags(
        self, conversation_id: str, add: tuple[str, ...], remove: tuple[str, ...], actor: str, now_us: int
    ) -> tuple[Conversation, StoredMessage | None]:
        def write(conn: sqlite3.Connection) -> tuple[Conversation, StoredMessage | None]:
            current = self._must(conn, conversation_id)
            added = [t for t in add if t not in current.tags]
            removed = [t for t in remove if t in current.tags]
            if not added and not removed:
                return current, None
            conn.executemany(
                "INSERT OR IGNORE INTO conversation_tags VALUES (?, ?)", [(conversation_id, t) for t in added]
            )
            conn.executemany(
                "DELETE FROM conversation_tags WHERE conversation_id = ? AND tag = ?",
                [(conversation_id, t) for t in removed],
            )
            parts = [f"added {', '.join(added)}" if added else "", f"removed {', '.join(removed)}" if removed else ""]
            activity = self._activity(
                conn,
                current,
                f"Tags {' and '.join(p for p in parts if p)} by {actor}",
                activity_id=new_id(),
                actor=actor,
                at_us=now_us,
                data={"activity": "tags_changed", "added": ",".join(added), "removed": ",".join(removed)},
            )
            return self._must(conn, conversation_id), activity

        return await self._db.write(write)

    async def add_participant(
        self, conversation_id: str, participant: str, actor: str, now_us: int
    ) -> tuple[Conversation, StoredMessage | None]:
        def write(conn: sqlite3.Connection) -> tuple[Conversation, StoredMessage | None]:
            current = self._must(conn, conversation_id)
            if participant in current.participants:
                return current, None
            conn.execute("INSERT INTO conversation_participants VALUES (?, ?)", (conversation_id, participant))
            activity = self._activity(
                conn,
                current,
                f"{participant} joined, added by {actor}",
                activity_id=new_id(),
                actor=actor,
                at_us=now_us,
                data={"activity": "participant_added", "agent_id": participant},
            )
            return self._must(conn, conversation_id), activity

        return await self._db.write(write)

    async def set_assignee(
        self, conversation_id: str, agent_id: str, activity_id: str, now_us: int
    ) -> StoredMessage | None:
        """Record the assignee; returns the timeline line, or None when unknown or unchanged."""

        def write(conn: sqlite3.Connection) -> StoredMessage | None:
            current = self._conversation(conn, conversation_id)
            if current is None or current.assignee_agent_id == agent_id:
                return None
            conn.execute(
                "UPDATE conversations SET assignee_agent_id = ? WHERE conversation_id = ?", (agent_id, conversation_id)
            )
            return self._activity(
                conn,
                current,
                f"Assigned to {agent_id}" if agent_id else "Back in the queue",
                activity_id=activity_id,
                actor="routing",
                at_us=now_us,
                data={"activity": "assigned", "agent_id": agent_id},
            )

        return await self._db.write(write)

    async def set_opt_out(self, channel: int, contact: ContactPoint, opted_out: bool) -> None:
        values = (channel, contact.kind, contact.value)
        statement = (
            "INSERT OR IGNORE INTO opt_outs VALUES (?, ?, ?)"
            if opted_out
            else "DELETE FROM opt_outs WHERE channel = ? AND kind = ? AND value = ?"
        )
        await self._db.write(lambda conn: conn.execute(statement, values))

    # --- queries --------------------------------------------------------------------------

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return await self._db.read(lambda conn: self._conversation(conn, conversation_id))

    async def list_conversations(
        self,
        *,
        assignee_agent_id: str = "",
        statuses: tuple[ConversationStatus, ...] = (),
        team: str = "",
        channels: tuple[int, ...] = (),
        language: str = "",
        tag: str = "",
        customer_id: str = "",
        limit: int = 50,
        cursor: str = "",
    ) -> tuple[list[Conversation], str]:
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (
            ("assignee_agent_id", assignee_agent_id),
            ("team", team),
            ("language", language),
            ("customer_id", customer_id),
        ):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if statuses:
            clauses.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(int(s) for s in statuses)
        if channels:
            clauses.append(f"channel IN ({', '.join('?' for _ in channels)})")
            params.extend(channels)
        if tag:
            clauses.append("conversation_id IN (SELECT conversation_id FROM conversation_tags WHERE tag = ?)")
            params.append(tag)
        if cursor:
            activity, conversation_id = decode_cursor(cursor, 2)
            clauses.append("(last_activity_at_us, conversation_id) < (?, ?)")
            params.extend((activity, conversation_id))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = (
            f"SELECT conversation_id FROM conversations {where} "
            "ORDER BY last_activity_at_us DESC, conversation_id DESC LIMIT ?"
        )
        params.append(limit + 1)

        def read(conn: sqlite3.Connection) -> list[Conversation]:
            ids = [row[0] for row in conn.execute(query, params).fetchall()]
            return [c for c in (self._conversation(conn, i) for i in ids) if c is not None]

        rows = await self._db.read(read)
        page = rows[:limit]
        last = page[-1] if page else None
        next_cursor = (
            _encode_cursor(last.last_activity_at_us, last.conversation_id) if last and len(rows) > limit else ""
        )
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

    async def timeline(
        self, customer_id: str, limit: int, cursor: str, exclude_notes: bool
    ) -> tuple[list[StoredMessage], str]:
        """Every item of a customer, oldest first: provider time, then arrival, then position."""
        clauses = ["customer_id = ?"]
        params: list[object] = [customer_id]
        if exclude_notes:
            clauses.append("kind != ?")
            params.append(int(ItemKind.NOTE))
        if cursor:
            clauses.append("(sent_at_us, received_at_us, conversation_id, sequence) > (?, ?, ?, ?)")
            params.extend(decode_cursor(cursor, 4))
        params.append(limit + 1)
        query = (
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(clauses)} "
            "ORDER BY sent_at_us, received_at_us, conversation_id, sequence LIMIT ?"
        )
        rows = await self._db.read(lambda conn: [_message(r) for r in conn.execute(query, params).fetchall()])
        page = rows[:limit]
        next_cursor = ""
        if len(rows) > limit:
            last = page[-1]
            next_cursor = _encode_cursor(last.sent_at_us, last.received_at_us, last.conversation_id, last.sequence)
        return page, next_cursor

    # --- languages and translations ------------------------------------------------------------

    async def record_language(self, message_id: str, language: str, fallback: bool) -> StoredMessage | None:
        """The message's language; a confident detection also becomes the conversation's and customer's."""

        def write(conn: sqlite3.Connection) -> StoredMessage | None:
            item = self._item(conn, message_id)
            if item is None or not language:
                return item
            conn.execute("UPDATE messages SET language = ? WHERE message_id = ?", (language, message_id))
            if not fallback:
                conn.execute(
                    "UPDATE conversations SET language = ? WHERE conversation_id = ?", (language, item.conversation_id)
                )
                conn.execute("UPDATE customers SET language = ? WHERE customer_id = ?", (language, item.customer_id))
            return self._item(conn, message_id)

        return await self._db.write(write)

    async def record_translation(self, message_id: str, language: str, text: str) -> StoredMessage | None:
        """Keep a translation beside the original."""

        def write(conn: sqlite3.Connection) -> StoredMessage | None:
            row = conn.execute("SELECT translations FROM messages WHERE message_id = ?", (message_id,)).fetchone()
            if row is None:
                return None
            translations = {**json.loads(row[0]), language: text}
            conn.execute(
                "UPDATE messages SET translations = ?, translation_status = 'done' WHERE message_id = ?",
                (json.dumps(translations, sort_keys=True), message_id),
            )
            return self._item(conn, message_id)

        return await self._db.write(write)

    async def mark_translation_pending(self, message_id: str) -> StoredMessage | None:
        def write(conn: sqlite3.Connection) -> StoredMessage | None:
            conn.execute(
                "UPDATE messages SET translation_status = 'pending' "
                "WHERE message_id = ? AND translation_status != 'done'",
                (message_id,),
            )
            return self._item(conn, message_id)

        return await self._db.write(write)

    async def wake_snoozed(self, now_us: int) -> list[tuple[Conversation, StoredMessage]]:
        """Open every conversation whose snooze has run out; each is woken once, whichever replica asks."""

        def write(conn: sqlite3.Connection) -> list[tuple[Conversation, StoredMessage]]:
            due = conn.execute(
                "SELECT conversation_id FROM conversations WHERE status = ? AND snoozed_until_us <= ? LIMIT 500",
                (int(ConversationStatus.SNOOZED), now_us),
            ).fetchall()
            woken = []
            for (conversation_id,) in due:
                current = self._must(conn, conversation_id)
                conn.execute(
                    "UPDATE conversations SET status = ?, snoozed_until_us = 0 WHERE conversation_id = ?",
                    (int(ConversationStatus.OPEN), conversation_id),
                )
                activity = self._activity(
                    conn,
                    current,
                    "Snooze ended",
                    activity_id=derived_id("snooze-ended", conversation_id, str(current.snoozed_until_us)),
                    actor="system",
                    at_us=now_us,
                    data={"activity": "status_changed", "status": "open"},
                )
                woken.append((self._must(conn, conversation_id), activity))
            return woken

        return await self._db.write(write)

    async def search(self, query: str, viewer: Viewer, limit: int, offset: int) -> list[StoredMessage]:
        """Messages and notes matching `query` (an FTS5 expression), newest first, in conversations the viewer
        sees. Newest first (not by rank) lets the index stop at the page instead of ranking every match."""
        clauses = ["messages_fts MATCH ?"]
        params: list[object] = [query]
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
        columns = ", ".join(f"m.{c.strip()}" for c in _MESSAGE_COLUMNS.split(","))
        sql = (
            f"SELECT {columns} FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid "
            f"JOIN conversations c ON c.conversation_id = m.conversation_id WHERE {' AND '.join(clauses)} "
            "ORDER BY messages_fts.rowid DESC LIMIT ? OFFSET ?"
        )
        return await self._db.read(lambda conn: [_message(r) for r in conn.execute(sql, params).fetchall()])

    async def export(self, customer_id: str) -> tuple[list[Conversation], list[StoredMessage], list[dict[str, object]]]:
        """All conversations, items and audit entries of a customer."""

        def read(conn: sqlite3.Connection) -> tuple[list[Conversation], list[StoredMessage], list[dict[str, object]]]:
            ids = conn.execute(
                "SELECT conversation_id FROM conversations WHERE customer_id = ? ORDER BY opened_at_us", (customer_id,)
            ).fetchall()
            conversations = [c for c in (self._conversation(conn, i[0]) for i in ids) if c is not None]
            items = [
                _message(r)
                for r in conn.execute(
                    f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE customer_id = ? "
                    "ORDER BY sent_at_us, received_at_us, conversation_id, sequence",
                    (customer_id,),
                ).fetchall()
            ]
            audit = [
                {"at_us": r["at_us"], "actor": r["actor"], "action": r["action"], "details": json.loads(r["details"])}
                for r in conn.execute("SELECT * FROM audit_log WHERE customer_id = ? ORDER BY at_us", (customer_id,))
            ]
            return conversations, items, audit

        return await self._db.read(read)

    @staticmethod
    def _audit(
        conn: sqlite3.Connection, actor: str, action: str, customer_id: str, details: dict[str, object], now_us: int
    ) -> None:
        conn.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?)",
            (new_id(), now_us, actor, action, customer_id, json.dumps(details, sort_keys=True)),
        )

    async def record_audit(
        self, actor: str, action: str, customer_id: str, details: dict[str, object], now_us: int
    ) -> None:
        await self._db.write(lambda conn: self._audit(conn, actor, action, customer_id, details, now_us))

    async def erase_customer(self, customer_id: str, actor: str, reason: str, now_us: int) -> ErasureReceipt:
        """Delete everything about a customer; keep a tombstone (who, when, why, how much), no content."""

        def write(conn: sqlite3.Connection) -> ErasureReceipt:
            if conn.execute("SELECT 1 FROM customers WHERE customer_id = ?", (customer_id,)).fetchone() is None:
                raise NotFound(f"customer {customer_id} not found")
            contacts = tuple(
                ContactPoint(k, v)
                for k, v in conn.execute(
                    "SELECT kind, value FROM contact_points WHERE customer_id = ?", (customer_id,)
                ).fetchall()
            )
            conversation_ids = [
                r[0]
                for r in conn.execute("SELECT conversation_id FROM conversations WHERE customer_id = ?", (customer_id,))
            ]
            items = conn.execute("DELETE FROM messages WHERE customer_id = ?", (customer_id,)).rowcount
            for table in ("conversation_tags", "conversation_participants", "message_refs"):
                conn.executemany(f"DELETE FROM {table} WHERE conversation_id = ?", [(c,) for c in conversation_ids])
            conn.execute("DELETE FROM conversations WHERE customer_id = ?", (customer_id,))
            conn.executemany("DELETE FROM opt_outs WHERE kind = ? AND value = ?", [(c.kind, c.value) for c in contacts])
            conn.execute(
                "DELETE FROM merge_suggestions WHERE customer_id = ? OR other_customer_id = ?",
                (customer_id, customer_id),
            )
            conn.execute("DELETE FROM contact_points WHERE customer_id = ?", (customer_id,))
            conn.execute("DELETE FROM audit_log WHERE customer_id = ?", (customer_id,))
            conn.execute("DELETE FROM customers WHERE customer_id = ?", (customer_id,))
            counts = {"conversations": len(conversation_ids), "items": items, "contact_points": len(contacts)}
            conn.execute(
                "INSERT OR REPLACE INTO erasures VALUES (?, ?, ?, ?, ?)",
                (customer_id, now_us, actor, reason, json.dumps(counts)),
            )
            return ErasureReceipt(customer_id, contacts, len(conversation_ids), items, now_us)

        return await self._db.write(write)

    async def erasure(self, customer_id: str) -> dict[str, object] | None:
        row = await self._db.read(
            lambda conn: conn.execute("SELECT * FROM erasures WHERE customer_id = ?", (customer_id,)).fetchone()
        )
        if row is None:
            return None
        return {
            "customer_id": row["customer_id"],
            "erased_at_us": row["erased_at_us"],
            "erased_by": row["erased_by"],
            "reason": row["reason"],
            "counts": json.loads(row["counts"]),
        }

    async def profile(self, customer_id: str) -> CustomerFacts | None:
        def read(conn: sqlite3.Connection) -> CustomerFacts | None:
            customer = conn.execute("SELECT * FROM customers WHERE customer_id = ?", (customer_id,)).fetchone()
            if customer is None:
                return None
            contacts = conn.execute(
                "SELECT kind, value FROM contact_points WHERE customer_id = ? ORDER BY created_at_us", (customer_id,)
            ).fetchall()
            spans = conn.execute(
                "SELECT MIN(sent_at_us), MAX(sent_at_us) FROM messages WHERE customer_id = ? AND direction = ?",
                (customer_id, int(Direction.INBOUND)),
            ).fetchone()
            channels = conn.execute(
                "SELECT DISTINCT channel FROM messages WHERE customer_id = ? AND direction = ? ORDER BY channel",
                (customer_id, int(Direction.INBOUND)),
            ).fetchall()
            count, open_id = conn.execute(
                "SELECT COUNT(*), MAX(CASE WHEN status != ? THEN conversation_id END) FROM conversations "
                "WHERE customer_id = ?",
                (int(ConversationStatus.RESOLVED), customer_id),
            ).fetchone()
            last_agent = conn.execute(
                "SELECT agent_id FROM messages WHERE customer_id = ? AND direction = ? AND agent_id != '' "
                "ORDER BY sent_at_us DESC LIMIT 1",
                (customer_id, int(Direction.OUTBOUND)),
            ).fetchone()
            return CustomerFacts(
                customer_id=customer_id,
                display_name=customer["display_name"],
                contact_points=tuple(ContactPoint(k, v) for k, v in contacts),
                first_contact_at_us=spans[0] or customer["created_at_us"],
                last_contact_at_us=spans[1] or customer["created_at_us"],
                channels_used=tuple(c[0] for c in channels),
                conversation_count=count,
                open_conversation_id=open_id or "",
                last_agent_id=last_agent[0] if last_agent else "",
                attributes=tuple(sorted(json.loads(customer["attributes"]).items())),
            )

        return await self._db.read(read)
