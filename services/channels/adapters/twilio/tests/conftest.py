"""A Twilio-compatible REST API on loopback, and a channels runtime hosting the SMS and voice adapters
against a real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox_channels.app import RunningChannels
from inbox_channels.testing import running_channels
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.providers import TwilioApi

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "twilio-auth-token-0123456789"
PUBLIC_BASE = "https://inbox.example.com"
OUR_NUMBER = "+14155550100"


@pytest.fixture
async def twilio_api() -> AsyncIterator[TwilioApi]:
    async with TwilioApi.serving(ACCOUNT_SID, AUTH_TOKEN) as api:
        yield api


@pytest.fixture
def twilio_env(twilio_api: TwilioApi, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings of the SMS and voice adapters, pointing at the local Twilio API."""
    for key, value in {
        "CHANNELS_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "CHANNELS_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CHANNELS_TWILIO_API_BASE_URL": f"http://127.0.0.1:{twilio_api.port}",
        "CHANNELS_PUBLIC_BASE_URL": PUBLIC_BASE,
        "CHANNELS_TWILIO_NUMBERS": f"{OUR_NUMBER}=support",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
async def channels(
    nats_server: NatsServer, twilio_env: None, tmp_path: Path, nats_api_key: str
) -> AsyncIterator[RunningChannels]:
    from inbox_channel_twilio.sms import SmsAdapter
    from inbox_channel_twilio.voice import VoiceAdapter

    async with running_channels(nats_server.url, tmp_path, [SmsAdapter(), VoiceAdapter()]) as running:
        yield running
