from __future__ import annotations

import sqlite3

from inbox_runtime.sqlite import SqliteStore

from inbox_channels.domain import Delivery, DeliveryStatus, status_advances

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    message_id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    channel INTEGER NOT NULL,
    status INTEGER NOT NULL,
    detail TEXT NOT NULL,
    updated_at_us INTEGER NOT NULL
);
"""


class SqliteDeliveryStore(SqliteStore):
    MIGRATIONS = (SCHEMA,)

    async def record(
        self, message_id: str, conversation_id: str, channel: int, status: DeliveryStatus, detail: str, now_us: int
    ) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT status FROM deliveries WHERE message_id = ?", (message_id,)).fetchone()
            if not status_advances(row["status"] if row else None, status):
                return False
            conn.execute(
                "INSERT INTO deliveries (message_id, conversation_id, channel, status, detail, updated_at_us) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET status = excluded.status, "
                "detail = excluded.detail, updated_at_us = excluded.updated_at_us",
                (message_id, conversation_id, channel, int(status), detail, now_us),
            )
            return True

        return await self._db.write(write)

    async def get(self, message_id: str) -> Delivery | None:
        def read(conn: sqlite3.Connection) -> Delivery | None:
            row = conn.execute("SELECT * FROM deliveries WHERE message_id = ?", (message_id,)).fetchone()
            if row is None:
                return None
            return Delivery(
                row["message_id"],
                row["conversation_id"],
                row["channel"],
                row["status"],
                row["detail"],
                row["updated_at_us"],
            )

        return await self._db.read(read)
