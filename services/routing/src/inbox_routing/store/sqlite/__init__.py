"""SQLite implementation of RoutingStore: the embedded default.

A commit is one immediate transaction (serialised across processes on the file): each change checks the
record's version and, when it hands the conversation to an agent, counts that agent's load, in the
same transaction as it writes; so no interleaving of replicas puts an agent over capacity.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from inbox_runtime.sqlite import SqliteDatabase, SqliteStore

from inbox_routing.changes import AssignmentRecord, Outcome, RoutingChange
from inbox_routing.domain import HOLDS_CAPACITY, Agent, AssignmentState, Candidate, NotFound, Presence, QueueStats
from inbox_routing.store.sqlite import queries, rows
from inbox_routing.store.sqlite.floor import Floor, FloorChange, floor_revision
from inbox_routing.store.sqlite.schema import MIGRATIONS


def _apply(conn: sqlite3.Connection, change: RoutingChange) -> tuple[Outcome, FloorChange | None]:
    record = change.record
    if change.clock is not None:
        _start_clock(conn, record.conversation_id, change.clock.kind, change.clock.due_us, replace=True)
    current = conn.execute(
        "SELECT version, state, agent_id, channel FROM assignments WHERE conversation_id = ?",
        (record.conversation_id,),
    ).fetchone()
    if (current["version"] if current else 0) != record.version - 1:
        return Outcome.STALE, None
    previous_holder = current["agent_id"] if current and AssignmentState(current["state"]) in HOLDS_CAPACITY else ""
    taking = bool(record.holder) and record.holder != previous_holder
    if taking and queries.held(conn, record.holder, record.request.channel) >= change.capacity:
        return Outcome.FULL, None
    before = floor_revision(conn)
    conn.execute(rows.UPSERT_RECORD, rows.record_values(record))
    if change.assigned is not None:
        agent_id, at_us = change.assigned
        conn.execute("UPDATE agents SET last_assigned_at_us = ? WHERE agent_id = ?", (at_us, agent_id))
    # As the loads' triggers counted it: the seat held before is given back, the one held now taken.
    released = (previous_holder, str(current["channel"])) if previous_holder else None
    taken = (record.holder, record.request.channel) if record.holder else None
    moved = released != taken
    return Outcome.APPLIED, FloorChange(
        before,
        floor_revision(conn),
        released if moved else None,
        taken if moved else None,
        change.assigned,
    )


def _start_clock(conn: sqlite3.Connection, conversation_id: str, kind: str, due_us: int, *, replace: bool) -> None:
    verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
    conn.execute(
        f"{verb} INTO sla_timers (conversation_id, kind, due_us, breached) VALUES (?, ?, ?, 0)",
        (conversation_id, kind, due_us),
    )


class SqliteRoutingStore(SqliteStore):
    MIGRATIONS = MIGRATIONS

    def __init__(self, database: SqliteDatabase) -> None:
        super().__init__(database)
        # The candidates in memory, following this process's commits (see floor.py).
        self._floor = Floor()

    # --- the conversations' routing ------------------------------------------------------------

    async def commit(self, changes: Sequence[RoutingChange]) -> list[Outcome]:
        self._floor.committing()
        try:
            written = await self._db.write(
                lambda conn: [_apply(conn, change) for change in changes], committed=self._follow
            )
        except BaseException:
            self._floor.forget()  # written or not, the copy cannot tell
            raise
        finally:
            self._floor.committed()
        return [outcome for outcome, _ in written]

    def _floor_moved(self, _: object) -> None:
        self._floor.forget()

    def _follow(self, written: list[tuple[Outcome, FloorChange | None]]) -> None:
        self._floor.follow([change for _, change in written if change is not None])
        if any(outcome is Outcome.FULL for outcome, _ in written):
            self._floor.forget()  # the copy thought the agent had room

    async def record(self, conversation_id: str) -> AssignmentRecord | None:
        return self._db.lookup(lambda conn: queries.record(conn, conversation_id))

    async def candidates(self, channel: str, team: str) -> list[Candidate]:
        # Here and now, from memory while the file's floor has not moved but by this process's commits.
        return self._db.lookup(lambda conn: self._floor.candidates(conn, channel, team))

    async def known_agent(self, customer_id: str, conversation_id: str, since_us: int) -> str:
        return self._db.lookup(lambda conn: queries.known_agent(conn, customer_id, conversation_id, since_us))

    async def held_by(self, agent_id: str) -> list[str]:
        return self._db.lookup(lambda conn: queries.held_by(conn, agent_id))

    async def offers_to(self, agent_id: str) -> list[AssignmentRecord]:
        return await self._db.read(lambda conn: queries.offers_to(conn, agent_id))

    async def queued(self, limit: int) -> list[AssignmentRecord]:
        return await self._db.read(lambda conn: queries.queued(conn, limit))

    async def queue_position(self, conversation_id: str) -> int:
        # Here and now too: a conversation joining the queue is placed from the kept depths and the few
        # behind it; only one far from the back counts through the queue's index.
        return self._db.lookup(lambda conn: queries.queue_position(conn, conversation_id))

    async def lapsed_offers(self, now_us: int) -> list[tuple[str, str]]:
        return await self._db.read(lambda conn: queries.lapsed_offers(conn, now_us))

    async def queue_stats(self, now_us: int) -> QueueStats:
        return await self._db.read(lambda conn: queries.queue_stats(conn, now_us))

    async def available_agents(self, team: str) -> int:
        return self._db.lookup(lambda conn: queries.available_agents(conn, team))

    async def announced_positions(self, conversation_ids: Sequence[str]) -> dict[str, int]:
        if not conversation_ids:
            return {}
        return await self._db.read(lambda conn: queries.announced_positions(conn, conversation_ids))

    async def mark_announced(self, conversation_id: str, position: int) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "UPDATE assignments SET announced_position = ? WHERE conversation_id = ?", (position, conversation_id)
            )
        )

    async def forget_customer(self, customer_id: str) -> int:
        def write(conn: sqlite3.Connection) -> int:
            conn.execute(
                "DELETE FROM sla_timers WHERE conversation_id IN "
                "(SELECT conversation_id FROM assignments WHERE customer_id = ?)",
                (customer_id,),
            )
            return int(conn.execute("DELETE FROM assignments WHERE customer_id = ?", (customer_id,)).rowcount)

        forgotten = await self._db.write(write, committed=self._floor_moved)
        await self._db.scrub()
        return forgotten

    async def merge_customers(self, surviving_customer_id: str, merged_customer_id: str) -> int:
        ids = (surviving_customer_id, merged_customer_id)
        return await self._db.write(
            lambda conn: int(conn.execute("UPDATE assignments SET customer_id = ? WHERE customer_id = ?", ids).rowcount)
        )

    async def load_of(self, agent_id: str) -> dict[str, int]:
        return self._db.lookup(lambda conn: queries.load_of(conn, agent_id))

    # --- agents --------------------------------------------------------------------------------

    async def upsert_agent(
        self,
        agent_id: str,
        display_name: str,
        capacities: dict[str, int],
        languages: tuple[str, ...],
        teams: tuple[str, ...] = (),
        skills: dict[str, int] | None = None,
    ) -> Agent:
        def write(conn: sqlite3.Connection) -> Agent:
            conn.execute(
                "INSERT INTO agents (agent_id, display_name, presence, capacities, languages, teams, skills) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET "
                "display_name = excluded.display_name, capacities = excluded.capacities, "
                "languages = excluded.languages, teams = excluded.teams, skills = excluded.skills",
                (
                    agent_id,
                    display_name,
                    int(Presence.OFFLINE),
                    json.dumps(dict(sorted(capacities.items()))),
                    json.dumps(list(languages)),
                    json.dumps(sorted(set(teams))),
                    json.dumps(dict(sorted((skills or {}).items()))),
                ),
            )
            conn.execute("DELETE FROM agent_teams WHERE agent_id = ?", (agent_id,))
            conn.executemany(
                "INSERT INTO agent_teams (team, agent_id) VALUES (?, ?)", [(t, agent_id) for t in sorted(set(teams))]
            )
            return rows.agent(conn.execute("SELECT * FROM agents WHERE agent_id = ?", (agent_id,)).fetchone())

        return await self._db.write(write, committed=self._floor_moved)

    async def get_agent(self, agent_id: str) -> Agent | None:
        def read(conn: sqlite3.Connection) -> Agent | None:
            row = conn.execute("SELECT * FROM agents WHERE agent_id = ?", (agent_id,)).fetchone()
            return rows.agent(row) if row else None

        return self._db.lookup(read)

    async def list_agents(self) -> list[Agent]:
        def read(conn: sqlite3.Connection) -> list[Agent]:
            return [rows.agent(r) for r in conn.execute("SELECT * FROM agents ORDER BY agent_id").fetchall()]

        return await self._db.read(read)

    async def set_presence(self, agent_id: str, presence: Presence, now_us: int) -> Agent:
        def write(conn: sqlite3.Connection) -> Agent:
            row = conn.execute(
                "UPDATE agents SET presence = ?, last_seen_at_us = ? WHERE agent_id = ? RETURNING *",
                (int(presence), now_us, agent_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"agent {agent_id} not found")
            return rows.agent(row)

        return await self._db.write(write, committed=self._floor_moved)

    async def heartbeat(self, agent_id: str, now_us: int) -> Agent:
        def write(conn: sqlite3.Connection) -> Agent:
            row = conn.execute(
                "UPDATE agents SET last_seen_at_us = ? WHERE agent_id = ? RETURNING *", (now_us, agent_id)
            ).fetchone()
            if row is None:
                raise NotFound(f"agent {agent_id} not found")
            return rows.agent(row)

        return await self._db.write(write)

    async def mark_silent_away(self, seen_before_us: int) -> list[Agent]:
        """Available agents not heard from since `seen_before_us` become away (their session dropped)."""

        def write(conn: sqlite3.Connection) -> list[Agent]:
            found = conn.execute(
                "UPDATE agents SET presence = ? WHERE presence = ? AND last_seen_at_us < ? RETURNING *",
                (int(Presence.AWAY), int(Presence.AVAILABLE), seen_before_us),
            ).fetchall()
            return [rows.agent(r) for r in found]

        return await self._db.write(write, committed=self._floor_moved)

    # --- service levels ---------------------------------------------------------------------

    async def sla_timer(self, conversation_id: str) -> tuple[str, int, bool] | None:
        """The running timer of a conversation: (kind, due, breached)."""
        row = self._db.lookup(
            lambda conn: conn.execute(
                "SELECT kind, due_us, breached FROM sla_timers WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
        )
        return (str(row[0]), int(row[1]), bool(row[2])) if row else None

    async def start_sla(self, conversation_id: str, kind: str, due_us: int, *, replace: bool) -> None:
        """Start a timer; an existing one is kept unless `replace` (a new first-response clock)."""
        await self._db.write(lambda conn: _start_clock(conn, conversation_id, kind, due_us, replace=replace))

    async def stop_sla(self, conversation_id: str) -> None:
        await self._db.write(
            lambda conn: conn.execute("DELETE FROM sla_timers WHERE conversation_id = ?", (conversation_id,))
        )

    async def breach_due(self, now_us: int) -> list[tuple[str, str, int]]:
        def write(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
            due = conn.execute(
                "UPDATE sla_timers SET breached = 1 WHERE breached = 0 AND due_us <= ? "
                "RETURNING conversation_id, kind, due_us",
                (now_us,),
            ).fetchall()
            return [(str(c), str(k), int(d)) for c, k, d in due]

        return await self._db.write(write)

    # --- rules ----------------------------------------------------------------------------

    async def rules(self) -> tuple[dict[str, Any], int]:
        def read(conn: sqlite3.Connection) -> tuple[dict[str, Any], int]:
            row = conn.execute("SELECT document, version FROM routing_rules").fetchone()
            return (json.loads(row[0]), int(row[1])) if row else ({}, 0)

        return self._db.lookup(read)

    async def put_rules(self, document: dict[str, Any], updated_by: str, now_us: int) -> int:
        def write(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "INSERT INTO routing_rules VALUES (1, ?, 1, ?, ?) ON CONFLICT (singleton) DO UPDATE SET "
                "document = excluded.document, version = routing_rules.version + 1, "
                "updated_by = excluded.updated_by, updated_at_us = excluded.updated_at_us RETURNING version",
                (json.dumps(document, sort_keys=True), updated_by, now_us),
            ).fetchone()
            return int(row[0])

        return await self._db.write(write)
