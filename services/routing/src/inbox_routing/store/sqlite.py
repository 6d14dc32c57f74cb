"""SQLite implementation of RoutingStore.

Every decision runs inside `BEGIN IMMEDIATE`: the load of each agent is counted and the assignment (or
offer) written in one transaction, serialised across replicas, so no agent ever exceeds capacity.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from typing import Any

from inbox_runtime.sqlite import SqliteDatabase, SqliteStore

from inbox_routing.domain import (
    HOLDS_CAPACITY,
    Agent,
    Assignment,
    AssignmentState,
    Candidate,
    Decision,
    FailedPrecondition,
    NotFound,
    Presence,
    QueueStats,
    RouteOutcome,
    RouteRequest,
    RoutingPolicy,
    Target,
    Verdict,
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

# Teams, skills, heartbeats; offers, priorities, rules and explanations.
MIGRATION_V3 = """
ALTER TABLE agents ADD COLUMN teams TEXT NOT NULL DEFAULT '[]';
ALTER TABLE agents ADD COLUMN skills TEXT NOT NULL DEFAULT '{}';
ALTER TABLE agents ADD COLUMN last_seen_at_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN offer_expires_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN excluded TEXT NOT NULL DEFAULT '[]';
ALTER TABLE assignments ADD COLUMN rule_id TEXT NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN escalation_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN request TEXT NOT NULL DEFAULT '{}';
ALTER TABLE assignments ADD COLUMN explanation TEXT NOT NULL DEFAULT '[]';
DROP INDEX assignments_load;
CREATE INDEX assignments_load ON assignments(agent_id, channel) WHERE state IN (2, 4);
DROP INDEX assignments_queue;
CREATE INDEX assignments_queue ON assignments(priority DESC, queued_at_us, conversation_id) WHERE state = 1;
CREATE INDEX assignments_offers ON assignments(offer_expires_us) WHERE state = 4;
CREATE INDEX assignments_known_agent ON assignments(customer_id, since_us DESC) WHERE agent_id != '';
CREATE TABLE routing_rules (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    document TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at_us INTEGER NOT NULL
);
"""

# Agents by team, so a decision for a team looks at that team's agents only.
MIGRATION_V4 = """
CREATE TABLE agent_teams (
    team TEXT NOT NULL,
    agent_id TEXT NOT NULL REFERENCES agents(agent_id),
    PRIMARY KEY (team, agent_id)
);
INSERT INTO agent_teams (team, agent_id) SELECT json_each.value, agents.agent_id FROM agents, json_each(agents.teams);
CREATE INDEX agents_by_presence ON agents(presence);
"""

# The queue position last told to the customer.
MIGRATION_V5 = """
ALTER TABLE assignments ADD COLUMN announced_position INTEGER NOT NULL DEFAULT 0;
"""

# Service-level timers.
MIGRATION_V6 = """
CREATE TABLE sla_timers (
    conversation_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    due_us INTEGER NOT NULL,
    breached INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sla_timers_due ON sla_timers(due_us) WHERE breached = 0;
ALTER TABLE assignments ADD COLUMN boost INTEGER NOT NULL DEFAULT 0;
"""

# An explanation keeps the chosen agent and the closest others; the rest are summed up.
MAX_STORED_VERDICTS = 50

_HOLDING = f"({', '.join(str(int(s)) for s in HOLDS_CAPACITY)})"


_AGENT_COLUMNS = (
    "display_name",
    "presence",
    "capacities",
    "languages",
    "last_assigned_at_us",
    "teams",
    "skills",
    "last_seen_at_us",
)


def _agent(row: sqlite3.Row) -> Agent:
    return Agent(
        agent_id=row["agent_id"],
        display_name=row["display_name"],
        presence=Presence(row["presence"]),
        capacities={int(k): int(v) for k, v in json.loads(row["capacities"]).items()},
        languages=tuple(json.loads(row["languages"])),
        last_assigned_at_us=row["last_assigned_at_us"],
        teams=tuple(json.loads(row["teams"])),
        skills=tuple(sorted((str(k), int(v)) for k, v in json.loads(row["skills"]).items())),
        last_seen_at_us=row["last_seen_at_us"],
    )


def _assignment(row: sqlite3.Row) -> Assignment:
    return Assignment(
        conversation_id=row["conversation_id"],
        state=AssignmentState(row["state"]),
        agent_id=row["agent_id"],
        channel=row["channel"],
        since_us=row["since_us"],
        reason=row["reason"],
        priority=row["priority"],
        team=row["team"],
        offer_expires_us=row["offer_expires_us"],
        rule_id=row["rule_id"],
        escalation_step=row["escalation_step"],
    )


def _request(row: sqlite3.Row) -> RouteRequest:
    extra: dict[str, Any] = json.loads(row["request"])
    return RouteRequest(
        conversation_id=row["conversation_id"],
        customer_id=row["customer_id"],
        channel=row["channel"],
        inbox_id=row["inbox_id"],
        generation=row["generation"],
        language=extra.get("language", ""),
        tags=tuple(extra.get("tags", ())),
        text=extra.get("text", ""),
        attributes=tuple((k, v) for k, v in extra.get("attributes", [])),
        team=extra.get("team", ""),
    )


def _stored_verdicts(decision: Decision) -> list[dict[str, object]]:
    """The chosen agent and the closest others, then a line summing up the rest."""
    chosen = [v for v in decision.verdicts if v.chosen]
    eligible = [v for v in decision.verdicts if not v.chosen and v.reason.startswith("eligible")]
    others = [v for v in decision.verdicts if not v.chosen and not v.reason.startswith("eligible")]
    kept = (chosen + eligible + others)[:MAX_STORED_VERDICTS]
    verdicts = [dataclasses.asdict(v) for v in kept]
    left = len(decision.verdicts) - len(kept)
    if left > 0:
        verdicts.append(
            {"agent_id": "", "chosen": False, "reason": f"and {left} more agents, not eligible or ranked lower"}
        )
    return verdicts


@dataclasses.dataclass(frozen=True)
class Waiting:
    """A queued conversation, with what a new decision needs."""

    request: RouteRequest
    queued_at_us: int
    excluded: frozenset[str]
    escalation_step: int = 0


class SqliteRoutingStore(SqliteStore):
    MIGRATIONS = (SCHEMA, MIGRATION_V2, MIGRATION_V3, MIGRATION_V4, MIGRATION_V5, MIGRATION_V6)

    def __init__(self, database: SqliteDatabase) -> None:
        super().__init__(database)
        # Parsed agents by their raw row: a decision reads every candidate, and parsing dominated it.
        self._parsed: dict[str, tuple[tuple[object, ...], Agent]] = {}

    def _agent_of(self, row: sqlite3.Row) -> Agent:
        raw = tuple(row[key] for key in _AGENT_COLUMNS)
        cached = self._parsed.get(row["agent_id"])
        if cached is not None and cached[0] == raw:
            return cached[1]
        agent = _agent(row)
        self._parsed[row["agent_id"]] = (raw, agent)
        return agent

    # --- agents ---------------------------------------------------------------------------

    async def upsert_agent(
        self,
        agent_id: str,
        display_name: str,
        capacities: dict[int, int],
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
                    json.dumps({str(k): v for k, v in sorted(capacities.items())}),
                    json.dumps(list(languages)),
                    json.dumps(sorted(set(teams))),
                    json.dumps(dict(sorted((skills or {}).items()))),
                ),
            )
            conn.execute("DELETE FROM agent_teams WHERE agent_id = ?", (agent_id,))
            conn.executemany(
                "INSERT INTO agent_teams (team, agent_id) VALUES (?, ?)", [(t, agent_id) for t in sorted(set(teams))]
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
                f"SELECT channel, COUNT(*) AS n FROM assignments WHERE state IN {_HOLDING} AND agent_id = ? "
                "GROUP BY channel",
                (agent_id,),
            ).fetchall()
            return {int(r["channel"]): int(r["n"]) for r in rows}

        return await self._db.read(read)

    async def set_presence(self, agent_id: str, presence: Presence, now_us: int) -> Agent:
        def write(conn: sqlite3.Connection) -> Agent:
            row = conn.execute(
                "UPDATE agents SET presence = ?, last_seen_at_us = ? WHERE agent_id = ? RETURNING *",
                (int(presence), now_us, agent_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"agent {agent_id} not found")
            return _agent(row)

        return await self._db.write(write)

    async def heartbeat(self, agent_id: str, now_us: int) -> Agent:
        def write(conn: sqlite3.Connection) -> Agent:
            row = conn.execute(
                "UPDATE agents SET last_seen_at_us = ? WHERE agent_id = ? RETURNING *", (now_us, agent_id)
            ).fetchone()
            if row is None:
                raise NotFound(f"agent {agent_id} not found")
            return _agent(row)

        return await self._db.write(write)

    async def mark_silent_away(self, seen_before_us: int) -> list[Agent]:
        """Available agents not heard from since `seen_before_us` become away (their session dropped)."""

        def write(conn: sqlite3.Connection) -> list[Agent]:
            rows = conn.execute(
                "UPDATE agents SET presence = ? WHERE presence = ? AND last_seen_at_us < ? RETURNING *",
                (int(Presence.AWAY), int(Presence.AVAILABLE), seen_before_us),
            ).fetchall()
            return [_agent(r) for r in rows]

        return await self._db.write(write)

    # --- routing --------------------------------------------------------------------------

    def _candidates(self, conn: sqlite3.Connection, channel: int, team: str) -> list[Candidate]:
        """Available agents (of the team, when there is one) with what they hold on the channel."""
        loads = dict(
            conn.execute(
                f"SELECT agent_id, COUNT(*) FROM assignments WHERE channel = ? AND state IN {_HOLDING} "
                "GROUP BY agent_id",
                (channel,),
            ).fetchall()
        )
        if team:
            rows = conn.execute(
                "SELECT agents.* FROM agent_teams JOIN agents USING (agent_id) WHERE agent_teams.team = ? "
                "AND agents.presence = ?",
                (team, int(Presence.AVAILABLE)),
            ).fetchall()
        else:
            rows = conn.execute("SELECT * FROM agents WHERE presence = ?", (int(Presence.AVAILABLE),)).fetchall()
        return [Candidate(self._agent_of(row), int(loads.get(row["agent_id"], 0))) for row in rows]

    @staticmethod
    def _known_agent(conn: sqlite3.Connection, customer_id: str, conversation_id: str, since_us: int) -> str:
        row = conn.execute(
            "SELECT agent_id FROM assignments WHERE customer_id = ? AND agent_id != '' AND since_us >= ? "
            "AND (conversation_id != ? OR state = ?) ORDER BY since_us DESC LIMIT 1",
            (customer_id, since_us, conversation_id, int(AssignmentState.ENDED)),
        ).fetchone()
        return str(row[0]) if row else ""

    async def route(
        self,
        request: RouteRequest,
        target: Target,
        rule_id: str,
        escalation_step: int,
        policy: RoutingPolicy,
        now_us: int,
        *,
        force: bool = False,
    ) -> RouteOutcome:
        """Offer, assign or queue a conversation in one conditional write. `force` re-decides a queued
        conversation whatever its generation (a freed agent, a declined offer, an escalation)."""

        def write(conn: sqlite3.Connection) -> RouteOutcome:
            existing = conn.execute(
                "SELECT * FROM assignments WHERE conversation_id = ?", (request.conversation_id,)
            ).fetchone()
            if existing is not None:
                state = AssignmentState(existing["state"])
                queued_again = force and state == AssignmentState.QUEUED
                if not queued_again and not is_current(request.generation, existing["generation"], state):
                    return RouteOutcome(_assignment(existing), changed=False)
            same_generation = existing is not None and existing["generation"] == request.generation
            excluded = frozenset(json.loads(existing["excluded"])) if same_generation else frozenset()
            # A breached service level keeps its place in the queue whatever the rules say.
            boost = int(existing["boost"]) if same_generation else 0
            priority = target.priority + boost
            known = self._known_agent(
                conn, request.customer_id, request.conversation_id, now_us - policy.known_agent_window_us
            )
            decision = decide(
                request,
                target,
                self._candidates(conn, request.channel, target.team),
                known_agent_id=known,
                excluded=excluded,
            )
            if decision.agent_id is None:
                state, agent_id, expires = AssignmentState.QUEUED, "", 0
            elif policy.offer_timeout_us > 0:
                state, agent_id, expires = AssignmentState.OFFERED, decision.agent_id, now_us + policy.offer_timeout_us
            else:
                state, agent_id, expires = AssignmentState.ASSIGNED, decision.agent_id, 0
            unchanged_queue = (
                existing is not None
                and existing["state"] == AssignmentState.QUEUED
                and state == AssignmentState.QUEUED
                and existing["priority"] == priority
                and existing["team"] == target.team
            )
            queued_at = (
                existing["queued_at_us"]
                if existing is not None and existing["state"] == AssignmentState.QUEUED
                else now_us
            )
            conn.execute(
                "INSERT INTO assignments (conversation_id, customer_id, channel, inbox_id, state, agent_id, since_us, "
                "queued_at_us, reason, generation, priority, team, offer_expires_us, excluded, rule_id, "
                "escalation_step, request, explanation, boost) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (conversation_id) DO UPDATE SET state = excluded.state, agent_id = excluded.agent_id, "
                "since_us = excluded.since_us, queued_at_us = excluded.queued_at_us, reason = excluded.reason, "
                "generation = excluded.generation, priority = excluded.priority, team = excluded.team, "
                "offer_expires_us = excluded.offer_expires_us, excluded = excluded.excluded, "
                "rule_id = excluded.rule_id, escalation_step = excluded.escalation_step, "
                "request = excluded.request, explanation = excluded.explanation, boost = excluded.boost",
                (
                    request.conversation_id,
                    request.customer_id,
                    request.channel,
                    request.inbox_id,
                    int(state),
                    agent_id,
                    existing["since_us"] if unchanged_queue else now_us,
                    queued_at,
                    decision.reason,
                    request.generation,
                    priority,
                    target.team,
                    expires,
                    json.dumps(sorted(excluded)),
                    rule_id,
                    escalation_step,
                    json.dumps(
                        {
                            "language": request.language,
                            "tags": list(request.tags),
                            "text": request.text[:2000],
                            "attributes": [list(a) for a in request.attributes],
                            "team": request.team,
                        }
                    ),
                    json.dumps(_stored_verdicts(decision)),
                    boost,
                ),
            )
            if agent_id:
                conn.execute("UPDATE agents SET last_assigned_at_us = ? WHERE agent_id = ?", (now_us, agent_id))
            row = conn.execute(
                "SELECT * FROM assignments WHERE conversation_id = ?", (request.conversation_id,)
            ).fetchone()
            return RouteOutcome(_assignment(row), changed=not unchanged_queue, decision=decision)

        return await self._db.write(write)

    async def accept_offer(self, conversation_id: str, agent_id: str, now_us: int) -> Assignment:
        def write(conn: sqlite3.Connection) -> Assignment:
            row = conn.execute(
                "UPDATE assignments SET state = ?, since_us = ?, offer_expires_us = 0 "
                "WHERE conversation_id = ? AND state = ? AND agent_id = ? RETURNING *",
                (int(AssignmentState.ASSIGNED), now_us, conversation_id, int(AssignmentState.OFFERED), agent_id),
            ).fetchone()
            if row is None:
                current = conn.execute(
                    "SELECT state, agent_id FROM assignments WHERE conversation_id = ?", (conversation_id,)
                ).fetchone()
                if (
                    current is not None
                    and current["state"] == AssignmentState.ASSIGNED
                    and current["agent_id"] == agent_id
                ):
                    return _assignment(
                        conn.execute(
                            "SELECT * FROM assignments WHERE conversation_id = ?", (conversation_id,)
                        ).fetchone()
                    )
                raise FailedPrecondition("this offer is no longer open to you")
            return _assignment(row)

        return await self._db.write(write)

    async def withdraw_offer(self, conversation_id: str, agent_id: str, reason: str, now_us: int) -> Waiting | None:
        """A declined or lapsed offer goes back to the queue, never to the same agent again."""

        def write(conn: sqlite3.Connection) -> Waiting | None:
            row = conn.execute(
                "SELECT * FROM assignments WHERE conversation_id = ? AND state = ? AND agent_id = ?",
                (conversation_id, int(AssignmentState.OFFERED), agent_id),
            ).fetchone()
            if row is None:
                return None
            excluded = sorted({*json.loads(row["excluded"]), agent_id})
            conn.execute(
                "UPDATE assignments SET state = ?, agent_id = '', offer_expires_us = 0, excluded = ?, reason = ?, "
                "since_us = ? WHERE conversation_id = ?",
                (int(AssignmentState.QUEUED), json.dumps(excluded), reason, now_us, conversation_id),
            )
            updated = conn.execute("SELECT * FROM assignments WHERE conversation_id = ?", (conversation_id,)).fetchone()
            return Waiting(_request(updated), updated["queued_at_us"], frozenset(excluded))

        return await self._db.write(write)

    async def lapsed_offers(self, now_us: int) -> list[tuple[str, str]]:
        def read(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                "SELECT conversation_id, agent_id FROM assignments WHERE state = ? AND offer_expires_us <= ? "
                "ORDER BY offer_expires_us LIMIT 500",
                (int(AssignmentState.OFFERED), now_us),
            ).fetchall()
            return [(r[0], r[1]) for r in rows]

        return await self._db.read(read)

    async def release_agent(self, agent_id: str, now_us: int) -> list[str]:
        """Hand an agent's conversations back to the queue (they went offline); returns which."""

        def write(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                f"UPDATE assignments SET state = ?, agent_id = '', offer_expires_us = 0, queued_at_us = ?, "
                f"since_us = ?, reason = ? WHERE agent_id = ? AND state IN {_HOLDING} RETURNING conversation_id",
                (int(AssignmentState.QUEUED), now_us, now_us, f"released: {agent_id} went offline", agent_id),
            ).fetchall()
            return [r[0] for r in rows]

        return await self._db.write(write)

    async def release_agent_conversation(self, conversation_id: str, now_us: int) -> Waiting | None:
        """Put one conversation back in the queue (a transfer to a team); None when it is not open."""

        def write(conn: sqlite3.Connection) -> Waiting | None:
            row = conn.execute(
                "UPDATE assignments SET state = ?, agent_id = '', offer_expires_us = 0, excluded = '[]', "
                "queued_at_us = ?, since_us = ? WHERE conversation_id = ? AND state != ? RETURNING *",
                (int(AssignmentState.QUEUED), now_us, now_us, conversation_id, int(AssignmentState.ENDED)),
            ).fetchone()
            return Waiting(_request(row), row["queued_at_us"], frozenset()) if row else None

        return await self._db.write(write)

    async def transfer(self, conversation_id: str, to_agent: str, policy: RoutingPolicy, now_us: int) -> Assignment:
        """Give a conversation to a named agent, within their capacity (offered or assigned per policy)."""

        def write(conn: sqlite3.Connection) -> Assignment:
            row = conn.execute("SELECT * FROM assignments WHERE conversation_id = ?", (conversation_id,)).fetchone()
            if row is None or row["state"] == AssignmentState.ENDED:
                raise NotFound(f"no open routing record for conversation {conversation_id}")
            agent_row = conn.execute("SELECT * FROM agents WHERE agent_id = ?", (to_agent,)).fetchone()
            if agent_row is None:
                raise NotFound(f"agent {to_agent} not found")
            agent = _agent(agent_row)
            load = conn.execute(
                f"SELECT COUNT(*) FROM assignments WHERE agent_id = ? AND channel = ? AND state IN {_HOLDING} "
                "AND conversation_id != ?",
                (to_agent, row["channel"], conversation_id),
            ).fetchone()[0]
            if load >= agent.capacity_for(row["channel"]):
                raise FailedPrecondition(f"{to_agent} is at capacity on this channel")
            offered = policy.offer_timeout_us > 0
            conn.execute(
                "UPDATE assignments SET state = ?, agent_id = ?, since_us = ?, offer_expires_us = ?, reason = ?, "
                "excluded = '[]' WHERE conversation_id = ?",
                (
                    int(AssignmentState.OFFERED if offered else AssignmentState.ASSIGNED),
                    to_agent,
                    now_us,
                    now_us + policy.offer_timeout_us if offered else 0,
                    f"transferred to {to_agent}",
                    conversation_id,
                ),
            )
            return _assignment(
                conn.execute("SELECT * FROM assignments WHERE conversation_id = ?", (conversation_id,)).fetchone()
            )

        return await self._db.write(write)

    async def queued(self, limit: int) -> list[Waiting]:
        """Waiting conversations: highest priority first, then longest waiting."""

        def read(conn: sqlite3.Connection) -> list[Waiting]:
            rows = conn.execute(
                "SELECT * FROM assignments WHERE state = ? ORDER BY priority DESC, queued_at_us, conversation_id "
                "LIMIT ?",
                (int(AssignmentState.QUEUED), limit),
            ).fetchall()
            return [
                Waiting(_request(r), r["queued_at_us"], frozenset(json.loads(r["excluded"])), r["escalation_step"])
                for r in rows
            ]

        return await self._db.read(read)

    async def queue_positions(self, limit: int) -> list[tuple[Assignment, str, int, int]]:
        """The queue in order: (assignment, customer id, position, position last told to the customer)."""

        def read(conn: sqlite3.Connection) -> list[tuple[Assignment, str, int, int]]:
            rows = conn.execute(
                "SELECT * FROM assignments WHERE state = ? ORDER BY priority DESC, queued_at_us, conversation_id "
                "LIMIT ?",
                (int(AssignmentState.QUEUED), limit),
            ).fetchall()
            return [(_assignment(r), r["customer_id"], i + 1, r["announced_position"]) for i, r in enumerate(rows)]

        return await self._db.read(read)

    async def mark_announced(self, conversation_id: str, position: int) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "UPDATE assignments SET announced_position = ? WHERE conversation_id = ?", (position, conversation_id)
            )
        )

    async def queue_position(self, conversation_id: str) -> int:
        """1 for the next to be placed; 0 when not waiting."""

        def read(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT priority, queued_at_us, state FROM assignments WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
            if row is None or row["state"] != AssignmentState.QUEUED:
                return 0
            ahead = conn.execute(
                "SELECT COUNT(*) FROM assignments WHERE state = ? AND (priority > ? OR (priority = ? AND "
                "(queued_at_us, conversation_id) < (?, ?)))",
                (int(AssignmentState.QUEUED), row["priority"], row["priority"], row["queued_at_us"], conversation_id),
            ).fetchone()[0]
            return int(ahead) + 1

        return await self._db.read(read)

    async def end(self, conversation_id: str, now_us: int) -> Assignment | None:
        """The conversation no longer needs an owner (resolved): free the agent's capacity or leave the queue."""

        def write(conn: sqlite3.Connection) -> Assignment | None:
            row = conn.execute(
                "UPDATE assignments SET state = ?, since_us = ?, offer_expires_us = 0 WHERE conversation_id = ? "
                "AND state != ? RETURNING *",
                (int(AssignmentState.ENDED), now_us, conversation_id, int(AssignmentState.ENDED)),
            ).fetchone()
            return _assignment(row) if row else None

        return await self._db.write(write)

    async def forget_customer(self, customer_id: str) -> int:
        """Erase the routing records of a customer; returns how many."""

        def write(conn: sqlite3.Connection) -> int:
            conn.execute(
                "DELETE FROM sla_timers WHERE conversation_id IN "
                "(SELECT conversation_id FROM assignments WHERE customer_id = ?)",
                (customer_id,),
            )
            return int(conn.execute("DELETE FROM assignments WHERE customer_id = ?", (customer_id,)).rowcount)

        return await self._db.write(write)

    async def get_assignment(self, conversation_id: str) -> Assignment | None:
        def read(conn: sqlite3.Connection) -> Assignment | None:
            row = conn.execute("SELECT * FROM assignments WHERE conversation_id = ?", (conversation_id,)).fetchone()
            return _assignment(row) if row else None

        return await self._db.read(read)

    async def explanation(self, conversation_id: str) -> tuple[Assignment, Decision] | None:
        def read(conn: sqlite3.Connection) -> tuple[Assignment, Decision] | None:
            row = conn.execute("SELECT * FROM assignments WHERE conversation_id = ?", (conversation_id,)).fetchone()
            if row is None:
                return None
            verdicts = tuple(Verdict(**v) for v in json.loads(row["explanation"]))
            chosen = next((v.agent_id for v in verdicts if v.chosen), None)
            return _assignment(row), Decision(chosen, row["reason"], verdicts)

        return await self._db.read(read)

    async def queue_stats(self, now_us: int) -> QueueStats:
        def read(conn: sqlite3.Connection) -> QueueStats:
            waiting = conn.execute(
                "SELECT team, COUNT(*), MIN(queued_at_us) FROM assignments WHERE state = ? GROUP BY team",
                (int(AssignmentState.QUEUED),),
            ).fetchall()
            available: dict[str, int] = {}
            for row in conn.execute("SELECT teams FROM agents WHERE presence = ?", (int(Presence.AVAILABLE),)):
                for team in json.loads(row[0]) or [""]:
                    available[team] = available.get(team, 0) + 1
            per_team = {str(team): (int(count), now_us - int(oldest)) for team, count, oldest in waiting}
            return QueueStats(per_team=per_team, available_agents=available)

        return await self._db.read(read)

    # --- service levels ---------------------------------------------------------------------

    async def sla_timer(self, conversation_id: str) -> tuple[str, int, bool] | None:
        """The running timer of a conversation: (kind, due, breached)."""
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT kind, due_us, breached FROM sla_timers WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
        )
        return (str(row[0]), int(row[1]), bool(row[2])) if row else None

    async def start_sla(self, conversation_id: str, kind: str, due_us: int, *, replace: bool) -> None:
        """Start a timer; an existing one is kept unless `replace` (a new first-response clock)."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        await self._db.write(
            lambda conn: conn.execute(
                f"{verb} INTO sla_timers (conversation_id, kind, due_us, breached) VALUES (?, ?, ?, 0)",
                (conversation_id, kind, due_us),
            )
        )

    async def stop_sla(self, conversation_id: str) -> None:
        await self._db.write(
            lambda conn: conn.execute("DELETE FROM sla_timers WHERE conversation_id = ?", (conversation_id,))
        )

    async def breach_due(self, now_us: int, boost: int) -> list[tuple[Assignment, str, int]]:
        """Mark overdue timers breached (once each) and move their waiting conversations up the queue."""

        def write(conn: sqlite3.Connection) -> list[tuple[Assignment, str, int]]:
            due = conn.execute(
                "UPDATE sla_timers SET breached = 1 WHERE breached = 0 AND due_us <= ? "
                "RETURNING conversation_id, kind, due_us",
                (now_us,),
            ).fetchall()
            breached = []
            for conversation_id, kind, due_us in due:
                conn.execute(
                    "UPDATE assignments SET boost = boost + ?, priority = priority + ? WHERE conversation_id = ? "
                    "AND state = ?",
                    (boost, boost, conversation_id, int(AssignmentState.QUEUED)),
                )
                row = conn.execute("SELECT * FROM assignments WHERE conversation_id = ?", (conversation_id,)).fetchone()
                if row is not None:
                    breached.append((_assignment(row), str(kind), int(due_us)))
            return breached

        return await self._db.write(write)

    # --- rules ----------------------------------------------------------------------------

    async def rules(self) -> tuple[dict[str, Any], int]:
        def read(conn: sqlite3.Connection) -> tuple[dict[str, Any], int]:
            row = conn.execute("SELECT document, version FROM routing_rules").fetchone()
            return (json.loads(row[0]), int(row[1])) if row else ({}, 0)

        return await self._db.read(read)

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
