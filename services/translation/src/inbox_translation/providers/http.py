from __future__ import annotations

from typing import Any

import httpx

from inbox_translation.providers import ProviderRefused, ProviderUnavailable


async def call(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Any:
    """One request; network errors and 5xx are `ProviderUnavailable`, 4xx `ProviderRefused`; JSON back."""
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"{url}: {exc!r}") from None
    if response.status_code >= 500:
        raise ProviderUnavailable(f"{url}: {response.status_code}")
    if response.status_code >= 400:
        raise ProviderRefused(f"{url}: {response.status_code} {response.text[:200]}")
    try:
        return response.json()
    except ValueError:
        raise ProviderUnavailable(f"{url}: not JSON") from None
