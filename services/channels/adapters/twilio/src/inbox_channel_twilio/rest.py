"""Twilio's REST API (2010-04-01): send a message, start a call. Idempotent through Twilio's token header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from inbox_channel_twilio.settings import TwilioSettings


class ProviderError(Exception):
    """The provider refused the request (4xx): retrying the same request cannot help."""


@dataclass(frozen=True)
class Created:
    sid: str
    status: str
    segments: int


class TwilioRest:
    def __init__(self, settings: TwilioSettings) -> None:
        self._settings = settings
        self._client = httpx.AsyncClient(
            base_url=f"{settings.api_base_url}/2010-04-01/Accounts/{settings.account_sid}",
            auth=(settings.account_sid, settings.auth_token),
            timeout=httpx.Timeout(10.0),
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def _create(self, resource: str, form: dict[str, str], idempotency_key: str) -> dict[str, Any]:
        response = await self._client.post(
            f"/{resource}.json", data=form, headers={"I-Twilio-Idempotency-Token": idempotency_key}
        )
        if 400 <= response.status_code < 500:
            raise ProviderError(f"{resource} refused ({response.status_code}): {response.text[:300]}")
        response.raise_for_status()  # 5xx: let the bus retry with backoff
        body: dict[str, Any] = response.json()
        return body

    async def send_message(
        self, *, to: str, from_: str, body: str, status_callback: str, idempotency_key: str
    ) -> Created:
        created = await self._create(
            "Messages", {"To": to, "From": from_, "Body": body, "StatusCallback": status_callback}, idempotency_key
        )
        return Created(str(created["sid"]), str(created.get("status", "queued")), int(created.get("num_segments") or 1))

    async def create_call(
        self, *, to: str, from_: str, twiml_url: str, status_callback: str, idempotency_key: str
    ) -> Created:
        created = await self._create(
            "Calls",
            {
                "To": to,
                "From": from_,
                "Url": twiml_url,
                "StatusCallback": status_callback,
                "StatusCallbackEvent": "initiated ringing answered completed",
            },
            idempotency_key,
        )
        return Created(str(created["sid"]), str(created.get("status", "queued")), 0)
