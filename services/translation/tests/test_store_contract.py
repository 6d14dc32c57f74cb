"""TranslationStore contract, against SQLite and MongoDB alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from inbox_devstack.plugin import StoreBackend
from inbox_translation.domain import CustomerMessage
from inbox_translation.store import TranslationStore
from inbox_translation.store.mongo import MongoTranslationStore
from inbox_translation.store.sqlite import SqliteTranslationStore


@pytest.fixture
async def store(store_backend: StoreBackend) -> AsyncIterator[TranslationStore]:
    async with store_backend.opened(
        MongoTranslationStore.open, SqliteTranslationStore.open, "translation.sqlite3"
    ) as opened:
        yield opened


async def test_the_cache_keeps_the_first_translation(store: TranslationStore) -> None:
    assert await store.cached("k") is None
    await store.remember("k", "hola", "apertium", 1)
    await store.remember("k", "buenas", "deepl", 2)
    assert await store.cached("k") == ("hola", "apertium")


async def test_languages_agents_and_glossaries_are_replaced_whole(store: TranslationStore) -> None:
    await store.remember_customer_language("c1", "es")
    await store.remember_customer_language("c1", "pt")
    await store.set_conversation_agent("conv-1", "ada")
    await store.set_conversation_agent("conv-1", "bob")
    await store.set_glossary("acme", ("Acme Cloud", "ORD-"))
    assert await store.customer_language("c1") == "pt" and await store.customer_language("c2") == ""
    assert await store.conversation_agent("conv-1") == "bob" and await store.conversation_agent("x") == ""
    assert await store.glossary("acme") == ("Acme Cloud", "ORD-") and await store.glossary("other") == ()


async def test_a_backlog_in_order_until_translated_and_forgotten_on_erasure(store: TranslationStore) -> None:
    first = CustomerMessage("m1", "conv-1", "c1", "hola", "es")
    second = CustomerMessage("m2", "conv-1", "c1", "¿dónde está?", "es")
    for message in (first, second, first):
        await store.remember_message(message)
    await store.remember_message(CustomerMessage("m3", "conv-2", "c2", "oi", "pt"), customer_language="pt")
    assert await store.customer_language("c2") == "pt" and await store.customer_language("c1") == ""
    assert await store.untranslated("conv-1", "en") == [first, second]
    await store.mark_translated("m1", "en")
    assert await store.untranslated("conv-1", "en") == [second]
    assert await store.untranslated("conv-1", "de") == [first, second]
    await store.remember_customer_language("c1", "es")
    await store.forget_customer("c1")
    assert await store.untranslated("conv-1", "de") == [] and await store.customer_language("c1") == ""
    assert len(await store.untranslated("conv-2", "en")) == 1


async def test_erasing_a_customer_erases_the_translations_of_their_words(store: TranslationStore) -> None:
    await store.remember("grace-words", "hello from grace", "apertium", 1, owner="grace")
    await store.remember("shared", "thanks", "apertium", 1, owner="ada")
    await store.own("shared", "grace")  # Grace wrote the same words later: a cache hit
    await store.remember("ada-words", "hello from ada", "apertium", 1, owner="ada")
    await store.remember("agent-words", "how can I help?", "apertium", 1)  # an ad-hoc Translate call
    await store.forget_customer("grace")
    assert await store.cached("grace-words") is None and await store.cached("shared") is None
    assert await store.cached("ada-words") == ("hello from ada", "apertium")
    assert await store.cached("agent-words") == ("how can I help?", "apertium")
    # What is translated again for Ada is hers, and only hers.
    await store.remember("shared", "thanks", "apertium", 2, owner="ada")
    await store.forget_customer("grace")
    assert await store.cached("shared") == ("thanks", "apertium")


async def test_a_merged_customer_s_messages_language_and_translations_go_to_the_survivor(
    store: TranslationStore,
) -> None:
    await store.remember_message(CustomerMessage("m1", "conv-1", "merged", "hola", "es"))
    await store.remember_customer_language("merged", "es")
    await store.remember_customer_language("survivor", "pt")
    await store.remember("k1", "hello", "apertium", 1, owner="merged")
    await store.merge_customers("survivor", "merged")
    assert await store.customer_language("survivor") == "pt" and await store.customer_language("merged") == ""
    await store.forget_customer("merged")  # nothing is left under the old id
    assert await store.untranslated("conv-1", "en") == [CustomerMessage("m1", "conv-1", "survivor", "hola", "es")]
    assert await store.cached("k1") == ("hello", "apertium")
    await store.forget_customer("survivor")
    assert await store.untranslated("conv-1", "en") == [] and await store.cached("k1") is None


async def test_a_merge_gives_the_survivor_the_merged_language_when_theirs_is_unknown(store: TranslationStore) -> None:
    await store.remember_customer_language("merged", "es")
    await store.merge_customers("survivor", "merged")
    assert await store.customer_language("survivor") == "es"
