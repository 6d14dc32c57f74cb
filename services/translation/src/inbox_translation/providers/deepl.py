"""DeepL's API v2: GET /v2/languages?type=source|target, POST /v2/translate, `DeepL-Auth-Key` header."""

from __future__ import annotations

import httpx

from inbox_translation.domain import Pair
from inbox_translation.providers.http import call

# DeepL wants a regional variant for some targets.
TARGET_VARIANTS = {"en": "EN-US", "pt": "PT-PT"}


class DeepLProvider:
    name = "deepl"

    def __init__(self, base_url: str, auth_key: str, timeout: float = 20.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, headers={"Authorization": f"DeepL-Auth-Key {auth_key}"}
        )

    async def pairs(self) -> frozenset[Pair]:
        sources = await call(self._client, "GET", "/v2/languages", params={"type": "source"})
        targets = await call(self._client, "GET", "/v2/languages", params={"type": "target"})
        source_codes = {s["language"].split("-")[0].lower() for s in sources}
        target_codes = {t["language"].split("-")[0].lower() for t in targets}
        return frozenset((s, t) for s in source_codes for t in target_codes if s != t)

    async def translate(self, text: str, source: str, target: str) -> str:
        body = await call(
            self._client,
            "POST",
            "/v2/translate",
            json={
                "text": [text],
                "source_lang": source.upper(),
                "target_lang": TARGET_VARIANTS.get(target, target.upper()),
            },
        )
        return str(body["translations"][0]["text"])

    async def close(self) -> None:
        await self._client.aclose()
