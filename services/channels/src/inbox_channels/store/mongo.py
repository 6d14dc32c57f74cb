"""MongoDB implementation of DeliveryStore: each status a message reached is one document, inserted
once ("<message>#<status>"), so replicas reporting the same status record it once."""

from __future__ import annotations

from inbox_events.channels import enum_names
from inbox_runtime.mongo import Document, MongoStore, replace_values
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from inbox_channels.domain import Delivery, delivery_rank

STATUSES = "channels_delivery_statuses"
INDEXES = {STATUSES: [IndexModel([("message_id", ASCENDING), ("rank", DESCENDING)])]}


async def channels_by_name(database: AsyncDatabase[Document]) -> None:
    await replace_values(database, STATUSES, "channel", enum_names())


class MongoDeliveryStore(MongoStore):
    SERVICE = "channels"
    INDEXES = INDEXES
    UPGRADES = (("channels-by-name", channels_by_name),)

    async def record(self, delivery: Delivery) -> bool:
        return await self._insert_if_absent(
            STATUSES,
            {
                "_id": f"{delivery.message_id}#{int(delivery.status)}",
                "message_id": delivery.message_id,
                "status": int(delivery.status),
                "rank": delivery_rank(delivery.status),
                "conversation_id": delivery.conversation_id,
                "channel": delivery.channel,
                "detail": delivery.detail,
                "updated_at_us": delivery.updated_at_us,
            },
        )

    async def get(self, message_id: str) -> Delivery | None:
        found = await self._db[STATUSES].find_one({"message_id": message_id}, sort=[("rank", DESCENDING)])
        if found is None:
            return None
        return Delivery(
            found["message_id"],
            found["conversation_id"],
            found["channel"],
            found["status"],
            found["detail"],
            found["updated_at_us"],
        )
