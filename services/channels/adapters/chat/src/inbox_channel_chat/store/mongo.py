"""MongoDB implementation of ChatRecords, selected when the host has `MONGODB_URI`.

"Delivered once" rests on a unique insert (one document per delivered reply), not on a conditional
update, so it holds with any number of replicas on MongoDB and FerretDB alike.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from inbox_runtime.mongo import MongoStore
from pymongo import ASCENDING, IndexModel

from inbox_channel_chat.store import PendingReply, Upload, VisitorIdentity

OUTBOX = "chat_outbox"
DELIVERED = "chat_delivered"
IDENTITIES = "chat_identities"
UPLOADS = "chat_uploads"
INDEXES = {
    OUTBOX: [IndexModel([("visitor_id", ASCENDING), ("delivered", ASCENDING), ("held_at_ns", ASCENDING)])],
    UPLOADS: [IndexModel([("visitor_id", ASCENDING)]), IndexModel([("attachment_id", ASCENDING)])],
}


class MongoChatRecords(MongoStore):
    SERVICE = "channels-chat"
    INDEXES = INDEXES

    async def hold(
        self, message_id: str, conversation_id: str, visitor_id: str, text: str, now_us: int, survey: bool = False
    ) -> None:
        await self._insert_if_absent(
            OUTBOX,
            {
                "_id": message_id,
                "conversation_id": conversation_id,
                "visitor_id": visitor_id,
                "text": text,
                "created_at_us": now_us,
                # The order replies were held in, near enough across replicas.
                "held_at_ns": time.time_ns(),
                "delivered": False,
                "survey": survey,
            },
        )

    async def pending(self, visitor_id: str) -> list[PendingReply]:
        found = (
            self._db[OUTBOX]
            .find({"visitor_id": visitor_id, "delivered": False})
            .sort([("held_at_ns", ASCENDING), ("_id", ASCENDING)])
        )
        waiting = [d async for d in found]
        delivered = {
            d["_id"] async for d in self._db[DELIVERED].find({"_id": {"$in": [d["_id"] for d in waiting]}}, {"_id": 1})
        }
        return [
            PendingReply(d["_id"], d["conversation_id"], d["text"], d["created_at_us"], bool(d.get("survey")))
            for d in waiting
            if d["_id"] not in delivered
        ]

    async def mark_delivered(self, message_id: str, now_us: int) -> bool:
        if not await self._insert_if_absent(DELIVERED, {"_id": message_id, "delivered_at_us": now_us}):
            return False
        await self._db[OUTBOX].update_one({"_id": message_id}, {"$set": {"delivered": True}})
        return True

    async def conversation_of(self, message_id: str, visitor_id: str) -> str | None:
        found = await self._db[OUTBOX].find_one({"_id": message_id, "visitor_id": visitor_id})
        return str(found["conversation_id"]) if found else None

    async def set_identity(self, visitor_id: str, identity: VisitorIdentity) -> None:
        await self._put(
            IDENTITIES,
            visitor_id,
            {
                "user_id": identity.user_id,
                "email": identity.email,
                "name": identity.name,
                "verified": identity.verified,
            },
        )

    async def identity(self, visitor_id: str) -> VisitorIdentity | None:
        found = await self._db[IDENTITIES].find_one({"_id": visitor_id})
        return VisitorIdentity(found["user_id"], found["email"], found["name"], found["verified"]) if found else None

    async def add_upload(self, visitor_id: str, upload: Upload) -> None:
        await self._insert_if_absent(
            UPLOADS,
            {
                "_id": f"{upload.attachment_id}|{visitor_id}",
                "attachment_id": upload.attachment_id,
                "visitor_id": visitor_id,
                "filename": upload.filename,
                "content_type": upload.content_type,
                "size_bytes": upload.size_bytes,
            },
        )

    async def upload(self, attachment_id: str, visitor_id: str | None) -> Upload | None:
        query = {"attachment_id": attachment_id} if visitor_id is None else {"_id": f"{attachment_id}|{visitor_id}"}
        found = await self._db[UPLOADS].find_one(query)
        if found is None:
            return None
        return Upload(found["attachment_id"], found["filename"], found["content_type"], found["size_bytes"])

    async def erase_visitors(self, visitor_ids: Sequence[str]) -> tuple[int, list[str]]:
        visitors = list(visitor_ids)
        uploads = {d["attachment_id"] async for d in self._db[UPLOADS].find({"visitor_id": {"$in": visitors}})}
        replies = [d["_id"] async for d in self._db[OUTBOX].find({"visitor_id": {"$in": visitors}}, {"_id": 1})]
        removed = 0
        for collection, query in (
            (OUTBOX, {"visitor_id": {"$in": visitors}}),
            (IDENTITIES, {"_id": {"$in": visitors}}),
            (UPLOADS, {"visitor_id": {"$in": visitors}}),
        ):
            removed += (await self._db[collection].delete_many(query)).deleted_count
        await self._db[DELIVERED].delete_many({"_id": {"$in": replies}})
        still_used = {
            d["attachment_id"] async for d in self._db[UPLOADS].find({"attachment_id": {"$in": list(uploads)}})
        }
        return removed, sorted(uploads - still_used)
