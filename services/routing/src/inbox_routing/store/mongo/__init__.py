"""MongoDB implementation of RoutingStore: the production store, selected by `MONGODB_URI`.

No multi-document transactions, so it holds on a sharded cluster, and nothing rests on conditional
updates (FerretDB 1.24 applies those as a read then a write). The invariants rest on unique inserts:
- a change is written only once it has inserted the conversation's next version; two replicas that read
  the same version cannot both write, so a conversation is never given to two agents;
- an agent's capacity is a set of slots, one document each ("<agent>|<channel>|<slot>", slot below the
  capacity): a conversation is given to an agent only after inserting one of them, so however many
  replicas decide at once, no agent holds more conversations than slots.
The slot is taken before the version is written and given back if the version was taken first; a
process that dies between the two leaves a slot nobody holds, which a later decision reclaims once it
is older than `ORPHAN_SLOT_US` (never sooner: it may belong to a write still in flight).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from inbox_runtime.mongo import (
    Document,
    MongoStore,
    invalid_documents_refused,
    is_duplicate_key,
)
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import PyMongoError

from inbox_routing.changes import AssignmentRecord, Outcome, RoutingChange
from inbox_routing.domain import (
    HOLDS_CAPACITY,
    Agent,
    AssignmentState,
    Candidate,
    NotFound,
    Presence,
    QueueStats,
)
from inbox_routing.store.mongo import documents as docs
from inbox_routing.store.mongo.documents import (
    AGENTS,
    ANNOUNCED,
    ASSIGNMENTS,
    INDEXES,
    RULES,
    SLA_TIMERS,
    SLOTS,
    VERSIONS,
)

HOLDING = [int(s) for s in HOLDS_CAPACITY]
QUEUED = int(AssignmentState.QUEUED)
ORPHAN_SLOT_US = 60_000_000


class MongoRoutingStore(MongoStore):
    SERVICE = "routing"
    INDEXES = INDEXES
    UPGRADES = (("channels-by-name", docs.channels_by_name),)

    # --- the conversations' routing ------------------------------------------------------------

    async def commit(self, changes: Sequence[RoutingChange]) -> list[Outcome]:
        with invalid_documents_refused():
            return [await self._apply(change) for change in changes]

    async def _apply(self, change: RoutingChange) -> Outcome:
        record = change.record
        conversation_id = record.conversation_id
        if change.clock is not None:  # before the record, as the change promises: a crash then loses neither
            await self.start_sla(conversation_id, change.clock.kind, change.clock.due_us, replace=True)
        latest = await self.record(conversation_id)
        if (latest.version if latest else 0) != record.version - 1:
            return Outcome.STALE
        previous_holder = latest.holder if latest else ""
        taken = ""
        if record.holder and record.holder != previous_holder:
            taken = await self._take_slot(record, change.capacity)
            if not taken:
                return Outcome.FULL
        document = {"_id": docs.version_id(conversation_id, record.version), **docs.record_document(record)}
        if not await self._insert_if_absent(VERSIONS, document):
            if taken:
                await self._db[SLOTS].delete_one({"_id": taken, "conversation_id": conversation_id})
            return Outcome.STALE
        # Slots of this conversation that its new state does not hold go back to their agents.
        released: Document = {"conversation_id": conversation_id}
        if record.holder:
            released["agent_id"] = {"$ne": record.holder}
        await self._db[SLOTS].delete_many(released)
        await self._project(record)
        if change.assigned is not None:
            agent_id, at_us = change.assigned
            await self._db[AGENTS].update_one({"_id": agent_id}, {"$max": {"last_assigned_at_us": at_us}})
        return Outcome.APPLIED

    async def _take_slot(self, record: AssignmentRecord, capacity: int) -> str:
        """One of the agent's free slots on the channel (its id), or "" when all are held."""
        agent_id, channel, conversation_id = record.holder, record.request.channel, record.conversation_id
        slots = self._db[SLOTS]
        mine = await slots.find_one({"conversation_id": conversation_id, "agent_id": agent_id})
        if mine is not None:
            return str(mine["_id"])
        for attempt in range(2):
            for slot in range(capacity):
                document = {
                    "_id": docs.slot_id(agent_id, channel, slot),
                    "agent_id": agent_id,
                    "channel": channel,
                    "conversation_id": conversation_id,
                    "taken_at_us": record.since_us,
                }
                if await self._insert_if_absent(SLOTS, document):
                    return str(document["_id"])
            if attempt == 0 and not await self._reclaim_orphans(agent_id, channel, record.since_us):
                break
        return ""

    async def _reclaim_orphans(self, agent_id: str, channel: str, now_us: int) -> bool:
        """Give back slots whose conversation's record does not hold this agent and that are old enough
        not to belong to a write in flight; True if any came back."""
        reclaimed = False
        async for slot in self._db[SLOTS].find(
            {"agent_id": agent_id, "channel": channel, "taken_at_us": {"$lt": now_us - ORPHAN_SLOT_US}}
        ):
            holder = await self.record(slot["conversation_id"])
            if holder is None or holder.holder != agent_id:
                await self._db[SLOTS].delete_one({"_id": slot["_id"], "conversation_id": slot["conversation_id"]})
                reclaimed = True
        return reclaimed

    async def _project(self, record: AssignmentRecord) -> None:
        """Keep the latest version in the queryable projection. An older write never replaces a newer one
        on MongoDB; on a server that applies the filter and the write apart (FerretDB) it could, so each
        writer checks afterwards and writes the latest version again until the projection has it."""
        while True:
            document = docs.record_document(record)
            try:
                await self._db[ASSIGNMENTS].replace_one(
                    {"_id": record.conversation_id, "version": {"$lt": record.version}}, document, upsert=True
                )
            except PyMongoError as exc:
                if not is_duplicate_key(exc):  # a newer version is projected already
                    raise
            projected = await self._db[ASSIGNMENTS].find_one({"_id": record.conversation_id}, {"version": 1})
            latest = await self.record(record.conversation_id)
            if latest is None or (projected is not None and projected["version"] >= latest.version):
                return
            record = latest

    async def record(self, conversation_id: str) -> AssignmentRecord | None:
        found = await self._db[VERSIONS].find_one({"conversation_id": conversation_id}, sort=[("version", DESCENDING)])
        return docs.record(found) if found else None

    async def _loads(self, channel: str) -> Counter[str]:
        return Counter([s["agent_id"] async for s in self._db[SLOTS].find({"channel": channel}, {"agent_id": 1})])

    async def candidates(self, channel: str, team: str) -> list[Candidate]:
        query: Document = {"presence": int(Presence.AVAILABLE)}
        if team:
            query["teams"] = team
        loads = await self._loads(channel)
        return [Candidate(docs.agent(d), loads[d["_id"]]) async for d in self._db[AGENTS].find(query)]

    async def known_agent(self, customer_id: str, conversation_id: str, since_us: int) -> str:
        found = await self._db[ASSIGNMENTS].find_one(
            {
                "customer_id": customer_id,
                "agent_id": {"$ne": ""},
                "since_us": {"$gte": since_us},
                "$or": [{"_id": {"$ne": conversation_id}}, {"state": int(AssignmentState.ENDED)}],
            },
            {"agent_id": 1},
            sort=[("since_us", DESCENDING)],
        )
        return str(found["agent_id"]) if found else ""

    async def held_by(self, agent_id: str) -> list[str]:
        found = self._db[SLOTS].find({"agent_id": agent_id}, {"conversation_id": 1}).sort([("taken_at_us", ASCENDING)])
        return list(dict.fromkeys([s["conversation_id"] async for s in found]))

    async def offers_to(self, agent_id: str) -> list[AssignmentRecord]:
        found = (
            self._db[ASSIGNMENTS]
            .find({"agent_id": agent_id, "state": int(AssignmentState.OFFERED)})
            .sort([("offer_expires_us", ASCENDING), ("_id", ASCENDING)])
        )
        return [docs.record(d) async for d in found]

    async def queued(self, limit: int) -> list[AssignmentRecord]:
        found = (
            self._db[ASSIGNMENTS]
            .find({"state": QUEUED})
            .sort([("priority", DESCENDING), ("queued_at_us", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [docs.record(d) async for d in found]

    async def queue_position(self, conversation_id: str) -> int:
        row = await self._db[ASSIGNMENTS].find_one({"_id": conversation_id})
        if row is None or row["state"] != QUEUED:
            return 0
        priority, queued_at = row["priority"], row["queued_at_us"]
        ahead = await self._db[ASSIGNMENTS].count_documents(
            {
                "state": QUEUED,
                "$or": [
                    {"priority": {"$gt": priority}},
                    {"priority": priority, "queued_at_us": {"$lt": queued_at}},
                    {"priority": priority, "queued_at_us": queued_at, "_id": {"$lt": conversation_id}},
                ],
            }
        )
        return ahead + 1

    async def lapsed_offers(self, now_us: int) -> list[tuple[str, str]]:
        found = (
            self._db[ASSIGNMENTS]
            .find({"state": int(AssignmentState.OFFERED), "offer_expires_us": {"$lte": now_us}})
            .sort([("offer_expires_us", ASCENDING)])
            .limit(500)
        )
        return [(d["_id"], d["agent_id"]) async for d in found]

    async def queue_stats(self, now_us: int) -> QueueStats:
        waiting: dict[str, tuple[int, int]] = {}
        async for d in self._db[ASSIGNMENTS].find({"state": QUEUED}, {"team": 1, "queued_at_us": 1}):
            count, oldest = waiting.get(d["team"], (0, d["queued_at_us"]))
            waiting[d["team"]] = (count + 1, min(oldest, d["queued_at_us"]))
        available: dict[str, int] = {}
        async for d in self._db[AGENTS].find({"presence": int(Presence.AVAILABLE)}, {"teams": 1}):
            for team in d.get("teams") or [""]:
                available[team] = available.get(team, 0) + 1
        per_team = {team: (count, now_us - oldest) for team, (count, oldest) in waiting.items()}
        overdue = [d["_id"] async for d in self._db[SLA_TIMERS].find({"breached": True}, {"_id": 1})]
        breaches: dict[str, int] = {}
        open_ones = {"_id": {"$in": overdue}, "state": {"$ne": int(AssignmentState.ENDED)}}
        async for d in self._db[ASSIGNMENTS].find(open_ones, {"team": 1}):
            breaches[d["team"]] = breaches.get(d["team"], 0) + 1
        return QueueStats(per_team=per_team, available_agents=available, sla_breaches=breaches)

    async def available_agents(self, team: str) -> int:
        in_team: dict[str, Any] = {"teams": team} if team else {"$or": [{"teams": []}, {"teams": None}]}
        return await self._db[AGENTS].count_documents({"presence": int(Presence.AVAILABLE), **in_team})

    async def announced_positions(self, conversation_ids: Sequence[str]) -> dict[str, int]:
        if not conversation_ids:
            return {}
        found = self._db[ANNOUNCED].find({"_id": {"$in": list(conversation_ids)}})
        return {d["_id"]: int(d["position"]) async for d in found}

    async def mark_announced(self, conversation_id: str, position: int) -> None:
        await self._put(ANNOUNCED, conversation_id, {"position": position})

    async def forget_customer(self, customer_id: str) -> int:
        ids = [d["_id"] async for d in self._db[ASSIGNMENTS].find({"customer_id": customer_id}, {"_id": 1})]
        ids += [
            d["conversation_id"]
            async for d in self._db[VERSIONS].find({"customer_id": customer_id}, {"conversation_id": 1})
            if d["conversation_id"] not in ids
        ]
        for collection, field in (
            (VERSIONS, "conversation_id"),
            (SLOTS, "conversation_id"),
            (SLA_TIMERS, "_id"),
            (ANNOUNCED, "_id"),
        ):
            await self._db[collection].delete_many({field: {"$in": ids}})
        return (await self._db[ASSIGNMENTS].delete_many({"_id": {"$in": ids}})).deleted_count

    async def merge_customers(self, surviving_customer_id: str, merged_customer_id: str) -> int:
        merged, surviving = {"customer_id": merged_customer_id}, {"$set": {"customer_id": surviving_customer_id}}
        await self._db[VERSIONS].update_many(merged, surviving)
        return (await self._db[ASSIGNMENTS].update_many(merged, surviving)).modified_count

    async def load_of(self, agent_id: str) -> dict[str, int]:
        found = self._db[SLOTS].find({"agent_id": agent_id}, {"channel": 1})
        return dict(Counter([str(s["channel"]) async for s in found]))

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
        await self._create(
            AGENTS, agent_id, {"presence": int(Presence.OFFLINE), "last_assigned_at_us": 0, "last_seen_at_us": 0}
        )
        return await self._update_agent(
            agent_id,
            {
                "display_name": display_name,
                "capacities": docs.pairs(capacities),
                "languages": list(languages),
                "teams": sorted(set(teams)),
                "skills": docs.pairs(skills or {}),
            },
        )

    async def get_agent(self, agent_id: str) -> Agent | None:
        found = await self._db[AGENTS].find_one({"_id": agent_id})
        return docs.agent(found) if found else None

    async def list_agents(self) -> list[Agent]:
        return [docs.agent(d) async for d in self._db[AGENTS].find({}).sort([("_id", ASCENDING)])]

    async def _update_agent(self, agent_id: str, changes: Document) -> Agent:
        found = await self._db[AGENTS].find_one_and_update(
            {"_id": agent_id}, {"$set": changes}, return_document=ReturnDocument.AFTER
        )
        if found is None:
            raise NotFound(f"agent {agent_id} not found")
        return docs.agent(found)

    async def set_presence(self, agent_id: str, presence: Presence, now_us: int) -> Agent:
        return await self._update_agent(agent_id, {"presence": int(presence), "last_seen_at_us": now_us})

    async def heartbeat(self, agent_id: str, now_us: int) -> Agent:
        return await self._update_agent(agent_id, {"last_seen_at_us": now_us})

    async def mark_silent_away(self, seen_before_us: int) -> list[Agent]:
        silent = self._db[AGENTS].find(
            {"presence": int(Presence.AVAILABLE), "last_seen_at_us": {"$lt": seen_before_us}}, {"_id": 1}
        )
        away = []
        for agent_id in [d["_id"] async for d in silent]:
            found = await self._db[AGENTS].find_one_and_update(
                {"_id": agent_id, "presence": int(Presence.AVAILABLE)},
                {"$set": {"presence": int(Presence.AWAY)}},
                return_document=ReturnDocument.AFTER,
            )
            if found is not None:
                away.append(docs.agent(found))
        return away

    # --- service levels and rules ----------------------------------------------------------------

    async def sla_timer(self, conversation_id: str) -> tuple[str, int, bool] | None:
        found = await self._db[SLA_TIMERS].find_one({"_id": conversation_id})
        return (str(found["kind"]), int(found["due_us"]), bool(found["breached"])) if found else None

    async def start_sla(self, conversation_id: str, kind: str, due_us: int, *, replace: bool) -> None:
        timer = {"kind": kind, "due_us": due_us, "breached": False}
        if replace:
            await self._put(SLA_TIMERS, conversation_id, timer)
        else:
            await self._insert_if_absent(SLA_TIMERS, {"_id": conversation_id, **timer})

    async def stop_sla(self, conversation_id: str) -> None:
        await self._db[SLA_TIMERS].delete_one({"_id": conversation_id})

    async def breach_due(self, now_us: int) -> list[tuple[str, str, int]]:
        due = self._db[SLA_TIMERS].find({"breached": False, "due_us": {"$lte": now_us}})
        breached = []
        for timer in [d async for d in due]:
            result = await self._db[SLA_TIMERS].update_one(
                {"_id": timer["_id"], "breached": False}, {"$set": {"breached": True}}
            )
            if result.modified_count:
                breached.append((str(timer["_id"]), str(timer["kind"]), int(timer["due_us"])))
        return breached

    async def rules(self) -> tuple[dict[str, Any], int]:
        found = await self._db[RULES].find_one({"_id": "rules"})
        return (json.loads(found["document"]), int(found["version"])) if found and "document" in found else ({}, 0)

    async def put_rules(self, document: dict[str, Any], updated_by: str, now_us: int) -> int:
        await self._create(RULES, "rules", {"version": 0})
        found = await self._db[RULES].find_one_and_update(
            {"_id": "rules"},
            {
                # A JSON string: rule documents name skills and attributes that may hold '.' or '$'.
                "$set": {
                    "document": json.dumps(document, sort_keys=True),
                    "updated_by": updated_by,
                    "updated_at_us": now_us,
                },
                "$inc": {"version": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        assert found is not None  # created above
        return int(found["version"])
