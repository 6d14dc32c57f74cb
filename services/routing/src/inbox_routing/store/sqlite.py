"""SQLite implementation of RoutingStore. `BEGIN IMMEDIATE` makes count-then-assign atomic across replicas."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from inbox_runtime.sqlite import SqliteDatabase

from inbox_routing.domain import (
    Agent,
    Assignment,
    AssignmentState,
    Candidate,
    NotFound,
    Presence,
    RouteOutcome,
    RouteRequest,
    decide,
    is_current,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    agent_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    presence INTEGER NOT NULL,
    capacities TEXT NOT NULL,
    languages TEXT NOT NULL,
    last_assigned_at_us INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS assignments (
    conversation_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    channel INTEGER NOT NULL,
    inbox_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    agent_id TEXT NOT NULL DEFAULT '',
    since_us INTEGER NOT NULL,
    queued_at_us INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS assignments_load ON assignments(agent_id, channel) WHERE state = 2;
CREATE INDEX IF NOT EXISTS assignments_queue ON assignments(queued_at_us, conversation_id) WHERE state = 1;
"""


# Generations (see RouteRequest) and a customer index for erasure.
MIGRATION_V2 = """
ALTER TABLE assignments ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
CREATE INDEX assignments_by_customer ON assignments(customer_id);
"""


def _agent(row: sqlite3.Row) -> Agent:
    return Agent(
        agent_id=row["agent_id"],
        display_name=row["display_name"],
        presence=Presence(row["presence"]),
        capacities={int(k): int(v) for k, v in json.loads(row["capacities"]).items()},
        languages=tuple(json.loads(row["languages"])),
        last_assigned_at_us=row["last_assigned_at_us"],
    )


def _assignment(row: sqlite3.Row) -> Assignment:
    return Assignment(
        conversation_id=row["conversation_id"],
        state=AssignmentState(row["state"]),
        agent_id=row["agent_id"],
        channel=row["channel"],
        since_us=row["since_us"],
        reason=row["reason"],
    )


class SqliteRoutingStore:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    @classmethod
    async def open(cls, path: Path | str) -> SqliteRoutingStore:
        database = SqliteDatabase(path)
        await database.open(SCHEMA, MIGRATION_V2)
        return cls(database)

    async def close(self) -> None:
        await self._db.close()

    async def upsert_agent(
        self, agent_id: str, display_name: str, capacities: dict[int, int], languages: tuple[str, ...]
    ) -> Agent:
        def write(conn: sqlite3.Connection) -> Agent:
            conn.execute(
                "INSERT INTO agents (agent_id, display_name, presence, capacities, languages) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET "
                "display_name = excluded.display_name, capacities = excluded.capacities, "
                "languages = excluded.languages",
                (
                    agent_id,
                    display_name,
                    int(Presence.OFFLINE),
                    json.dumps({str(k): v for k, v in sorted(capacities.items())}),
                    json.dumps(list(languages)),
                ),
            )
            return _agent(conn.execute("SELECT * FROM agents WHERE agent_id = ?", (agent_id,)).fetchone())

        return await self._db.write(write)

    async def get_agent(self, agent_id: str) -> Agent | None:
        def read(conn: sqlite3.Connection) -> Agent | None:
            row = conn.execute("SELECT * FROM agents WHERE agent_id = ?", (agent_id,)).fetchone()
            return _agent(row) if row else None

        return await self._db.read(read)

    async def list_agents(self) -> list[Agent]:
        def read(conn: sqlite3.Connection) -> list[Agent]:
            return [_agent(r) for r in conn.execute("SELECT * FROM agents ORDER BY agent_id").fetchall()]

        return await self._db.read(read)

    async def load_of(self, agent_id: str) -> dict[int, int]:
        def read(conn: sqlite3.Connection) -> dict[int, int]:
            rows = conn.execute(
                "SELECT channel, COUNT(*) AS n FROM assignments WHERE state = ? AND agent_id = ? GROUP BY channel",
                (int(AssignmentState.ASSIGNED), agent_id),
            ).fetchall()
            return {int(r["channel"]): int(r["n"]) for r in rows}

        return await self._db.read(read)

    async def set_presence(self, agent_id: str, presence: Presence) -> Agent:
        def write(conn: sqlite3.Connection) -> Agent:
            row = conn.execute(
                "UPDATE agents SET presence = ? WHERE agent_id = ? RETURNING *", (int(presence), agent_id)
            ).fetchone()
            if row is None:
                raise NotFound(f"agent {agent_id} not found")
            return _agent(row)

        return await self._db.write(write)

    async def route(self, request: RouteRequest, now_us: int) -> RouteOutcome:
        def write(conn: sqlite3.Connection) -> RouteOutcome:
            existing = conn.execute(
                "SELECT * FROM assignments WHERE conversation_id = ?", (request.conversation_id,)
            ).fetchone()
            if existing is not None and not is_current(
                request.generation, existing["generation"], AssignmentState(existing["state"])
            ):
                return RouteOutcome(_assignment(existing), changed=False)
            candidates = [
                Candidate(_agent(row), int(row["load"]))
                for row in conn.execute(
                    "SELECT agents.*, (SELECT COUNT(*) FROM assignments a WHERE a.agent_id = agents.agent_id "
                    "AND a.channel = ? AND a.state = ?) AS load FROM agents",
                    (request.channel, int(AssignmentState.ASSIGNED)),
                ).fetchall()
            ]
            decision = decide(request.channel, candidates)
            if decision.agent_id is None:
                if existing is not None and existing["state"] == AssignmentState.QUEUED:
                    return RouteOutcome(_assignment(existing), changed=False)
                conn.execute(
                    "INSERT INTO assignments (conversation_id, customer_id, channel, inbox_id, state, agent_id, "
                    "since_us, queued_at_us, reason, generation) VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, ?) "
                    "ON CONFLICT (conversation_id) DO UPDATE SET state = excluded.state, agent_id = '', "
                    "since_us = excluded.since_us, queued_at_us = excluded.queued_at_us, reason = excluded.reason, "
                    "generation = excluded.generation",
                    (
                        request.conversation_id,
                        request.customer_id,
                        request.channel,
                        request.inbox_id,
                        int(AssignmentState.QUEUED),
                        now_us,
                        now_us,
                        decision.reason,
                        request.generation,
                    ),
                )
            else:
                conn.execute(
                    "INSERT INTO assignments (conversation_id, customer_id, channel, inbox_id, state, agent_id, "
                    "since_us, queued_at_us, reason, generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (conversation_id) DO UPDATE SET state = excluded.state, "
                    "agent_id = excluded.agent_id, since_us = excluded.since_us, reason = excluded.reason, "
                    "generation = excluded.generation",
                    (
                        request.conversation_id,
                        request.customer_id,
                        request.channel,
                        request.inbox_id,
                        int(AssignmentState.ASSIGNED),
                        decision.agent_id,
                        now_us,
                        now_us,
                        decision.reason,
                        request.generation,
                    ),
                )
                conn.execute(
                    "UPDATE agents SET last_assigned_at_us = ? WHERE agent_id = ?", (now_us, decision.agent_id)
                )
            row = conn.execute(
                "SELECT * FROM assignments WHERE conversation_id = ?", (request.conversation_id,)
            ).fetchone()
            return RouteOutcome(_assignment(row), changed=True)

        return await self._db.write(write)

    async def queued(self, limit: int) -> list[RouteRequest]:
        def read(conn: sqlite3.Connection) -> list[RouteRequest]:
            rows = conn.execute(
                "SELECT conversation_id, customer_id, channel, inbox_id, generation FROM assignments WHERE state = ? "
                "ORDER BY queued_at_us, conversation_id LIMIT ?",
                (int(AssignmentState.QUEUED), limit),
            ).fetchall()
            return [
                RouteRequest(r["conversation_id"], r["customer_id"], r["channel"], r["inbox_id"], r["generation"])
                for r in rows
            ]

        return await self._db.read(read)

    async def end(self, conversation_id: str, now_us: int) -> Assignment | None:
        """The conversation no longer needs an owner (resolved): free the agent's capacity or leave the queue."""

        def write(conn: sqlite3.Connection) -> Assignment | None:
            row = conn.execute(
                "UPDATE assignments SET state = ?, since_us = ? WHERE conversation_id = ? AND state != ? RETURNING *",
                (int(AssignmentState.ENDED), now_us, conversation_id, int(AssignmentState.ENDED)),
            ).fetchone()
            return _assignment(row) if row else None

        return await self._db.write(write)

    async def forget_customer(self, customer_id: str) -> int:
        """Erase the routing records of a customer; returns how many."""
        return await self._db.write(
            lambda conn: conn.execute("DELETE FROM assignments WHERE customer_id = ?", (customer_id,)).rowcount
        )

    async def get_assignment(self, conversation_id: str) -> Assignment | None:
        def read(conn: sqlite3.Connection) -> Assignment | None:
            row = conn.execute("SELECT * FROM assignments WHERE conversation_id = ?", (conversation_id,)).fetchone()
            return _assignment(row) if row else None

        return await self._db.read(read)
