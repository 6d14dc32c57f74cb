"""Shared by the end-to-end tests: Twilio's API replaced at the network boundary, and signed webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from inbox_devstack.providers import TwilioApi
from inbox_devstack.suite import LocalSuite
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "end-to-end-twilio-auth-token"
PUBLIC_BASE = "https://inbox.example.com"
OUR_NUMBER = "+14155550100"


@pytest.fixture
async def twilio_api() -> AsyncIterator[TwilioApi]:
    async with TwilioApi.serving(ACCOUNT_SID, AUTH_TOKEN) as api:
        yield api


@pytest.fixture
def twilio_env(twilio_api: TwilioApi) -> dict[str, str]:
    """Settings that turn on the SMS and voice channels against the local Twilio-compatible API."""
    return {
        "CHANNELS_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "CHANNELS_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CHANNELS_TWILIO_API_BASE_URL": twilio_api.base_url,
        "CHANNELS_PUBLIC_BASE_URL": PUBLIC_BASE,
        "CHANNELS_TWILIO_NUMBERS": f"{OUR_NUMBER}=support",
    }


async def twilio_post(suite: LocalSuite, path: str, params: dict[str, str]) -> None:
    """A webhook signed exactly as Twilio signs it, to the channels service; it must be accepted."""
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE + path, params)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{suite.ports.channels_http}") as http:
        response = await http.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.text
