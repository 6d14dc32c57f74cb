from __future__ import annotations

import sqlite3

from inbox_runtime.sqlite import SqliteStore

from inbox_web.domain import CannedResponse, WebUser

SCHEMA = """
CREATE TABLE IF NOT EXISTS web_users (
    username TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    password_hash TEXT NOT NULL
);
"""


# Canned responses, shared per team ("" for everyone).
MIGRATION_V2 = """
CREATE TABLE canned_responses (
    response_id TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_us INTEGER NOT NULL
);
CREATE INDEX canned_responses_by_team ON canned_responses(team, title);
"""


# Supervisors see every conversation and the supervisor view.
MIGRATION_V3 = """
ALTER TABLE web_users ADD COLUMN role TEXT NOT NULL DEFAULT 'agent';
"""


# How far each agent has read each conversation (its unread state in their lists).
MIGRATION_V4 = """
CREATE TABLE conversation_reads (
    agent_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    message_count INTEGER NOT NULL,
    PRIMARY KEY (agent_id, conversation_id)
);
"""


class SqliteUserStore(SqliteStore):
    MIGRATIONS = (SCHEMA, MIGRATION_V2, MIGRATION_V3, MIGRATION_V4)

    async def put(self, user: WebUser) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO web_users (username, agent_id, password_hash, role) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (username) DO UPDATE SET agent_id = excluded.agent_id, "
                "password_hash = excluded.password_hash, role = excluded.role",
                (user.username, user.agent_id, user.password_hash, user.role),
            )
        )

    async def get(self, username: str) -> WebUser | None:
        def read(conn: sqlite3.Connection) -> WebUser | None:
            row = conn.execute("SELECT * FROM web_users WHERE username = ?", (username,)).fetchone()
            return WebUser(row["username"], row["agent_id"], row["password_hash"], row["role"]) if row else None

        return await self._db.read(read)

    async def add_canned(self, response: CannedResponse, now_us: int) -> None:
        values = (response.response_id, response.team, response.title, response.text, response.created_by, now_us)
        await self._db.write(
            lambda conn: conn.execute("INSERT OR IGNORE INTO canned_responses VALUES (?, ?, ?, ?, ?, ?)", values)
        )

    async def canned_for(self, teams: tuple[str, ...]) -> list[CannedResponse]:
        shared = ("", *teams)
        query = (
            "SELECT response_id, team, title, text, created_by FROM canned_responses "
            f"WHERE team IN ({', '.join('?' for _ in shared)}) ORDER BY title, response_id"
        )
        found = await self._db.read(lambda conn: conn.execute(query, shared).fetchall())
        return [CannedResponse(*row) for row in found]

    async def canned(self, response_id: str) -> CannedResponse | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT response_id, team, title, text, created_by FROM canned_responses WHERE response_id = ?",
                (response_id,),
            ).fetchone()
        )
        return CannedResponse(*row) if row else None

    async def delete_canned(self, response_id: str) -> None:
        await self._db.write(
            lambda conn: conn.execute("DELETE FROM canned_responses WHERE response_id = ?", (response_id,))
        )

    async def mark_read(self, agent_id: str, conversation_id: str, message_count: int) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO conversation_reads VALUES (?, ?, ?) ON CONFLICT (agent_id, conversation_id) "
                "DO UPDATE SET message_count = MAX(message_count, excluded.message_count)",
                (agent_id, conversation_id, message_count),
            )
        )

    async def read_counts(self, agent_id: str, conversation_ids: list[str]) -> dict[str, int]:
        if not conversation_ids:
            return {}
        query = (
            "SELECT conversation_id, message_count FROM conversation_reads WHERE agent_id = ? "
            f"AND conversation_id IN ({', '.join('?' for _ in conversation_ids)})"
        )
        found = await self._db.read(lambda conn: conn.execute(query, (agent_id, *conversation_ids)).fetchall())
        return {str(row[0]): int(row[1]) for row in found}
