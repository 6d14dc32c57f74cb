"""Reading the MongoDB store: what the actions decide on, and the inbox's views."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from inbox_runtime.mongo import (
    Document,
    MongoStore,
)
from pymongo import ASCENDING, DESCENDING

from inbox_threading.changes import (
    ConversationQuery,
    CustomerRecord,
    ReplySource,
    SearchQuery,
)
from inbox_threading.domain import (
    ContactPoint,
    Conversation,
    ConversationStatus,
    CustomerFacts,
    Direction,
    ItemKind,
    MergeSuggestion,
    ReplyRoute,
    Satisfaction,
    StoredMessage,
    Viewer,
    customer_label,
)
from inbox_threading.outreach import SentOutreach
from inbox_threading.store.cursors import decode_cursor, encode_cursor
from inbox_threading.store.mongo import documents as docs
from inbox_threading.store.mongo.indexes import (
    AUDIT_LOG,
    CLAIMS,
    CONTACT_POINTS,
    CONVERSATIONS,
    CUSTOMERS,
    ERASURES,
    MESSAGE_REFS,
    MESSAGES,
    OPT_OUTS,
    PROVIDER_KEYS,
    SUGGESTIONS,
)

RESOLVED = int(ConversationStatus.RESOLVED)
_TIMELINE_ORDER = ("sent_at_us", "received_at_us", "conversation_id", "sequence")


def after(fields: Sequence[str], values: Sequence[object], *, descending: bool = False) -> Document:
    """Documents after `values` in the order of `fields` (a keyset page's continuation)."""
    op = "$lt" if descending else "$gt"
    branches = []
    for i, field in enumerate(fields):
        branch: Document = {f: values[j] for j, f in enumerate(fields[:i])}
        branch[field] = {op: values[i]}
        branches.append(branch)
    return {"$or": branches}


class ThreadQueries(MongoStore):
    # --- reads for decisions ---------------------------------------------------------------------

    async def _latest_claim(self, customer_id: str) -> Document | None:
        return await self._db[CLAIMS].find_one({"customer_id": customer_id}, sort=[("version", DESCENDING)])

    async def customer(self, customer_id: str) -> CustomerRecord | None:
        found = await self._db[CUSTOMERS].find_one({"_id": customer_id})
        return docs.customer(found, await self._latest_claim(customer_id)) if found else None

    async def customer_by_contact(self, contact: ContactPoint) -> CustomerRecord | None:
        link = await self._db[CONTACT_POINTS].find_one({"_id": docs.contact_key(contact)})
        if link is None:
            return None
        found = await self.customer(link["customer_id"])
        if found is None:
            # The contact point was written and its customer not yet (an interrupted first message).
            claim = await self._latest_claim(link["customer_id"])
            return docs.customer({"_id": link["customer_id"], "created_at_us": link["created_at_us"]}, claim)
        return found

    async def contacts_of(self, customer_id: str) -> tuple[ContactPoint, ...]:
        found = (
            self._db[CONTACT_POINTS]
            .find({"customer_id": customer_id})
            .sort([("created_at_us", ASCENDING), ("kind", ASCENDING), ("value", ASCENDING)])
        )
        return tuple([docs.contact(d) async for d in found])

    async def item(self, message_id: str) -> StoredMessage | None:
        found = await self._db[MESSAGES].find_one({"_id": message_id})
        return docs.message(found) if found else None

    async def message_id_for(self, provider_key: str) -> str | None:
        found = await self._db[PROVIDER_KEYS].find_one({"_id": provider_key})
        return str(found["message_id"]) if found else None

    async def item_route(self, message_id: str) -> ReplyRoute | None:
        found = await self._db[MESSAGES].find_one({"_id": message_id}, {"channel": 1, "inbox_id": 1, "contact": 1})
        if found is None:
            return None
        return ReplyRoute(found["channel"], found["inbox_id"], docs.contact(found["contact"]), "")

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = await self._db[CONVERSATIONS].find_one({"_id": conversation_id})
        return (await self._labelled([found]))[0] if found else None

    async def conversation_state(self, conversation_id: str) -> Conversation | None:
        found = await self._db[CONVERSATIONS].find_one({"_id": conversation_id})
        return docs.conversation(found) if found else None

    async def _conversations(self, query: Document, sort: list[tuple[str, int]], limit: int) -> list[Conversation]:
        found = self._db[CONVERSATIONS].find(query).sort(sort).limit(limit)
        return await self._labelled([d async for d in found])

    async def _labelled(self, found: list[Document]) -> list[Conversation]:
        """Conversations with their customer's name, else first contact point (two queries a page)."""
        customer_ids = list({d["customer_id"] for d in found})
        names = {
            c["_id"]: c.get("display_name", "")
            async for c in self._db[CUSTOMERS].find({"_id": {"$in": customer_ids}}, {"display_name": 1})
        }
        first_contacts: dict[str, ContactPoint] = {}
        nameless = [c for c in customer_ids if not names.get(c)]
        if nameless:
            contacts = (
                self._db[CONTACT_POINTS].find({"customer_id": {"$in": nameless}}).sort([("created_at_us", DESCENDING)])
            )
            async for contact in contacts:  # oldest last, so the first contact point wins
                first_contacts[contact["customer_id"]] = docs.contact(contact)
        return [
            docs.conversation(d, customer_label(names.get(d["customer_id"], ""), first_contacts.get(d["customer_id"])))
            for d in found
        ]

    async def latest_resolved(self, customer_id: str) -> Conversation | None:
        found = await self._conversations(
            {"customer_id": customer_id, "status": RESOLVED}, [("last_activity_at_us", DESCENDING)], 1
        )
        return found[0] if found else None

    async def outreach_sent(self, customer_id: str, since_us: int) -> list[SentOutreach]:
        found = self._db[MESSAGES].find(
            {"customer_id": customer_id, "direction": 2, "sent_at_us": {"$gte": since_us}},
            {"sent_at_us": 1, "metadata": 1},
        )
        sent = []
        async for d in found:
            metadata = dict(docs.unpaired(d.get("metadata")))
            if "outreach" in metadata:
                sent.append(SentOutreach(d["sent_at_us"], metadata.get("nudge_rule", "")))
        return sent

    async def satisfaction_answers(self, since_us: int, until_us: int) -> list[Satisfaction]:
        found = self._db[CONVERSATIONS].find(
            {"satisfaction.answered_at_us": {"$gt": 0, "$gte": since_us, "$lt": until_us}}, {"satisfaction": 1}
        )
        return [Satisfaction(**d["satisfaction"]) async for d in found]

    async def conversation_for_refs(self, refs: Sequence[str]) -> Conversation | None:
        if not refs:
            return None
        known = {
            d["_id"]: d["conversation_id"] async for d in self._db[MESSAGE_REFS].find({"_id": {"$in": list(refs)}})
        }
        for ref in refs:
            if ref in known:
                return await self.get_conversation(known[ref])
        return None

    async def last_inbound(self, conversation_id: str, channel: str) -> ReplySource | None:
        query: Document = {"conversation_id": conversation_id, "direction": int(Direction.INBOUND)}
        if channel:
            query["channel"] = channel
        found = await self._db[MESSAGES].find_one(query, sort=[("sequence", DESCENDING)])
        if found is None:
            return None
        return ReplySource(found["_id"], found["channel"], found["inbox_id"], docs.contact(found["contact"]))

    async def latest_contact(self, customer_id: str, kind: int) -> str | None:
        found = await self._db[CONTACT_POINTS].find_one(
            {"customer_id": customer_id, "kind": kind}, sort=[("created_at_us", DESCENDING)]
        )
        return str(found["value"]) if found else None

    async def is_opted_out(self, channel: str, contact: ContactPoint) -> bool:
        return await self._db[OPT_OUTS].find_one({"_id": f"{channel}:{docs.contact_key(contact)}"}) is not None

    async def due_snoozed(self, now_us: int, limit: int) -> list[Conversation]:
        query = {"status": int(ConversationStatus.SNOOZED), "snoozed_until_us": {"$lte": now_us}}
        return await self._conversations(query, [("snoozed_until_us", ASCENDING)], limit)

    async def inbound_writers(self, customer_id: str) -> dict[str, frozenset[ContactPoint]]:
        ids = [
            d["_id"]
            async for d in self._db[CONVERSATIONS]
            .find({"customer_id": customer_id}, {"_id": 1})
            .sort([("opened_at_us", ASCENDING), ("_id", ASCENDING)])
        ]
        writers: dict[str, set[ContactPoint]] = {i: set() for i in ids}
        found = self._db[MESSAGES].find(
            {"customer_id": customer_id, "direction": int(Direction.INBOUND)}, {"conversation_id": 1, "contact": 1}
        )
        async for d in found:
            writers.setdefault(d["conversation_id"], set()).add(docs.contact(d["contact"]))
        return {i: frozenset(w) for i, w in writers.items()}

    async def merge_suggestion(self, suggestion_id: str) -> MergeSuggestion | None:
        found = await self._db[SUGGESTIONS].find_one({"_id": suggestion_id})
        return docs.suggestion(found) if found else None

    # --- queries ---------------------------------------------------------------------------------

    async def list_conversations(self, query: ConversationQuery) -> tuple[list[Conversation], str]:
        conditions: list[Document] = []
        for field, value in (
            ("assignee_agent_id", query.assignee_agent_id),
            ("team", query.team),
            ("language", query.language),
            ("customer_id", query.customer_id),
            ("tags", query.tag),
            ("participants", query.participant_agent_id),
        ):
            if value:
                conditions.append({field: value})
        if query.statuses:
            conditions.append({"status": {"$in": [int(s) for s in query.statuses]}})
        if query.channels:
            conditions.append({"channel": {"$in": list(query.channels)}})
        if query.cursor:
            activity, conversation_id = decode_cursor(query.cursor, 2)
            conditions.append(after(("last_activity_at_us", "_id"), (activity, conversation_id), descending=True))
        found = await self._conversations(
            {"$and": conditions} if conditions else {},
            [("last_activity_at_us", DESCENDING), ("_id", DESCENDING)],
            query.limit + 1,
        )
        page = found[: query.limit]
        more = len(found) > query.limit
        next_cursor = encode_cursor(page[-1].last_activity_at_us, page[-1].conversation_id) if page and more else ""
        return page, next_cursor

    async def list_messages(self, conversation_id: str, limit: int, after_sequence: int) -> list[StoredMessage]:
        found = (
            self._db[MESSAGES]
            .find({"conversation_id": conversation_id, "sequence": {"$gt": after_sequence}})
            .sort([("sequence", ASCENDING)])
            .limit(limit)
        )
        return [docs.message(d) async for d in found]

    async def timeline(
        self, customer_id: str, limit: int, cursor: str, exclude_notes: bool
    ) -> tuple[list[StoredMessage], str]:
        conditions: list[Document] = [{"customer_id": customer_id}]
        if exclude_notes:
            conditions.append({"kind": {"$ne": int(ItemKind.NOTE)}})
        if cursor:
            conditions.append(after(_TIMELINE_ORDER, decode_cursor(cursor, 4)))
        found = (
            self._db[MESSAGES]
            .find({"$and": conditions})
            .sort([(field, ASCENDING) for field in _TIMELINE_ORDER])
            .limit(limit + 1)
        )
        items = [docs.message(d) async for d in found]
        page = items[:limit]
        next_cursor = ""
        if len(items) > limit:
            last = page[-1]
            next_cursor = encode_cursor(last.sent_at_us, last.received_at_us, last.conversation_id, last.sequence)
        return page, next_cursor

    async def profile(self, customer_id: str) -> CustomerFacts | None:
        record = await self.customer(customer_id)
        if record is None:
            return None
        messages = self._db[MESSAGES]
        inbound: Document = {"customer_id": customer_id, "direction": int(Direction.INBOUND)}
        first = await messages.find_one(inbound, {"sent_at_us": 1}, sort=[("sent_at_us", ASCENDING)])
        last = await messages.find_one(inbound, {"sent_at_us": 1}, sort=[("sent_at_us", DESCENDING)])
        channels = sorted(str(c) for c in await messages.distinct("channel", inbound))
        last_agent = await messages.find_one(
            {"customer_id": customer_id, "direction": int(Direction.OUTBOUND), "agent_id": {"$ne": ""}},
            {"agent_id": 1},
            sort=[("sent_at_us", DESCENDING)],
        )
        return CustomerFacts(
            customer_id=customer_id,
            display_name=record.display_name,
            contact_points=await self.contacts_of(customer_id),
            first_contact_at_us=first["sent_at_us"] if first else record.created_at_us,
            last_contact_at_us=last["sent_at_us"] if last else record.created_at_us,
            channels_used=tuple(channels),
            conversation_count=await self._db[CONVERSATIONS].count_documents({"customer_id": customer_id}),
            open_conversation_id=record.active_conversation_id,
            last_agent_id=last_agent["agent_id"] if last_agent else "",
            attributes=record.attributes,
        )

    async def search(self, query: SearchQuery, viewer: Viewer, limit: int, offset: int) -> list[StoredMessage]:
        """Normalised terms in an indexed array (no text index, which FerretDB and sharded setups differ on);
        visibility as the viewer's conversation ids, since there is no join."""
        whole = list(query.terms[:-1] if query.last_is_prefix else query.terms)
        conditions: list[Document] = []
        if whole:
            conditions.append({"terms": {"$all": whole}})
        if query.last_is_prefix:
            conditions.append({"terms": {"$regex": "^" + re.escape(query.terms[-1])}})
        if not viewer.sees_everything:
            visible: list[Document] = [{"assignee_agent_id": viewer.agent_id}, {"participants": viewer.agent_id}]
            if viewer.teams:
                visible.append({"team": {"$in": [t for t in viewer.teams if t]}})
            ids = [d["_id"] async for d in self._db[CONVERSATIONS].find({"$or": visible}, {"_id": 1})]
            conditions.append({"conversation_id": {"$in": ids}})
        found = (
            self._db[MESSAGES]
            .find({"$and": conditions})
            .sort([("stored_at_us", DESCENDING), ("sequence", DESCENDING), ("_id", DESCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [docs.message(d) async for d in found]

    async def export(self, customer_id: str) -> tuple[list[Conversation], list[StoredMessage], list[dict[str, object]]]:
        conversations = await self._conversations({"customer_id": customer_id}, [("opened_at_us", ASCENDING)], 0)
        found = self._db[MESSAGES].find({"customer_id": customer_id}).sort([(f, ASCENDING) for f in _TIMELINE_ORDER])
        items = [docs.message(d) async for d in found]
        audit: list[dict[str, Any]] = [
            {"at_us": d["at_us"], "actor": d["actor"], "action": d["action"], "details": d["details"]}
            async for d in self._db[AUDIT_LOG].find({"customer_id": customer_id}).sort([("at_us", ASCENDING)])
        ]
        return conversations, items, audit

    async def merge_suggestions(self, customer_id: str) -> list[MergeSuggestion]:
        query: Document = (
            {"$or": [{"customer_id": customer_id}, {"other_customer_id": customer_id}]}
            if customer_id
            else {"status": "pending"}
        )
        found = self._db[SUGGESTIONS].find(query).sort([("created_at_us", ASCENDING)])
        return [docs.suggestion(d) async for d in found]

    async def erasure(self, customer_id: str) -> dict[str, object] | None:
        found = await self._db[ERASURES].find_one({"_id": customer_id})
        if found is None:
            return None
        return {
            "customer_id": customer_id,
            "erased_at_us": found["erased_at_us"],
            "erased_by": found["erased_by"],
            "reason": found["reason"],
            "counts": found["counts"],
        }
