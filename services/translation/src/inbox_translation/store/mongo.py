"""MongoDB implementation of TranslationStore: the production store, selected by `MONGODB_URI`.

Everything here is keyed by one id and written whole (a cache entry, a customer's language, who holds a
conversation, a glossary), so plain upserts and inserts keep it right with any number of replicas.
"""

from __future__ import annotations

import time

from inbox_runtime.mongo import MongoStore
from pymongo import ASCENDING, IndexModel

from inbox_translation.domain import CustomerMessage

CACHE = "translation_cache"
CUSTOMER_LANGUAGES = "translation_customer_languages"
CONVERSATION_AGENTS = "translation_conversation_agents"
CUSTOMER_MESSAGES = "translation_customer_messages"
GLOSSARIES = "translation_glossaries"
INDEXES = {
    CACHE: [IndexModel([("owners", ASCENDING)])],
    CUSTOMER_MESSAGES: [
        IndexModel([("conversation_id", ASCENDING), ("remembered_at_ns", ASCENDING)]),
        IndexModel([("customer_id", ASCENDING)]),
    ],
}


class MongoTranslationStore(MongoStore):
    SERVICE = "translation"
    INDEXES = INDEXES

    async def cached(self, key: str) -> tuple[str, str] | None:
        found = await self._db[CACHE].find_one({"_id": key})
        return (str(found["text"]), str(found["provider"])) if found else None

    async def remember(self, key: str, text: str, provider: str, now_us: int, owner: str = "") -> None:
        update: dict[str, object] = {"$setOnInsert": {"text": text, "provider": provider, "created_at_us": now_us}}
        if owner:
            update["$addToSet"] = {"owners": owner}
        await self._db[CACHE].update_one({"_id": key}, update, upsert=True)

    async def own(self, key: str, owner: str) -> None:
        await self._db[CACHE].update_one({"_id": key}, {"$addToSet": {"owners": owner}})

    async def customer_language(self, customer_id: str) -> str:
        found = await self._db[CUSTOMER_LANGUAGES].find_one({"_id": customer_id})
        return str(found["language"]) if found else ""

    async def remember_customer_language(self, customer_id: str, language: str) -> None:
        await self._put(CUSTOMER_LANGUAGES, customer_id, {"language": language})

    async def set_conversation_agent(self, conversation_id: str, agent_id: str) -> None:
        await self._put(CONVERSATION_AGENTS, conversation_id, {"agent_id": agent_id})

    async def conversation_agent(self, conversation_id: str) -> str:
        found = await self._db[CONVERSATION_AGENTS].find_one({"_id": conversation_id})
        return str(found["agent_id"]) if found else ""

    async def remember_message(self, message: CustomerMessage, customer_language: str = "") -> None:
        if customer_language:
            await self.remember_customer_language(message.customer_id, customer_language)
        await self._insert_if_absent(
            CUSTOMER_MESSAGES,
            {
                "_id": message.message_id,
                "conversation_id": message.conversation_id,
                "customer_id": message.customer_id,
                "text": message.text,
                "language": message.language,
                "translated_to": "",
                # Only orders a conversation's backlog: the order they came in, near enough across replicas.
                "remembered_at_ns": time.time_ns(),
            },
        )

    async def untranslated(self, conversation_id: str, language: str) -> list[CustomerMessage]:
        found = (
            self._db[CUSTOMER_MESSAGES]
            .find({"conversation_id": conversation_id, "translated_to": {"$ne": language}})
            .sort([("remembered_at_ns", ASCENDING), ("_id", ASCENDING)])
        )
        return [
            CustomerMessage(d["_id"], d["conversation_id"], d["customer_id"], d["text"], d["language"])
            async for d in found
        ]

    async def mark_translated(self, message_id: str, language: str) -> None:
        await self._db[CUSTOMER_MESSAGES].update_one({"_id": message_id}, {"$set": {"translated_to": language}})

    async def forget_customer(self, customer_id: str) -> None:
        await self._db[CUSTOMER_MESSAGES].delete_many({"customer_id": customer_id})
        await self._db[CUSTOMER_LANGUAGES].delete_one({"_id": customer_id})
        # Another customer who wrote the same words loses a cache entry: translated again when needed.
        await self._db[CACHE].delete_many({"owners": customer_id})

    async def merge_customers(self, surviving_customer_id: str, merged_customer_id: str) -> None:
        surviving, merged = surviving_customer_id, merged_customer_id
        await self._db[CUSTOMER_MESSAGES].update_many({"customer_id": merged}, {"$set": {"customer_id": surviving}})
        language = await self.customer_language(merged)
        if language and not await self.customer_language(surviving):
            await self.remember_customer_language(surviving, language)
        await self._db[CUSTOMER_LANGUAGES].delete_one({"_id": merged})
        await self._db[CACHE].update_many({"owners": merged}, {"$addToSet": {"owners": surviving}})
        await self._db[CACHE].update_many({"owners": merged}, {"$pull": {"owners": merged}})

    async def glossary(self, tenant_id: str) -> tuple[str, ...]:
        found = await self._db[GLOSSARIES].find_one({"_id": tenant_id})
        return tuple(found["terms"]) if found else ()

    async def set_glossary(self, tenant_id: str, terms: tuple[str, ...]) -> None:
        await self._put(GLOSSARIES, tenant_id, {"terms": list(terms)})
