"""Use cases: detect, and translate through the provider chain with protection and the cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from inbox_language import Detection, Detector
from inbox_runtime.timestamps import now_us

from inbox_translation.domain import (
    FailedPrecondition,
    InvalidInput,
    Pair,
    cache_key,
    choose_route,
    normalise_glossary,
    protect,
    restore,
    validate_request,
)
from inbox_translation.providers import ProviderRefused, ProviderUnavailable, TranslationProvider
from inbox_translation.store import TranslationStore

log = structlog.get_logger(__name__)

PAIRS_REFRESH_SECONDS = 300.0
DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Translation:
    text: str
    source: str
    target: str
    provider: str
    cached: bool


@dataclass(frozen=True)
class ProviderState:
    name: str
    healthy: bool
    pairs: frozenset[Pair]


class Translator:
    def __init__(
        self,
        providers: Sequence[TranslationProvider],
        store: TranslationStore,
        detector: Detector,
        *,
        pivot: str = "",
        glossary: Sequence[str] = (),
    ) -> None:
        self._providers = list(providers)
        self._store = store
        self._detector = detector
        self._pivot = pivot
        self._glossary = tuple(glossary)
        self._pairs: dict[str, frozenset[Pair]] = {}
        self._healthy: dict[str, bool] = {}
        self._refreshed_at = 0.0
        self._lock = asyncio.Lock()

    async def providers(self, refresh: bool = False) -> list[ProviderState]:
        """Each provider, whether it answered, and its pairs (asked at most every few minutes)."""
        async with self._lock:
            if refresh or time.monotonic() - self._refreshed_at > PAIRS_REFRESH_SECONDS or not self._pairs:
                for provider in self._providers:
                    try:
                        self._pairs[provider.name] = await provider.pairs()
                        self._healthy[provider.name] = True
                    except (ProviderUnavailable, ProviderRefused) as exc:
                        log.warning("translation_provider_down", provider=provider.name, error=str(exc))
                        self._healthy[provider.name] = False
                        self._pairs.setdefault(provider.name, frozenset())
                self._refreshed_at = time.monotonic()
        return [ProviderState(p.name, self._healthy[p.name], self._pairs[p.name]) for p in self._providers]

    async def offers(self, source: str, target: str) -> bool:
        """Whether some provider serves the pair, directly or through the pivot, as last asked (every few
        minutes): for work that may skip a language (sentiment), without asking the engines each time."""
        chain = [(state.name, state.pairs) for state in await self.providers()]
        return choose_route(chain, source, target, self._pivot) is not None

    def detect(self, text: str, known_language: str = "") -> Detection:
        if not text.strip():
            raise InvalidInput("text is required")
        return self._detector.detect(text, known_language)

    async def glossary(self, tenant_id: str) -> tuple[str, ...]:
        """The deployment's terms (TRANSLATION_GLOSSARY) and the tenant's own."""
        return normalise_glossary((*self._glossary, *await self._store.glossary(tenant_id or DEFAULT_TENANT)))

    async def set_glossary(self, tenant_id: str, terms: Sequence[str]) -> tuple[str, ...]:
        cleaned = normalise_glossary(terms)
        await self._store.set_glossary(tenant_id or DEFAULT_TENANT, cleaned)
        log.info("glossary_set", tenant_id=tenant_id or DEFAULT_TENANT, terms=len(cleaned))
        return cleaned

    async def translate(self, text: str, source: str, target: str, tenant_id: str = "", owner: str = "") -> Translation:
        """Translate, keeping protected text intact; the same text for the same pair is translated once.
        `owner`: the customer whose words (or reply) these are, who owns the cached translation from now on.

        Raises ProviderUnavailable when the engine is down (callers retry), FailedPrecondition when no
        provider serves the pair.
        """
        validate_request(text, target)
        if not source:
            source = self.detect(text).language
            if not source:
                raise InvalidInput("the source language could not be detected; give source_language")
        if source == target:
            return Translation(text, source, target, "", cached=False)
        glossary = await self.glossary(tenant_id)
        key = cache_key(text, source, target, glossary)
        hit = await self._store.cached(key)
        if hit is not None:
            if owner:
                await self._store.own(key, owner)
            return Translation(hit[0], source, target, hit[1], cached=True)
        chain = [(state.name, state.pairs) for state in await self.providers()]
        route = choose_route(chain, source, target, self._pivot)
        if route is None:
            chain = [(state.name, state.pairs) for state in await self.providers(refresh=True)]
            route = choose_route(chain, source, target, self._pivot)
        if route is None:
            raise FailedPrecondition(f"no translation provider offers {source} -> {target}")
        by_name = {p.name: p for p in self._providers}
        masked = protect(text, glossary)
        current = masked.text
        for provider_name, step_source, step_target in route.steps:
            try:
                current = await by_name[provider_name].translate(current, step_source, step_target)
            except ProviderRefused as exc:
                raise FailedPrecondition(str(exc)) from None
        translated = restore(current, masked)
        provider = "+".join(route.providers)
        await self._store.remember(key, translated, provider, now_us(), owner)
        log.info("translated", source=source, target=target, provider=provider, characters=len(text))
        return Translation(translated, source, target, provider, cached=False)

    async def close(self) -> None:
        for provider in self._providers:
            await provider.close()
