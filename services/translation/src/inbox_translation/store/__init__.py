"""The translation service's repository: translations already made (the cache)."""

from __future__ import annotations

from typing import Protocol


class TranslationStore(Protocol):
    async def cached(self, key: str) -> tuple[str, str] | None:
        """(translated text, provider) for a cache key."""
        ...

    async def remember(self, key: str, text: str, provider: str, now_us: int) -> None: ...

    async def close(self) -> None: ...
