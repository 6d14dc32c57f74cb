"""SQLite implementation of TwilioRecords: the embedded default."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from inbox_runtime.sqlite import SqliteStore

from inbox_channel_twilio.store import ProviderItem

SCHEMA = """
CREATE TABLE IF NOT EXISTS opt_outs (
    number TEXT PRIMARY KEY,
    keyword TEXT NOT NULL,
    opted_out_at_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS provider_items (
    message_id TEXT PRIMARY KEY,
    provider_sid TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at_us INTEGER NOT NULL
);
"""


class SqliteTwilioRecords(SqliteStore):
    MIGRATIONS = (SCHEMA,)

    async def set_opt_out(self, number: str, keyword: str, now_us: int) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO opt_outs (number, keyword, opted_out_at_us) VALUES (?, ?, ?) "
                "ON CONFLICT (number) DO UPDATE SET keyword = excluded.keyword, "
                "opted_out_at_us = excluded.opted_out_at_us",
                (number, keyword, now_us),
            )
        )

    async def clear_opt_out(self, number: str) -> None:
        await self._db.write(lambda conn: conn.execute("DELETE FROM opt_outs WHERE number = ?", (number,)))

    async def erase_numbers(self, numbers: Sequence[str]) -> int:
        def write(conn: sqlite3.Connection) -> int:
            return sum(conn.execute("DELETE FROM opt_outs WHERE number = ?", (n,)).rowcount for n in numbers)

        erased = await self._db.write(write)
        await self._db.scrub()
        return erased

    async def is_opted_out(self, number: str) -> bool:
        def read(conn: sqlite3.Connection) -> bool:
            return conn.execute("SELECT 1 FROM opt_outs WHERE number = ?", (number,)).fetchone() is not None

        return await self._db.read(read)

    async def remember(self, item: ProviderItem, kind: str, now_us: int) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO provider_items (message_id, provider_sid, conversation_id, kind, created_at_us) "
                "VALUES (?, ?, ?, ?, ?)",
                (item.message_id, item.provider_sid, item.conversation_id, kind, now_us),
            )
        )

    async def by_message(self, message_id: str) -> ProviderItem | None:
        return await self._one("message_id", message_id)

    async def by_sid(self, sid: str) -> ProviderItem | None:
        return await self._one("provider_sid", sid)

    async def _one(self, column: str, value: str) -> ProviderItem | None:
        def read(conn: sqlite3.Connection) -> ProviderItem | None:
            row = conn.execute(
                f"SELECT message_id, provider_sid, conversation_id FROM provider_items WHERE {column} = ?", (value,)
            ).fetchone()
            return ProviderItem(row[0], row[1], row[2]) if row else None

        return await self._db.read(read)
