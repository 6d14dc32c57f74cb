from __future__ import annotations

import sqlite3

from inbox_runtime.sqlite import SqliteStore

from inbox_web.domain import WebUser

SCHEMA = """
CREATE TABLE IF NOT EXISTS web_users (
    username TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    password_hash TEXT NOT NULL
);
"""


class SqliteUserStore(SqliteStore):
    MIGRATIONS = (SCHEMA,)

    async def put(self, user: WebUser) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO web_users (username, agent_id, password_hash) VALUES (?, ?, ?) "
                "ON CONFLICT (username) DO UPDATE SET agent_id = excluded.agent_id, "
                "password_hash = excluded.password_hash",
                (user.username, user.agent_id, user.password_hash),
            )
        )

    async def get(self, username: str) -> WebUser | None:
        def read(conn: sqlite3.Connection) -> WebUser | None:
            row = conn.execute("SELECT * FROM web_users WHERE username = ?", (username,)).fetchone()
            return WebUser(row["username"], row["agent_id"], row["password_hash"]) if row else None

        return await self._db.read(read)
