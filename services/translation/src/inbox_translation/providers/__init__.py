"""Machine-translation engines behind one interface. Each speaks its engine's documented HTTP API."""

from __future__ import annotations

from typing import Protocol

from inbox_translation.domain import Pair


class ProviderUnavailable(Exception):
    """The engine could not be reached or failed (5xx): try again later."""


class ProviderRefused(Exception):
    """The engine refused this request (4xx): retrying the same request cannot help."""


class TranslationProvider(Protocol):
    name: str

    async def pairs(self) -> frozenset[Pair]:
        """Language pairs (ISO 639-1) the engine translates directly."""
        ...

    async def translate(self, text: str, source: str, target: str) -> str: ...

    async def close(self) -> None: ...
