"""SQLite implementation of DeliveryStore: the embedded default."""

from __future__ import annotations

import sqlite3

from inbox_events.channels import sql_name_of_enum
from inbox_runtime.sqlite import SqliteStore

from inbox_channels.domain import Delivery, delivery_rank

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

# Each status a message reached, once; the furthest is its status.
MIGRATION_V2 = """
CREATE TABLE delivery_statuses (
    message_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    conversation_id TEXT NOT NULL,
    channel INTEGER NOT NULL,
    detail TEXT NOT NULL,
    updated_at_us INTEGER NOT NULL,
    PRIMARY KEY (message_id, status)
);
INSERT INTO delivery_statuses
    SELECT message_id, status, CASE status WHEN 5 THEN 100 ELSE status END, conversation_id, channel, detail,
           updated_at_us
    FROM deliveries;
DROP TABLE deliveries;
"""

# Channels by name (`sms`, `telegram`) instead of the v1 enum's number.
MIGRATION_V3 = f"""
CREATE TABLE delivery_statuses_v3 (
    message_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    detail TEXT NOT NULL,
    updated_at_us INTEGER NOT NULL,
    PRIMARY KEY (message_id, status)
);
INSERT INTO delivery_statuses_v3
    SELECT message_id, status, rank, conversation_id, {sql_name_of_enum("channel")}, detail, updated_at_us
    FROM delivery_statuses;
DROP TABLE delivery_statuses;
ALTER TABLE delivery_statuses_v3 RENAME TO delivery_statuses;
"""


class SqliteDeliveryStore(SqliteStore):
    MIGRATIONS = (SCHEMA, MIGRATION_V2, MIGRATION_V3)

    async def record(self, delivery: Delivery) -> bool:
        values = (
            delivery.message_id,
            int(delivery.status),
            delivery_rank(delivery.status),
            delivery.conversation_id,
            delivery.channel,
            delivery.detail,
            delivery.updated_at_us,
        )
        return await self._db.write(
            lambda conn: (
                conn.execute("INSERT OR IGNORE INTO delivery_statuses VALUES (?, ?, ?, ?, ?, ?, ?)", values).rowcount
                > 0
            )
        )

    async def get(self, message_id: str) -> Delivery | None:
        def read(conn: sqlite3.Connection) -> Delivery | None:
            row = conn.execute(
                "SELECT * FROM delivery_statuses WHERE message_id = ? ORDER BY rank DESC LIMIT 1", (message_id,)
            ).fetchone()
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
