"""MongoDB implementation of TwilioRecords, selected when the host has `MONGODB_URI`."""

from __future__ import annotations

from collections.abc import Sequence

from inbox_runtime.mongo import MongoStore, MongoTarget, connect_database, prepare_database
from pymongo import ASCENDING, IndexModel

from inbox_channel_twilio.store import ProviderItem


class MongoTwilioRecords(MongoStore):
    SERVICE = "channels-twilio"

    def _collections(self, name: str) -> None:
        self._opt_outs = f"{name}_opt_outs"
        self._items = f"{name}_provider_items"

    @classmethod
    async def open_named(cls, target: MongoTarget, name: str) -> MongoTwilioRecords:
        database = connect_database(target)
        await prepare_database(
            database,
            {f"{name}_provider_items": [IndexModel([("provider_sid", ASCENDING)], unique=True)]},
            service=f"channels-{name}",
        )
        records = cls(database)
        records._collections(name)
        return records

    async def set_opt_out(self, number: str, keyword: str, now_us: int) -> None:
        await self._put(self._opt_outs, number, {"keyword": keyword, "opted_out_at_us": now_us})

    async def clear_opt_out(self, number: str) -> None:
        await self._db[self._opt_outs].delete_one({"_id": number})

    async def erase_numbers(self, numbers: Sequence[str]) -> int:
        return (await self._db[self._opt_outs].delete_many({"_id": {"$in": list(numbers)}})).deleted_count

    async def is_opted_out(self, number: str) -> bool:
        return await self._db[self._opt_outs].find_one({"_id": number}) is not None

    async def remember(self, item: ProviderItem, kind: str, now_us: int) -> None:
        await self._insert_if_absent(
            self._items,
            {
                "_id": item.message_id,
                "provider_sid": item.provider_sid,
                "conversation_id": item.conversation_id,
                "kind": kind,
                "created_at_us": now_us,
            },
        )

    async def by_message(self, message_id: str) -> ProviderItem | None:
        found = await self._db[self._items].find_one({"_id": message_id})
        return ProviderItem(found["_id"], found["provider_sid"], found["conversation_id"]) if found else None

    async def by_sid(self, sid: str) -> ProviderItem | None:
        found = await self._db[self._items].find_one({"provider_sid": sid})
        return ProviderItem(found["_id"], found["provider_sid"], found["conversation_id"]) if found else None
