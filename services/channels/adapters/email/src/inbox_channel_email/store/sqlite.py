"""SQLite implementation of EmailRecords: the embedded default."""

from __future__ import annotations

import sqlite3

from inbox_runtime.sqlite import SqliteStore

from inbox_channel_email.compose import ReplyContext
from inbox_channel_email.store import SentMail

SCHEMA = """
CREATE TABLE IF NOT EXISTS received_mail (
    message_id TEXT PRIMARY KEY,
    email_message_id TEXT NOT NULL,
    references_ids TEXT NOT NULL,
    subject TEXT NOT NULL,
    inbox_address TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sent_mail (
    message_id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    -- Local part of the Message-ID we sent it with (the delivery's idempotency key).
    mail_key TEXT NOT NULL UNIQUE,
    sent_at_us INTEGER NOT NULL
);
"""


class SqliteEmailRecords(SqliteStore):
    MIGRATIONS = (SCHEMA,)

    async def remember_received(
        self, message_id: str, email_message_id: str, references: tuple[str, ...], subject: str, inbox_address: str
    ) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO received_mail VALUES (?, ?, ?, ?, ?)",
                (message_id, email_message_id, " ".join(references), subject, inbox_address),
            )
        )

    async def reply_context(self, message_id: str) -> tuple[ReplyContext, str]:
        """Threading headers for answering `message_id`, and the inbox address it was sent to."""

        def read(conn: sqlite3.Connection) -> tuple[ReplyContext, str]:
            row = conn.execute("SELECT * FROM received_mail WHERE message_id = ?", (message_id,)).fetchone()
            if row is None:
                return ReplyContext(), ""
            references = tuple(r for r in row["references_ids"].split() if r)
            return ReplyContext(row["email_message_id"], references, row["subject"]), row["inbox_address"]

        return await self._db.read(read)

    async def mark_sent(self, message_id: str, conversation_id: str, mail_key: str, now_us: int) -> None:
        values = (message_id, conversation_id, mail_key, now_us)
        await self._db.write(lambda conn: conn.execute("INSERT OR IGNORE INTO sent_mail VALUES (?, ?, ?, ?)", values))

    async def sent(self, *, message_id: str = "", mail_key: str = "") -> SentMail | None:
        """A sent mail, found by our message id or by the key in its Message-ID."""
        column, value = ("message_id", message_id) if message_id else ("mail_key", mail_key)

        def read(conn: sqlite3.Connection) -> SentMail | None:
            row = conn.execute(
                f"SELECT message_id, conversation_id FROM sent_mail WHERE {column} = ?", (value,)
            ).fetchone()
            return SentMail(row[0], row[1]) if row else None

        return await self._db.read(read)
