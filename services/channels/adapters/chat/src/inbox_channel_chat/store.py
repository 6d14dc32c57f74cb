"""The chat adapter's records: the outbox of replies per visitor, identities, and uploads."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from inbox_channel_sdk.files import FileStore
from inbox_runtime.sqlite import SqliteDatabase

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


@dataclass(frozen=True)
class PendingReply:
    message_id: str
    conversation_id: str
    text: str
    created_at_us: int


@dataclass(frozen=True)
class VisitorIdentity:
    user_id: str
    email: str
    name: str
    verified: bool


@dataclass(frozen=True)
class Upload:
    attachment_id: str
    filename: str
    content_type: str
    size_bytes: int


class ChatStore:
    def __init__(self, database: SqliteDatabase, files: FileStore) -> None:
        self._db = database
        self._files = files

    @classmethod
    async def open(cls, data_dir: Path) -> ChatStore:
        database = SqliteDatabase(data_dir / "chat.sqlite3")
        await database.open(SCHEMA)
        return cls(database, FileStore(data_dir / "chat-uploads"))

    async def close(self) -> None:
        await self._db.close()

    async def hold(self, message_id: str, conversation_id: str, visitor_id: str, text: str, now_us: int) -> None:
        """Keep a reply until the visitor has it; a second hold of the same message changes nothing."""
        values = (message_id, conversation_id, visitor_id, text, now_us)
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO chat_outbox (message_id, conversation_id, visitor_id, text, created_at_us) "
                "VALUES (?, ?, ?, ?, ?)",
                values,
            )
        )

    async def pending(self, visitor_id: str) -> list[PendingReply]:
        def read(conn: sqlite3.Connection) -> list[PendingReply]:
            rows = conn.execute(
                "SELECT message_id, conversation_id, text, created_at_us FROM chat_outbox "
                "WHERE visitor_id = ? AND delivered_at_us IS NULL ORDER BY seq",
                (visitor_id,),
            ).fetchall()
            return [PendingReply(*row) for row in rows]

        return await self._db.read(read)

    async def mark_delivered(self, message_id: str, now_us: int) -> bool:
        """True for the first caller only: a reply counts as delivered once."""
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
        """The conversation of a reply sent to this visitor (None if it was not theirs)."""
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

    async def save_upload(self, visitor_id: str, filename: str, content_type: str, data: bytes) -> Upload:
        upload = Upload(self._files.save(data), filename, content_type, len(data))
        values = (upload.attachment_id, visitor_id, upload.filename, upload.content_type, upload.size_bytes)
        await self._db.write(
            lambda conn: conn.execute("INSERT OR IGNORE INTO chat_uploads VALUES (?, ?, ?, ?, ?)", values)
        )
        return upload

    async def erase_visitors(self, visitor_ids: list[str]) -> int:
        """Delete the outbox, identity and uploads of these visitors (files nobody else uploaded too)."""

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

        removed, orphans = await self._db.write(write)
        for digest in orphans:
            self._files.delete(digest)
        return removed

    async def upload(self, attachment_id: str, visitor_id: str | None = None) -> tuple[Upload, Path] | None:
        """An upload (of this visitor, when given) and its file."""

        def read(conn: sqlite3.Connection) -> sqlite3.Row | None:
            query = "SELECT * FROM chat_uploads WHERE attachment_id = ?"
            params: tuple[str, ...] = (attachment_id,)
            if visitor_id is not None:
                query += " AND visitor_id = ?"
                params = (attachment_id, visitor_id)
            result: sqlite3.Row | None = conn.execute(query, params).fetchone()
            return result

        row = await self._db.read(read)
        if row is None:
            return None
        path = self._files.path(attachment_id)
        if path is None:
            return None
        return Upload(row["attachment_id"], row["filename"], row["content_type"], row["size_bytes"]), path
