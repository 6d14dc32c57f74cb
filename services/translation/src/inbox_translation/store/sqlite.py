from __future__ import annotations

import json
import sqlite3

from inbox_runtime.sqlite import SqliteStore

from inbox_translation.domain import CustomerMessage

SCHEMA = """
CREATE TABLE IF NOT EXISTS translations (
    cache_key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    provider TEXT NOT NULL,
    created_at_us INTEGER NOT NULL
);
"""

# What the pipeline remembers: customers' languages, who holds each conversation, customer messages
# still to be translated for their agent.
MIGRATION_V2 = """
CREATE TABLE customer_languages (
    customer_id TEXT PRIMARY KEY,
    language TEXT NOT NULL
);
CREATE TABLE conversation_agents (
    conversation_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL
);
CREATE TABLE customer_messages (
    message_id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    text TEXT NOT NULL,
    language TEXT NOT NULL,
    translated_to TEXT NOT NULL DEFAULT ''
);
CREATE INDEX customer_messages_by_conversation ON customer_messages(conversation_id);
CREATE INDEX customer_messages_by_customer ON customer_messages(customer_id);
CREATE TABLE glossaries (
    tenant_id TEXT PRIMARY KEY,
    terms TEXT NOT NULL
);
"""

# Whose words each cached translation holds, so that erasing a customer erases them from the cache too.
MIGRATION_V3 = """
CREATE TABLE translation_owners (
    customer_id TEXT NOT NULL,
    cache_key TEXT NOT NULL,
    PRIMARY KEY (customer_id, cache_key)
) WITHOUT ROWID;
CREATE INDEX translation_owners_by_key ON translation_owners(cache_key);
"""


class SqliteTranslationStore(SqliteStore):
    MIGRATIONS = (SCHEMA, MIGRATION_V2, MIGRATION_V3)

    async def cached(self, key: str) -> tuple[str, str] | None:
        row = self._db.lookup(
            lambda conn: conn.execute("SELECT text, provider FROM translations WHERE cache_key = ?", (key,)).fetchone()
        )
        return (str(row[0]), str(row[1])) if row else None

    async def remember(self, key: str, text: str, provider: str, now_us: int, owner: str = "") -> None:
        values = (key, text, provider, now_us)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR IGNORE INTO translations VALUES (?, ?, ?, ?)", values)
            if owner:
                conn.execute("INSERT OR IGNORE INTO translation_owners VALUES (?, ?)", (owner, key))

        await self._db.write(write)

    async def own(self, key: str, owner: str) -> None:
        await self._db.write(
            lambda conn: conn.execute("INSERT OR IGNORE INTO translation_owners VALUES (?, ?)", (owner, key))
        )

    async def customer_language(self, customer_id: str) -> str:
        row = self._db.lookup(
            lambda conn: conn.execute(
                "SELECT language FROM customer_languages WHERE customer_id = ?", (customer_id,)
            ).fetchone()
        )
        return str(row[0]) if row else ""

    async def remember_customer_language(self, customer_id: str, language: str) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO customer_languages VALUES (?, ?)", (customer_id, language)
            )
        )

    async def set_conversation_agent(self, conversation_id: str, agent_id: str) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO conversation_agents VALUES (?, ?)", (conversation_id, agent_id)
            )
        )

    async def conversation_agent(self, conversation_id: str) -> str:
        row = self._db.lookup(
            lambda conn: conn.execute(
                "SELECT agent_id FROM conversation_agents WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
        )
        return str(row[0]) if row else ""

    async def remember_message(self, message: CustomerMessage, customer_language: str = "") -> None:
        values = (message.message_id, message.conversation_id, message.customer_id, message.text, message.language)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO customer_messages (message_id, conversation_id, customer_id, text, language) "
                "VALUES (?, ?, ?, ?, ?)",
                values,
            )
            if customer_language:
                conn.execute(
                    "INSERT OR REPLACE INTO customer_languages VALUES (?, ?)", (message.customer_id, customer_language)
                )

        await self._db.write(write)

    async def untranslated(self, conversation_id: str, language: str) -> list[CustomerMessage]:
        rows = await self._db.read(
            lambda conn: conn.execute(
                "SELECT message_id, conversation_id, customer_id, text, language FROM customer_messages "
                "WHERE conversation_id = ? AND translated_to != ? ORDER BY rowid",
                (conversation_id, language),
            ).fetchall()
        )
        return [CustomerMessage(*row) for row in rows]

    async def mark_translated(self, message_id: str, language: str) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "UPDATE customer_messages SET translated_to = ? WHERE message_id = ?", (language, message_id)
            )
        )

    async def forget_customer(self, customer_id: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM customer_messages WHERE customer_id = ?", (customer_id,))
            conn.execute("DELETE FROM customer_languages WHERE customer_id = ?", (customer_id,))
            # Another customer who wrote the same words loses a cache entry: translated again when needed.
            owned = "SELECT cache_key FROM translation_owners WHERE customer_id = ?"
            conn.execute(f"DELETE FROM translations WHERE cache_key IN ({owned})", (customer_id,))
            conn.execute(f"DELETE FROM translation_owners WHERE cache_key IN ({owned})", (customer_id,))

        await self._db.write(write)
        await self._db.scrub()

    async def merge_customers(self, surviving_customer_id: str, merged_customer_id: str) -> None:
        ids = (surviving_customer_id, merged_customer_id)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE customer_messages SET customer_id = ? WHERE customer_id = ?", ids)
            conn.execute(
                "INSERT OR IGNORE INTO customer_languages SELECT ?, language FROM customer_languages "
                "WHERE customer_id = ?",
                ids,
            )
            conn.execute(
                "INSERT OR IGNORE INTO translation_owners SELECT ?, cache_key FROM translation_owners "
                "WHERE customer_id = ?",
                ids,
            )
            for table in ("customer_languages", "translation_owners"):
                conn.execute(f"DELETE FROM {table} WHERE customer_id = ?", (merged_customer_id,))

        await self._db.write(write)

    async def glossary(self, tenant_id: str) -> tuple[str, ...]:
        row = self._db.lookup(
            lambda conn: conn.execute("SELECT terms FROM glossaries WHERE tenant_id = ?", (tenant_id,)).fetchone()
        )
        return tuple(json.loads(row[0])) if row else ()

    async def set_glossary(self, tenant_id: str, terms: tuple[str, ...]) -> None:
        values = (tenant_id, json.dumps(list(terms)))
        await self._db.write(lambda conn: conn.execute("INSERT OR REPLACE INTO glossaries VALUES (?, ?)", values))
