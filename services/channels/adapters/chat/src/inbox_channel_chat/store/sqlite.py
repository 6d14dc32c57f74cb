"""SQLite implementation of ChatRecords: the embedded default."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from inbox_runtime.sqlite import SqliteStore

from inbox_channel_chat.store import PendingReply, Upload, VisitorIdentity

SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    visitor_id TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at_us INTEGER NOT NULL,
    delivered_at_us INTEGER
);
CREATE INDEX IF NOT EXISTS chat_outbox_pending ON chat_outbox(visitor_id, seq) WHERE delivered_at_us IS NULL;
CREATE TABLE IF NOT EXISTS chat_identities (
    visitor_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    verified INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_uploads (
    attachment_id TEXT NOT NULL,
    visitor_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    PRIMARY KEY (attachment_id, visitor_id)
);
"""


# A reply that is a satisfaction survey (the widget shows rating buttons under it).
SURVEYS = """
ALTER TABLE chat_outbox ADD COLUMN survey INTEGER NOT NULL DEFAULT 0;
"""


class SqliteChatRecords(SqliteStore):
    MIGRATIONS = (SCHEMA, SURVEYS)

    async def hold(
        self, message_id: str, conversation_id: str, visitor_id: str, text: str, now_us: int, survey: bool = False
    ) -> None:
        values = (message_id, conversation_id, visitor_id, text, now_us, int(survey))
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO chat_outbox (message_id, conversation_id, visitor_id, text, created_at_us, "
                "survey) VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )
        )

    async def pending(self, visitor_id: str) -> list[PendingReply]:
        def read(conn: sqlite3.Connection) -> list[PendingReply]:
            found = conn.execute(
                "SELECT message_id, conversation_id, text, created_at_us, survey FROM chat_outbox "
                "WHERE visitor_id = ? AND delivered_at_us IS NULL ORDER BY seq",
                (visitor_id,),
            ).fetchall()
            return [PendingReply(row[0], row[1], row[2], row[3], bool(row[4])) for row in found]

        return await self._db.read(read)

    async def mark_delivered(self, message_id: str, now_us: int) -> bool:
        values = (now_us, message_id)
        return await self._db.write(
            lambda conn: (
                conn.execute(
                    "UPDATE chat_outbox SET delivered_at_us = ? WHERE message_id = ? AND delivered_at_us IS NULL",
                    values,
                ).rowcount
                > 0
            )
        )

    async def conversation_of(self, message_id: str, visitor_id: str) -> str | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT conversation_id FROM chat_outbox WHERE message_id = ? AND visitor_id = ?",
                (message_id, visitor_id),
            ).fetchone()
        )
        return str(row[0]) if row else None

    async def set_identity(self, visitor_id: str, identity: VisitorIdentity) -> None:
        values = (visitor_id, identity.user_id, identity.email, identity.name, int(identity.verified))
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO chat_identities VALUES (?, ?, ?, ?, ?) ON CONFLICT (visitor_id) DO UPDATE SET "
                "user_id = excluded.user_id, email = excluded.email, name = excluded.name, "
                "verified = excluded.verified",
                values,
            )
        )

    async def identity(self, visitor_id: str) -> VisitorIdentity | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT user_id, email, name, verified FROM chat_identities WHERE visitor_id = ?", (visitor_id,)
            ).fetchone()
        )
        return VisitorIdentity(row[0], row[1], row[2], bool(row[3])) if row else None

    async def add_upload(self, visitor_id: str, upload: Upload) -> None:
        values = (upload.attachment_id, visitor_id, upload.filename, upload.content_type, upload.size_bytes)
        await self._db.write(
            lambda conn: conn.execute("INSERT OR IGNORE INTO chat_uploads VALUES (?, ?, ?, ?, ?)", values)
        )

    async def upload(self, attachment_id: str, visitor_id: str | None) -> Upload | None:
        def read(conn: sqlite3.Connection) -> Upload | None:
            query = "SELECT * FROM chat_uploads WHERE attachment_id = ?"
            params: tuple[str, ...] = (attachment_id,)
            if visitor_id is not None:
                query += " AND visitor_id = ?"
                params = (attachment_id, visitor_id)
            row = conn.execute(query, params).fetchone()
            if row is None:
                return None
            return Upload(row["attachment_id"], row["filename"], row["content_type"], row["size_bytes"])

        return await self._db.read(read)

    async def erase_visitors(self, visitor_ids: Sequence[str]) -> tuple[int, list[str]]:
        def write(conn: sqlite3.Connection) -> tuple[int, list[str]]:
            removed = 0
            orphans: list[str] = []
            for visitor_id in visitor_ids:
                uploads = [
                    r[0]
                    for r in conn.execute("SELECT attachment_id FROM chat_uploads WHERE visitor_id = ?", (visitor_id,))
                ]
                for table in ("chat_outbox", "chat_identities", "chat_uploads"):
                    removed += conn.execute(f"DELETE FROM {table} WHERE visitor_id = ?", (visitor_id,)).rowcount
                orphans.extend(
                    a
                    for a in uploads
                    if conn.execute("SELECT 1 FROM chat_uploads WHERE attachment_id = ?", (a,)).fetchone() is None
                )
            return removed, orphans

        erased = await self._db.write(write)
        await self._db.scrub()
        return erased
