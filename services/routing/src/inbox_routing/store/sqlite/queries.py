"""Reading: the records decisions start from, candidates with their loads, the queue, the agents."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from inbox_routing.changes import AssignmentRecord
from inbox_routing.domain import HOLDS_CAPACITY, Agent, AssignmentState, Presence, QueueStats
from inbox_routing.store.sqlite import rows

HOLDING = f"({', '.join(str(int(s)) for s in HOLDS_CAPACITY)})"
QUEUED = int(AssignmentState.QUEUED)


def record(conn: sqlite3.Connection, conversation_id: str) -> AssignmentRecord | None:
    row = conn.execute("SELECT * FROM assignments WHERE conversation_id = ?", (conversation_id,)).fetchone()
    return rows.record(row) if row else None


def held(conn: sqlite3.Connection, agent_id: str, channel: str) -> int:
    """The conversations `agent_id` holds on `channel`, as the loads' triggers keep them."""
    row = conn.execute(
        "SELECT held FROM agent_loads WHERE agent_id = ? AND channel = ?", (agent_id, channel)
    ).fetchone()
    return int(row[0]) if row else 0


def load_of(conn: sqlite3.Connection, agent_id: str) -> dict[str, int]:
    found = conn.execute(
        f"SELECT channel, COUNT(*) AS n FROM assignments WHERE state IN {HOLDING} AND agent_id = ? GROUP BY channel",
        (agent_id,),
    ).fetchall()
    return {str(r["channel"]): int(r["n"]) for r in found}


class AgentCache:
    """Parsed agents by id with their row's revision: a decision reads its candidates' ids and revisions
    and parses only the rows that changed since (a trigger raises the revision at every change)."""

    def __init__(self) -> None:
        self._agents: dict[str, tuple[int, Agent]] = {}

    def agent(self, conn: sqlite3.Connection, agent_id: str, revision: int) -> Agent | None:
        cached = self._agents.get(agent_id)
        if cached is not None and cached[0] == revision:
            return cached[1]
        row = conn.execute("SELECT * FROM agents WHERE agent_id = ?", (agent_id,)).fetchone()
        if row is None:
            return None
        agent = rows.agent(row)
        self._agents[agent_id] = (int(row["revision"]), agent)
        return agent


def known_agent(conn: sqlite3.Connection, customer_id: str, conversation_id: str, since_us: int) -> str:
    row = conn.execute(
        "SELECT agent_id FROM assignments WHERE customer_id = ? AND agent_id != '' AND since_us >= ? "
        "AND (conversation_id != ? OR state = ?) ORDER BY since_us DESC LIMIT 1",
        (customer_id, since_us, conversation_id, int(AssignmentState.ENDED)),
    ).fetchone()
    return str(row[0]) if row else ""


def held_by(conn: sqlite3.Connection, agent_id: str) -> list[str]:
    found = conn.execute(
        f"SELECT conversation_id FROM assignments WHERE agent_id = ? AND state IN {HOLDING} ORDER BY since_us",
        (agent_id,),
    )
    return [r[0] for r in found]


def offers_to(conn: sqlite3.Connection, agent_id: str) -> list[AssignmentRecord]:
    found = conn.execute(
        "SELECT * FROM assignments WHERE agent_id = ? AND state = ? ORDER BY offer_expires_us, conversation_id",
        (agent_id, int(AssignmentState.OFFERED)),
    )
    return [rows.record(r) for r in found.fetchall()]


def queued(conn: sqlite3.Connection, limit: int) -> list[AssignmentRecord]:
    found = conn.execute(
        "SELECT * FROM assignments WHERE state = ? ORDER BY priority DESC, queued_at_us, conversation_id LIMIT ?",
        (QUEUED, limit),
    )
    return [rows.record(r) for r in found.fetchall()]


# Beyond this many conversations behind it, a conversation's place is counted from the front instead.
_COUNTED_BEHIND = 1000


def queue_position(conn: sqlite3.Connection, conversation_id: str) -> int:
    row = conn.execute(
        "SELECT priority, queued_at_us, state FROM assignments WHERE conversation_id = ?", (conversation_id,)
    ).fetchone()
    if row is None or row["state"] != QUEUED:
        return 0
    # A conversation that just joined the queue has few behind it, however long the queue: its place is
    # everyone waiting at its priority or above (the depths kept by triggers) less those behind it. One
    # statement, so both are read from the same snapshot.
    at_or_above, behind = conn.execute(
        "SELECT (SELECT COALESCE(SUM(waiting), 0) FROM queue_depths WHERE priority >= :priority), "
        "(SELECT COUNT(*) FROM (SELECT 1 FROM assignments WHERE state = :queued AND priority = :priority "
        "AND (queued_at_us, conversation_id) > (:queued_at, :conversation) LIMIT :limit))",
        {
            "priority": row["priority"],
            "queued": QUEUED,
            "queued_at": row["queued_at_us"],
            "conversation": conversation_id,
            "limit": _COUNTED_BEHIND,
        },
    ).fetchone()
    if behind < _COUNTED_BEHIND:
        return max(int(at_or_above) - int(behind), 1)
    # Far from the back: two range counts on the queue's index (one OR over it would scan all of it).
    higher = conn.execute(
        "SELECT COUNT(*) FROM assignments WHERE state = ? AND priority > ?", (QUEUED, row["priority"])
    ).fetchone()[0]
    earlier = conn.execute(
        "SELECT COUNT(*) FROM assignments WHERE state = ? AND priority = ? "
        "AND (queued_at_us, conversation_id) < (?, ?)",
        (QUEUED, row["priority"], row["queued_at_us"], conversation_id),
    ).fetchone()[0]
    return int(higher) + int(earlier) + 1


def lapsed_offers(conn: sqlite3.Connection, now_us: int) -> list[tuple[str, str]]:
    found = conn.execute(
        "SELECT conversation_id, agent_id FROM assignments WHERE state = ? AND offer_expires_us <= ? "
        "ORDER BY offer_expires_us LIMIT 500",
        (int(AssignmentState.OFFERED), now_us),
    )
    return [(r[0], r[1]) for r in found.fetchall()]


def queue_stats(conn: sqlite3.Connection, now_us: int) -> QueueStats:
    waiting = conn.execute(
        "SELECT team, COUNT(*), MIN(queued_at_us) FROM assignments WHERE state = ? GROUP BY team", (QUEUED,)
    ).fetchall()
    available: dict[str, int] = {}
    for row in conn.execute("SELECT teams FROM agents WHERE presence = ?", (int(Presence.AVAILABLE),)):
        for team in json.loads(row[0]) or [""]:
            available[team] = available.get(team, 0) + 1
    per_team = {str(team): (int(count), now_us - int(oldest)) for team, count, oldest in waiting}
    overdue = conn.execute(
        "SELECT a.team, COUNT(*) FROM sla_timers s JOIN assignments a ON a.conversation_id = s.conversation_id "
        "WHERE s.breached = 1 AND a.state != ? GROUP BY a.team",
        (int(AssignmentState.ENDED),),
    ).fetchall()
    breaches = {str(team): int(count) for team, count in overdue}
    return QueueStats(per_team=per_team, available_agents=available, sla_breaches=breaches)


def available_agents(conn: sqlite3.Connection, team: str) -> int:
    if team:
        query = (
            "SELECT COUNT(*) FROM agent_teams JOIN agents USING (agent_id) "
            "WHERE agent_teams.team = ? AND agents.presence = ?"
        )
        return int(conn.execute(query, (team, int(Presence.AVAILABLE))).fetchone()[0])
    query = (
        "SELECT COUNT(*) FROM agents WHERE presence = ? "
        "AND NOT EXISTS (SELECT 1 FROM agent_teams WHERE agent_teams.agent_id = agents.agent_id)"
    )
    return int(conn.execute(query, (int(Presence.AVAILABLE),)).fetchone()[0])


def announced_positions(conn: sqlite3.Connection, conversation_ids: Sequence[str]) -> dict[str, int]:
    found = conn.execute(
        f"SELECT conversation_id, announced_position FROM assignments WHERE announced_position > 0 "
        f"AND conversation_id IN ({', '.join('?' for _ in conversation_ids)})",
        list(conversation_ids),
    )
    return {str(r[0]): int(r[1]) for r in found}
