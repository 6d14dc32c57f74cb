"""Translation through real engines: Apertium's APY with Debian's data, and local servers speaking the
LibreTranslate and DeepL APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox_devstack.apertium import ApyServer
from inbox_devstack.providers import DeepLApi, LibreTranslateApi
from inbox_language import Detector
from inbox_runtime.errors import FailedPrecondition
from inbox_translation.actions import Translator
from inbox_translation.providers import ProviderUnavailable
from inbox_translation.providers.apertium import ApertiumProvider
from inbox_translation.providers.deepl import DeepLProvider
from inbox_translation.providers.libretranslate import LibreTranslateProvider
from inbox_translation.store.sqlite import SqliteTranslationStore

DETECTOR = Detector(("en", "es", "de", "fr"), min_confidence=0.5, min_margin=0.2)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteTranslationStore]:
    opened = await SqliteTranslationStore.open(tmp_path / "translation.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
async def deepl() -> AsyncIterator[DeepLApi]:
    async with DeepLApi.serving("deepl-key-123") as api:
        yield api


async def test_apertium_translates_spanish_and_english_keeping_protected_text(
    apy_server: ApyServer, store: SqliteTranslationStore
) -> None:
    translator = Translator([ApertiumProvider(apy_server.url)], store, DETECTOR, glossary=["Acme Prime"])
    [state] = await translator.providers()
    assert state.healthy and {("es", "en"), ("en", "es")} <= state.pairs
    text = "Hola, mi pedido ORD-4411 de Acme Prime no ha llegado. Escriban a ana@example.com o https://acme.example/t/4411."
    done = await translator.translate(text, "es", "en")
    assert done.provider == "apertium" and not done.cached
    for kept in ("ORD-4411", "Acme Prime", "ana@example.com", "https://acme.example/t/4411"):
        assert kept in done.text
    assert "arrived" in done.text and "Hola" not in done.text
    again = await translator.translate(text, "es", "en")
    assert again.cached and again.text == done.text
    back = await translator.translate("Your order ships today.", "en", "es")
    assert "pedido" in back.text.lower() or "orden" in back.text.lower()
    await translator.close()


async def test_detection_trusts_clear_text_only(store: SqliteTranslationStore) -> None:
    translator = Translator([], store, DETECTOR)
    assert translator.detect("Hola, mi pedido no ha llegado todavía").language == "es"
    short = translator.detect("ok", known_language="de")
    assert (short.language, short.fallback) == ("de", True)


async def test_the_chain_picks_the_first_provider_per_pair_and_pivots_through_english(
    apy_server: ApyServer, store: SqliteTranslationStore, deepl: DeepLApi
) -> None:
    async with LibreTranslateApi.serving("libre-key") as libre:
        translator = Translator(
            [
                ApertiumProvider(apy_server.url),
                LibreTranslateProvider(libre.base_url, "libre-key"),
                DeepLProvider(deepl.base_url, "deepl-key-123"),
            ],
            store,
            DETECTOR,
            pivot="en",
        )
        german = await translator.translate("hallo bestellung ORD-1", "de", "en")
        assert (german.provider, german.text) == ("libretranslate", "hello order ORD-1")
        assert libre.requests == 1 and deepl.requests == 0  # LibreTranslate comes first for de -> en
        pivoted = await translator.translate("danke", "de", "es")
        assert pivoted.provider == "libretranslate+apertium" and pivoted.text.lower().startswith("gracias")
        with pytest.raises(FailedPrecondition, match="no translation provider offers fr -> es"):
            await translator.translate("merci", "fr", "es")
        await translator.close()


async def test_a_provider_that_is_down_is_reported_and_nothing_is_cached(
    store: SqliteTranslationStore, deepl: DeepLApi
) -> None:
    translator = Translator([DeepLProvider(deepl.base_url, "deepl-key-123")], store, DETECTOR)
    deepl.down = True
    with pytest.raises(ProviderUnavailable):
        await translator.translate("hallo", "de", "en")
    deepl.down = False
    done = await translator.translate("hallo", "de", "en")
    assert (done.text, done.cached) == ("hello", False)
    wrong_key = Translator([DeepLProvider(deepl.base_url, "not-the-key")], store, DETECTOR)
    [state] = await wrong_key.providers()
    assert not state.healthy
    await translator.close()
    await wrong_key.close()


async def test_what_the_engines_offer_is_known_from_their_pairs(
    apy_server: ApyServer, store: SqliteTranslationStore
) -> None:
    translator = Translator([ApertiumProvider(apy_server.url)], store, DETECTOR, pivot="en")
    assert await translator.offers("es", "en")
    assert not await translator.offers("fr", "en")  # Debian's Apertium data here: English and Spanish only
    await translator.close()
