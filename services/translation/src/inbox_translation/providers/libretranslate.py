"""LibreTranslate's API: GET /languages, POST /translate {q, source, target, format, api_key}."""

from __future__ import annotations

import httpx

from inbox_translation.domain import Pair
from inbox_translation.providers.http import call


class LibreTranslateProvider:
    name = "libretranslate"

    def __init__(self, base_url: str, api_key: str = "", timeout: float = 20.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)
        self._api_key = api_key

    async def pairs(self) -> frozenset[Pair]:
        languages = await call(self._client, "GET", "/languages")
        return frozenset(
            (language["code"], target)
            for language in languages
            for target in language.get("targets", [])
            if target != language["code"]
        )

    async def translate(self, text: str, source: str, target: str) -> str:
        payload = {"q": text, "source": source, "target": target, "format": "text"}
        if self._api_key:
            payload["api_key"] = self._api_key
        body = await call(self._client, "POST", "/translate", json=payload)
        return str(body["translatedText"])

    async def close(self) -> None:
        await self._client.aclose()
