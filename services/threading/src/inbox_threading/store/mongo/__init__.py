"""MongoDB implementation of ConversationStore: the production store, selected by `MONGODB_URI`.

No multi-document transactions, so it holds on a sharded cluster. The invariants rest on inserts
with unique keys alone, the one write that is atomic on every server speaking the protocol (FerretDB
1.24 applies a conditional update or an `$inc` as a read then a write, so two writers can both succeed):
- the customer's guard is a log of versions: a change is written only once it has inserted the
  customer's next version (`_id` "<customer>#<version>"); two replicas that read the same version cannot
  both insert the next, so they never both open an active conversation;
- an item's position is claimed by inserting it under the unique (conversation, sequence) index;
- every other write in a change is idempotent (inserts keyed by `_id`, upserts, set operations) and
  ordered so that a change interrupted half-way is finished when its event is delivered again: the
  customer's active conversation is written before the conversation, a provider key before its item,
  and the ids the domain derives (conversation from first message, activity from its cause) repeat.
  An interrupted write can leave a gap in a conversation's positions; order is kept.
Counters (message count, last activity) are `$inc`/`$max` updates: exact on MongoDB, possibly short under
concurrent writers on FerretDB; nothing decides on them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from inbox_runtime.mongo import (
    Document,
    MongoStore,
    invalid_documents_refused,
)
from pymongo import ASCENDING, DESCENDING

from inbox_threading.changes import (
    Committed,
    ConversationPatch,
    ConversationQuery,
    CustomerGuard,
    CustomerPatch,
    CustomerRecord,
    ItemPatch,
    NewItem,
    ReplySource,
    SearchQuery,
    ThreadChange,
    Tombstone,
)
from inbox_threading.domain import (
    ContactPoint,
    Conversation,
    ConversationStatus,
    CustomerFacts,
    Direction,
    ErasureReceipt,
    ItemKind,
    MergeSuggestion,
    ReplyRoute,
    StoredMessage,
    Viewer,
)
from inbox_threading.plans import COUNTED_KINDS
from inbox_threading.store.cursors import decode_cursor, encode_cursor
from inbox_threading.store.mongo import documents as docs
from inbox_threading.store.mongo.indexes import (
    AUDIT_LOG,
    CLAIMS,
    CONTACT_POINTS,
    CONVERSATIONS,
    CUSTOMERS,
    ERASURES,
    INDEXES,
    MESSAGE_REFS,
    MESSAGES,
    OPT_OUTS,
    PROVIDER_KEYS,
    SUGGESTIONS,
)

RESOLVED = int(ConversationStatus.RESOLVED)
_TIMELINE_ORDER = ("sent_at_us", "received_at_us", "conversation_id", "sequence")


class _GuardFailed(Exception):
    pass


def after(fields: Sequence[str], values: Sequence[object], *, descending: bool = False) -> Document:
    """Documents after `values` in the order of `fields` (a keyset page's continuation)."""
    op = "$lt" if descending else "$gt"
    branches = []
    for i, field in enumerate(fields):
        branch: Document = {f: values[j] for j, f in enumerate(fields[:i])}
        branch[field] = {op: values[i]}
        branches.append(branch)
    return {"$or": branches}


class MongoConversationStore(MongoStore):
    SERVICE = "threading"
    INDEXES = INDEXES

    # --- writes -------------------------------------------------------------------------------

    async def commit(self, changes: Sequence[ThreadChange]) -> list[Committed]:
        results = []
        for change in changes:
            try:
                with invalid_documents_refused():
                    results.append(Committed(applied=True, sequences=await self._apply(change)))
            except _GuardFailed:
                results.append(Committed(applied=False))
        return results

    async def _apply(self, change: ThreadChange) -> dict[str, int]:
        if change.guard is not None:
            await self._guard(change.guard)
        for contact, customer_id, at_us in change.contact_links:
            await self._insert_if_absent(
                CONTACT_POINTS,
                {
                    "_id": docs.contact_key(contact),
                    "kind": contact.kind,
                    "value": contact.value,
                    "customer_id": customer_id,
                    "created_at_us": at_us,
                },
            )
        for new in change.conversations:
            await self._create(CONVERSATIONS, new.conversation_id, docs.new_conversation(new))
        for patch in change.patches:
            await self._patch_conversation(patch)
        sequences = {}
        for item in change.items:
            sequence = await self._append(item)
            if sequence is not None:
                sequences[item.message_id] = sequence
        for item_patch in change.item_patches:
            await self._patch_item(item_patch)
        for customer_patch in change.customer_patches:
            await self._patch_customer(customer_patch)
        for ref, conversation_id in change.refs:
            await self._insert_if_absent(MESSAGE_REFS, {"_id": ref, "conversation_id": conversation_id})
        for entry in change.audit:
            await self._insert_if_absent(
                AUDIT_LOG,
                {
                    "_id": entry.audit_id,
                    "at_us": entry.at_us,
                    "actor": entry.actor,
                    "action": entry.action,
                    "customer_id": entry.customer_id,
                    "details": entry.details,
                },
            )
        for suggestion in change.suggestions:
            await self._insert_if_absent(SUGGESTIONS, docs.new_suggestion(suggestion))
        for decision in change.suggestion_decisions:
            await self._db[SUGGESTIONS].update_one(
                {"_id": decision.suggestion_id},
                {
                    "$set": {
                        "status": decision.status,
                        "decided_by": decision.decided_by,
                        "decided_at_us": decision.decided_at_us,
                    }
                },
            )
        return sequences

    async def _guard(self, guard: CustomerGuard) -> None:
        if guard.version == 0 and guard.contact is not None:
            key = docs.contact_key(guard.contact)
            contact = {
                "_id": key,
                "kind": guard.contact.kind,
                "value": guard.contact.value,
                "customer_id": guard.customer_id,
                "created_at_us": guard.created_at_us,
            }
            if not await self._insert_if_absent(CONTACT_POINTS, contact):
                owner = await self._db[CONTACT_POINTS].find_one({"_id": key})
                if owner is None or owner["customer_id"] != guard.customer_id:
                    raise _GuardFailed
        active = guard.active_conversation_id
        if active is None:
            claimed = await self._db[CLAIMS].find_one({"_id": docs.claim_id(guard.customer_id, guard.version)})
            active = claimed["active_conversation_id"] if claimed else ""
        if not await self._claim(guard.customer_id, guard.version + 1, active):
            raise _GuardFailed
        await self._create(
            CUSTOMERS,
            guard.customer_id,
            {
                "display_name": guard.display_name,
                "created_at_us": guard.created_at_us,
                "attributes": {},
                "language": "",
            },
        )

    async def _claim(self, customer_id: str, version: int, active_conversation_id: str) -> bool:
        """Take `version` of the customer's guard; False when another writer took it first."""
        return await self._insert_if_absent(
            CLAIMS,
            {
                "_id": docs.claim_id(customer_id, version),
                "customer_id": customer_id,
                "version": version,
                "active_conversation_id": active_conversation_id,
            },
        )

    async def _latest_claim(self, customer_id: str) -> Document | None:
        return await self._db[CLAIMS].find_one({"customer_id": customer_id}, sort=[("version", DESCENDING)])

    async def _set_active(self, customer_id: str, active_conversation_id: str) -> None:
        """Take the customer's next version with this active conversation, whoever else writes."""
        while True:
            latest = await self._latest_claim(customer_id)
            if await self._claim(customer_id, (latest["version"] if latest else 0) + 1, active_conversation_id):
                return

    async def _patch_conversation(self, patch: ConversationPatch) -> None:
        fields = {
            "status": None if patch.status is None else int(patch.status),
            "snoozed_until_us": patch.snoozed_until_us,
            "resolved_at_us": patch.resolved_at_us,
            "assignee_agent_id": patch.assignee_agent_id,
            "language": patch.language,
        }
        update: Document = {}
        changed = {k: v for k, v in fields.items() if v is not None}
        if changed:
            update["$set"] = changed
        additions = {}
        if patch.add_tags:
            additions["tags"] = {"$each": list(patch.add_tags)}
        if patch.add_participants:
            additions["participants"] = {"$each": list(patch.add_participants)}
        if additions:
            update["$addToSet"] = additions
        collection = self._db[CONVERSATIONS]
        if update:
            await collection.update_one({"_id": patch.conversation_id}, update)
        if patch.remove_tags:
            await collection.update_one({"_id": patch.conversation_id}, {"$pullAll": {"tags": list(patch.remove_tags)}})

    async def _append(self, item: NewItem) -> int | None:
        messages = self._db[MESSAGES]
        if await messages.find_one({"_id": item.message_id}, {"_id": 1}) is not None:
            return None
        if item.provider_key:
            key = {"_id": item.provider_key, "message_id": item.message_id, "customer_id": item.customer_id}
            if not await self._insert_if_absent(PROVIDER_KEYS, key):
                known = await self._db[PROVIDER_KEYS].find_one({"_id": item.provider_key})
                if known is not None and known["message_id"] != item.message_id:
                    return None  # this provider message is stored under its first id
        conversations = self._db[CONVERSATIONS]
        if await conversations.find_one({"_id": item.conversation_id}, {"_id": 1}) is None:
            raise LookupError(f"conversation {item.conversation_id} is not stored")
        while True:
            last = await messages.find_one(
                {"conversation_id": item.conversation_id}, {"sequence": 1}, sort=[("sequence", DESCENDING)]
            )
            sequence = (last["sequence"] if last else 0) + 1
            if await self._insert_if_absent(MESSAGES, docs.new_message(item, sequence)):
                break
            if await messages.find_one({"_id": item.message_id}, {"_id": 1}) is not None:
                return None  # stored meanwhile by another writer
            # Another item took this position first: take the next one.
        counted = item.kind in COUNTED_KINDS
        update: Document = {
            "$inc": {"message_count": 1 if counted else 0},
            "$max": {"last_activity_at_us": item.at_us},
        }
        if counted and item.direction == Direction.INBOUND:
            update["$set"] = {"channel": item.channel}
        await conversations.update_one({"_id": item.conversation_id}, update)
        return sequence

    async def _patch_item(self, patch: ItemPatch) -> None:
        messages = self._db[MESSAGES]
        updates: Document = {}
        if patch.language is not None:
            updates["language"] = patch.language
        if patch.translation is not None:
            found = await messages.find_one({"_id": patch.message_id}, {"translations": 1})
            if found is not None:
                language, text = patch.translation
                kept = [(k, v) for k, v in docs.unpaired(found.get("translations")) if k != language]
                updates["translations"] = docs.pairs(sorted([*kept, (language, text)]))
        if updates:
            await messages.update_one({"_id": patch.message_id}, {"$set": updates})
        if patch.translation_status is not None:
            query: Document = {"_id": patch.message_id}
            if patch.translation_status == "pending":
                query["translation_status"] = {"$ne": "done"}
            await messages.update_one(query, {"$set": {"translation_status": patch.translation_status}})

    async def _patch_customer(self, patch: CustomerPatch) -> None:
        customers = self._db[CUSTOMERS]
        updates: Document = {}
        if patch.language is not None:
            updates["language"] = patch.language
        if patch.attributes is not None:
            updates["attributes"] = dict(patch.attributes)
        if updates:
            await customers.update_one({"_id": patch.customer_id}, {"$set": updates})
        if patch.display_name_if_empty:
            await customers.update_one(
                {"_id": patch.customer_id, "display_name": ""}, {"$set": {"display_name": patch.display_name_if_empty}}
            )

    async def merge_customers(self, surviving: str, merged: str, active_conversation_id: str) -> None:
        rekey = {"$set": {"customer_id": surviving}}
        for collection in (CONTACT_POINTS, CONVERSATIONS, MESSAGES, AUDIT_LOG, PROVIDER_KEYS):
            await self._db[collection].update_many({"customer_id": merged}, rekey)
        await self._db[SUGGESTIONS].update_many({"customer_id": merged}, rekey)
        await self._db[SUGGESTIONS].update_many(
            {"other_customer_id": merged}, {"$set": {"other_customer_id": surviving}}
        )
        await self._set_active(surviving, active_conversation_id)
        await self._db[CUSTOMERS].delete_one({"_id": merged})
        await self._db[CLAIMS].delete_many({"customer_id": merged})

    async def move_to_customer(
        self, new_customer: CustomerRecord, contacts: Sequence[ContactPoint], conversation_ids: Sequence[str]
    ) -> None:
        await self._create(
            CUSTOMERS,
            new_customer.customer_id,
            {
                "display_name": new_customer.display_name,
                "created_at_us": new_customer.created_at_us,
                "attributes": dict(new_customer.attributes),
                "language": new_customer.language,
            },
        )
        await self._set_active(new_customer.customer_id, new_customer.active_conversation_id)
        rekey = {"$set": {"customer_id": new_customer.customer_id}}
        await self._db[CONTACT_POINTS].update_many({"_id": {"$in": [docs.contact_key(c) for c in contacts]}}, rekey)
        if conversation_ids:
            await self._db[CONVERSATIONS].update_many({"_id": {"$in": list(conversation_ids)}}, rekey)
            await self._db[MESSAGES].update_many({"conversation_id": {"$in": list(conversation_ids)}}, rekey)

    async def set_opt_out(self, channel: int, contact: ContactPoint, opted_out: bool) -> None:
        key = f"{channel}:{docs.contact_key(contact)}"
        if opted_out:
            await self._insert_if_absent(
                OPT_OUTS, {"_id": key, "channel": channel, "kind": contact.kind, "value": contact.value}
            )
        else:
            await self._db[OPT_OUTS].delete_one({"_id": key})

    async def erase_customer(self, tombstone: Tombstone) -> ErasureReceipt:
        customer_id = tombstone.customer_id
        contacts = await self.contacts_of(customer_id)
        conversation_ids = [
            d["_id"] async for d in self._db[CONVERSATIONS].find({"customer_id": customer_id}, {"_id": 1})
        ]
        items = (await self._db[MESSAGES].delete_many({"customer_id": customer_id})).deleted_count
        await self._db[MESSAGE_REFS].delete_many({"conversation_id": {"$in": conversation_ids}})
        await self._db[PROVIDER_KEYS].delete_many({"customer_id": customer_id})
        await self._db[CONVERSATIONS].delete_many({"customer_id": customer_id})
        await self._db[OPT_OUTS].delete_many(
            {"$or": [{"kind": c.kind, "value": c.value} for c in contacts]} if contacts else {"_id": None}
        )
        await self._db[SUGGESTIONS].delete_many(
            {"$or": [{"customer_id": customer_id}, {"other_customer_id": customer_id}]}
        )
        await self._db[CONTACT_POINTS].delete_many({"customer_id": customer_id})
        await self._db[AUDIT_LOG].delete_many({"customer_id": customer_id})
        counts = {"conversations": len(conversation_ids), "items": items, "contact_points": len(contacts)}
        await self._put(
            ERASURES,
            customer_id,
            {
                "erased_at_us": tombstone.erased_at_us,
                "erased_by": tombstone.erased_by,
                "reason": tombstone.reason,
                "counts": counts,
            },
        )
        await self._db[CUSTOMERS].delete_one({"_id": customer_id})
        await self._db[CLAIMS].delete_many({"customer_id": customer_id})
        return ErasureReceipt(customer_id, contacts, len(conversation_ids), items, tombstone.erased_at_us)

    # --- reads for decisions ---------------------------------------------------------------------

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
        return docs.conversation(found) if found else None

    async def _conversations(self, query: Document, sort: list[tuple[str, int]], limit: int) -> list[Conversation]:
        found = self._db[CONVERSATIONS].find(query).sort(sort).limit(limit)
        return [docs.conversation(d) async for d in found]

    async def latest_resolved(self, customer_id: str) -> Conversation | None:
        found = await self._conversations(
            {"customer_id": customer_id, "status": RESOLVED}, [("last_activity_at_us", DESCENDING)], 1
        )
        return found[0] if found else None

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

    async def last_inbound(self, conversation_id: str, channel: int) -> ReplySource | None:
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

    async def is_opted_out(self, channel: int, contact: ContactPoint) -> bool:
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
        channels = sorted(int(c) for c in await messages.distinct("channel", inbound))
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
