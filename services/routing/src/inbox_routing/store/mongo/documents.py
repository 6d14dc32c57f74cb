"""Collections, indexes, and documents to domain values and back.

Uniqueness the invariants rest on: a conversation's next version (`_id` "<conversation>#<version>") and
an agent's capacity slots (`_id` "<agent>|<channel>|<slot>", slot < capacity). No partial, sparse, TTL
or text index: the same declarations serve FerretDB (the tests) and MongoDB 7+ (production).
"""

from __future__ import annotations

import contextlib
from typing import Any

from inbox_events.channels import enum_names
from inbox_runtime.mongo import Document, replace_values
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from inbox_routing.changes import AssignmentRecord
from inbox_routing.domain import Agent, AssignmentState, Presence, RouteRequest, Verdict

AGENTS = "routing_agents"
# Every version of every conversation's record, immutable: the latest is the truth.
VERSIONS = "routing_assignment_versions"
# The latest version of each, for the queue's and the inbox's queries.
ASSIGNMENTS = "routing_assignments"
SLOTS = "routing_capacity_slots"
ANNOUNCED = "routing_announced_positions"
SLA_TIMERS = "routing_sla_timers"
RULES = "routing_rules"

INDEXES = {
    AGENTS: [IndexModel([("presence", ASCENDING), ("teams", ASCENDING)])],
    VERSIONS: [IndexModel([("conversation_id", ASCENDING), ("version", DESCENDING)])],
    ASSIGNMENTS: [
        IndexModel([("state", ASCENDING), ("priority", DESCENDING), ("queued_at_us", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("state", ASCENDING), ("offer_expires_us", ASCENDING)]),
        IndexModel([("customer_id", ASCENDING), ("since_us", DESCENDING)]),
        IndexModel([("agent_id", ASCENDING), ("state", ASCENDING)]),
    ],
    SLOTS: [
        IndexModel([("conversation_id", ASCENDING)]),
        IndexModel([("agent_id", ASCENDING), ("channel", ASCENDING)]),
        IndexModel([("channel", ASCENDING)]),
    ],
    SLA_TIMERS: [IndexModel([("breached", ASCENDING), ("due_us", ASCENDING)])],
}


def version_id(conversation_id: str, version: int) -> str:
    return f"{conversation_id}#{version:012d}"


def slot_id(agent_id: str, channel: str, slot: int) -> str:
    return f"{agent_id}|{channel}|{slot}"


async def channels_by_name(database: AsyncDatabase[Document]) -> None:
    """Documents written before channels had names hold the v1 enum's number: the records, the agents'
    capacities and the capacity slots (whose ids name the channel: each moves to its new id)."""
    numbered = enum_names()
    for collection in (VERSIONS, ASSIGNMENTS):
        await replace_values(database, collection, "channel", numbered)
    names = dict(numbered)
    async for agent in database[AGENTS].find({"capacities.k": {"$in": list(names)}}):
        capacities = [{"k": names.get(e["k"], e["k"]), "v": e["v"]} for e in agent["capacities"]]
        await database[AGENTS].update_one({"_id": agent["_id"]}, {"$set": {"capacities": capacities}})
    async for slot in database[SLOTS].find({"channel": {"$in": list(names)}}):
        agent_id, channel, number = slot["agent_id"], names[slot["channel"]], str(slot["_id"]).rsplit("|", 1)[-1]
        moved = {**slot, "_id": slot_id(agent_id, channel, int(number)), "channel": channel}
        with contextlib.suppress(DuplicateKeyError):  # moved by a replica starting alongside
            await database[SLOTS].insert_one(moved)
        await database[SLOTS].delete_one({"_id": slot["_id"]})


def pairs(mapping: dict[Any, Any]) -> list[Document]:
    """{k, v} entries, not a sub-document: skill names may hold '.'."""
    return [{"k": k, "v": v} for k, v in sorted(mapping.items())]


def agent(doc: Document) -> Agent:
    return Agent(
        agent_id=doc["_id"],
        display_name=doc["display_name"],
        presence=Presence(doc["presence"]),
        capacities={str(e["k"]): int(e["v"]) for e in doc.get("capacities") or ()},
        languages=tuple(doc.get("languages") or ()),
        last_assigned_at_us=doc.get("last_assigned_at_us", 0),
        teams=tuple(doc.get("teams") or ()),
        skills=tuple(sorted((str(e["k"]), int(e["v"])) for e in doc.get("skills") or ())),
        last_seen_at_us=doc.get("last_seen_at_us", 0),
    )


def record_document(r: AssignmentRecord) -> Document:
    request = r.request
    return {
        "conversation_id": r.conversation_id,
        "version": r.version,
        "customer_id": request.customer_id,
        "channel": request.channel,
        "inbox_id": request.inbox_id,
        "generation": request.generation,
        "language": request.language,
        "tags": list(request.tags),
        "text": request.text,
        "attributes": pairs(dict(request.attributes)),
        "request_team": request.team,
        "sentiment": request.sentiment,
        "state": int(r.state),
        "agent_id": r.agent_id,
        "since_us": r.since_us,
        "queued_at_us": r.queued_at_us,
        "reason": r.reason,
        "priority": r.priority,
        "team": r.team,
        "offer_expires_us": r.offer_expires_us,
        "excluded": sorted(r.excluded),
        "rule_id": r.rule_id,
        "escalation_step": r.escalation_step,
        "explanation": [{"agent_id": v.agent_id, "chosen": v.chosen, "reason": v.reason} for v in r.explanation],
        "boost": r.boost,
    }


def record(doc: Document) -> AssignmentRecord:
    return AssignmentRecord(
        request=RouteRequest(
            conversation_id=doc["conversation_id"],
            customer_id=doc["customer_id"],
            channel=doc["channel"],
            inbox_id=doc["inbox_id"],
            generation=doc["generation"],
            language=doc.get("language", ""),
            tags=tuple(doc.get("tags") or ()),
            text=doc.get("text", ""),
            attributes=tuple((str(e["k"]), str(e["v"])) for e in doc.get("attributes") or ()),
            team=doc.get("request_team", ""),
            sentiment=doc.get("sentiment"),
        ),
        state=AssignmentState(doc["state"]),
        agent_id=doc["agent_id"],
        since_us=doc["since_us"],
        queued_at_us=doc["queued_at_us"],
        reason=doc["reason"],
        version=doc["version"],
        priority=doc["priority"],
        team=doc["team"],
        offer_expires_us=doc["offer_expires_us"],
        excluded=frozenset(doc.get("excluded") or ()),
        rule_id=doc.get("rule_id", ""),
        escalation_step=doc.get("escalation_step", 0),
        explanation=tuple(Verdict(**v) for v in doc.get("explanation") or ()),
        boost=doc.get("boost", 0),
    )
