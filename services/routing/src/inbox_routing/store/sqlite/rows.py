"""Rows to domain values and back."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from inbox_routing.changes import AssignmentRecord
from inbox_routing.domain import Agent, AssignmentState, Presence, RouteRequest, Verdict


def agent(row: sqlite3.Row) -> Agent:
    return Agent(
        agent_id=row["agent_id"],
        display_name=row["display_name"],
        presence=Presence(row["presence"]),
        capacities={str(k): int(v) for k, v in json.loads(row["capacities"]).items()},
        languages=tuple(json.loads(row["languages"])),
        last_assigned_at_us=row["last_assigned_at_us"],
        teams=tuple(json.loads(row["teams"])),
        skills=tuple(sorted((str(k), int(v)) for k, v in json.loads(row["skills"]).items())),
        last_seen_at_us=row["last_seen_at_us"],
    )


def request(row: sqlite3.Row) -> RouteRequest:
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
        sentiment=extra.get("sentiment"),
    )


def request_json(request: RouteRequest) -> str:
    return json.dumps(
        {
            "language": request.language,
            "tags": list(request.tags),
            "text": request.text,
            "attributes": [list(a) for a in request.attributes],
            "team": request.team,
            "sentiment": request.sentiment,
        }
    )


def record(row: sqlite3.Row) -> AssignmentRecord:
    return AssignmentRecord(
        request=request(row),
        state=AssignmentState(row["state"]),
        agent_id=row["agent_id"],
        since_us=row["since_us"],
        queued_at_us=row["queued_at_us"],
        reason=row["reason"],
        version=row["version"],
        priority=row["priority"],
        team=row["team"],
        offer_expires_us=row["offer_expires_us"],
        excluded=frozenset(json.loads(row["excluded"])),
        rule_id=row["rule_id"],
        escalation_step=row["escalation_step"],
        explanation=tuple(_verdict(v) for v in json.loads(row["explanation"])),
        boost=row["boost"],
    )


def record_values(r: AssignmentRecord) -> tuple[object, ...]:
    """In the column order of `UPSERT_RECORD`."""
    return (
        r.conversation_id,
        r.request.customer_id,
        r.request.channel,
        r.request.inbox_id,
        int(r.state),
        r.agent_id,
        r.since_us,
        r.queued_at_us,
        r.reason,
        r.request.generation,
        r.priority,
        r.team,
        r.offer_expires_us,
        json.dumps(sorted(r.excluded)),
        r.rule_id,
        r.escalation_step,
        request_json(r.request),
        # Each verdict as its [agent_id, chosen, reason] (rows written before 2026-12-07 hold objects):
        # half the encoding time of objects, which showed in routing's profiles.
        json.dumps(r.explanation),
        r.boost,
        r.version,
    )


_RECORD_COLUMNS = (
    "conversation_id, customer_id, channel, inbox_id, state, agent_id, since_us, queued_at_us, reason, generation, "
    "priority, team, offer_expires_us, excluded, rule_id, escalation_step, request, explanation, boost, version"
)
UPSERT_RECORD = (
    f"INSERT INTO assignments ({_RECORD_COLUMNS}) VALUES ({', '.join('?' for _ in _RECORD_COLUMNS.split(','))}) "
    "ON CONFLICT (conversation_id) DO UPDATE SET "
    + ", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in _RECORD_COLUMNS.split(",")[1:])
)


def _verdict(stored: Any) -> Verdict:
    """A verdict as stored: [agent_id, chosen, reason], or an object with those keys (older rows)."""
    return Verdict(**stored) if isinstance(stored, dict) else Verdict(*stored)
