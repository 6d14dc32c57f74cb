"""Apertium's APY server: GET /listPairs, POST /translate (langpair=spa|eng, q, markUnknown=no)."""

from __future__ import annotations

import httpx

from inbox_translation.domain import ISO1, ISO3, Pair
from inbox_translation.providers import ProviderRefused
from inbox_translation.providers.http import call


class ApertiumProvider:
    name = "apertium"

    def __init__(self, base_url: str, timeout: float = 20.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def pairs(self) -> frozenset[Pair]:
        body = await call(self._client, "GET", "/listPairs")
        found = set()
        for pair in body.get("responseData", []):
            source, target = ISO1.get(pair.get("sourceLanguage", "")), ISO1.get(pair.get("targetLanguage", ""))
            if source and target:  # regional variants (eng_US) are left out
                found.add((source, target))
        return frozenset(found)

    async def translate(self, text: str, source: str, target: str) -> str:
        body = await call(
            self._client,
            "POST",
            "/translate",
            data={"langpair": f"{ISO3[source]}|{ISO3[target]}", "q": text, "markUnknown": "no"},
        )
        if body.get("responseStatus") != 200:
            raise ProviderRefused(f"apertium: {body.get('responseDetails')}")
        return str(body["responseData"]["translatedText"])

    async def close(self) -> None:
        await self._client.aclose()
