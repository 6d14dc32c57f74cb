"""Writing the MongoDB store: a change's writes in an order that lets an interrupted one be finished
(see the package's docstring), each insert keyed so that writing it twice writes it once."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from inbox_runtime.mongo import (
    Document,
    invalid_documents_refused,
)
from pymongo import DESCENDING

from inbox_threading.changes import (
    Committed,
    ConversationPatch,
    CustomerGuard,
    CustomerPatch,
    CustomerRecord,
    ItemPatch,
    NewItem,
    ThreadChange,
    Tombstone,
)
from inbox_threading.domain import (
    ContactPoint,
    ConversationStatus,
    Direction,
    ErasureReceipt,
)
from inbox_threading.plans import COUNTED_KINDS
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
from inbox_threading.store.mongo.queries import ThreadQueries

RESOLVED = int(ConversationStatus.RESOLVED)
_TIMELINE_ORDER = ("sent_at_us", "received_at_us", "conversation_id", "sequence")


class _GuardFailed(Exception):
    pass


class ThreadWrites(ThreadQueries):
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
            "preview": patch.preview,
            "preview_direction": patch.preview_direction,
            "waiting_since_us": patch.waiting_since_us,
            "subject": patch.subject,
            "unanswered_count": patch.unanswered_count,
            "last_outbound_id": patch.last_outbound_id,
            "last_delivery_status": patch.last_delivery_status,
            "mood": None if patch.mood is None else dataclasses.asdict(patch.mood),
            "satisfaction": None if patch.satisfaction is None else dataclasses.asdict(patch.satisfaction),
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
        if patch.sentiment is not None:
            updates["sentiment"], updates["sentiment_translated_from"] = patch.sentiment
        if updates:
            await messages.update_one({"_id": patch.message_id}, {"$set": updates})
        if patch.translation_status is not None:
            query: Document = {"_id": patch.message_id}
            if patch.translation_status == "pending":
                query["translation_status"] = {"$ne": "done"}
            await messages.update_one(query, {"$set": {"translation_status": patch.translation_status}})
        if patch.delivery is not None:
            status, detail, replaces = patch.delivery
            # A message stored before delivery was tracked has no field: it counts as no report yet.
            known: Document = {"delivery_status": {"$in": list(replaces)}}
            if 0 in replaces:
                known = {"$or": [known, {"delivery_status": {"$exists": False}}]}
            await messages.update_one(
                {"_id": patch.message_id, **known}, {"$set": {"delivery_status": status, "delivery_detail": detail}}
            )

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

    async def set_opt_out(self, channel: str, contact: ContactPoint, opted_out: bool) -> None:
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
        return ErasureReceipt(customer_id, contacts, tuple(conversation_ids), items, tombstone.erased_at_us)
