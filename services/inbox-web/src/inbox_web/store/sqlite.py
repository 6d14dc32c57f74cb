from __future__ import annotations

import sqlite3

from inbox_runtime.sqlite import SqliteStore

from inbox_web.domain import CannedResponse, WebSession, WebUser

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


# Signed-in sessions, under the hash of the cookie's token.
MIGRATION_V5 = """
CREATE TABLE web_sessions (
    session_key TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    role TEXT NOT NULL,
    expires_at_us INTEGER NOT NULL
);
CREATE INDEX web_sessions_by_user ON web_sessions(username);
CREATE INDEX web_sessions_by_expiry ON web_sessions(expires_at_us);
"""


class SqliteUserStore(SqliteStore):
    MIGRATIONS = (SCHEMA, MIGRATION_V2, MIGRATION_V3, MIGRATION_V4, MIGRATION_V5)

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

    async def remove(self, username: str) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM web_sessions WHERE username = ?", (username,))
            return conn.execute("DELETE FROM web_users WHERE username = ?", (username,)).rowcount > 0

        return await self._db.write(delete)

    async def create_session(self, session: WebSession, now_us: int) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM web_sessions WHERE expires_at_us <= ?", (now_us,))
            conn.execute(
                "INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?)",
                (session.key, session.username, session.agent_id, session.role, session.expires_at_us),
            )

        await self._db.write(insert)

    async def session(self, key: str) -> WebSession | None:
        row = self._db.lookup(
            lambda conn: conn.execute(
                "SELECT session_key, username, agent_id, role, expires_at_us FROM web_sessions WHERE session_key = ?",
                (key,),
            ).fetchone()
        )
        return WebSession(*row) if row else None

    async def end_session(self, key: str) -> None:
        await self._db.write(lambda conn: conn.execute("DELETE FROM web_sessions WHERE session_key = ?", (key,)))

    async def end_sessions_of(self, username: str) -> int:
        return await self._db.write(
            lambda conn: conn.execute("DELETE FROM web_sessions WHERE username = ?", (username,)).rowcount
        )

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
