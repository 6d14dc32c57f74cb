"""SQLite implementation of EmailRecords: the embedded default."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from inbox_runtime.sqlite import SqliteStore

from inbox_channel_email.compose import ReplyContext
from inbox_channel_email.store import ReceivedMail, SentMail

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

# Who sent each mail and which files it keeps, so that erasing the sender finds them. Mails received
# before this version have neither: an erasure cannot find those (the README says so).
MIGRATION_V2 = """
ALTER TABLE received_mail ADD COLUMN sender TEXT NOT NULL DEFAULT '';
ALTER TABLE received_mail ADD COLUMN files TEXT NOT NULL DEFAULT '';
CREATE INDEX received_mail_by_sender ON received_mail(sender);
"""


class SqliteEmailRecords(SqliteStore):
    MIGRATIONS = (SCHEMA, MIGRATION_V2)

    async def remember_received(self, mail: ReceivedMail) -> None:
        values = (
            mail.message_id,
            mail.email_message_id,
            " ".join(mail.references),
            mail.subject,
            mail.inbox_address,
            mail.sender.lower(),
            " ".join(mail.files),
        )
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO received_mail (message_id, email_message_id, references_ids, subject, "
                "inbox_address, sender, files) VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        )

    async def erase_senders(self, senders: Sequence[str]) -> tuple[int, list[str]]:
        wanted = [s.lower() for s in senders]

        def write(conn: sqlite3.Connection) -> tuple[int, list[str]]:
            files: set[str] = set()
            removed = 0
            for sender in wanted:
                for (kept,) in conn.execute("SELECT files FROM received_mail WHERE sender = ?", (sender,)):
                    files.update(kept.split())
                removed += conn.execute("DELETE FROM received_mail WHERE sender = ?", (sender,)).rowcount
            still_used = {
                digest
                for digest in files
                if conn.execute(
                    "SELECT 1 FROM received_mail WHERE ' ' || files || ' ' LIKE ?", (f"% {digest} %",)
                ).fetchone()
            }
            return removed, sorted(files - still_used)

        erased = await self._db.write(write)
        await self._db.scrub()
        return erased

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
