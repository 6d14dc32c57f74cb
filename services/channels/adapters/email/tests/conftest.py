"""The email adapter in a channels runtime on a real nats-server, and a real SMTP relay (aiosmtpd)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from inbox_channels.app import RunningChannels
from inbox_channels.testing import running_channels
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.providers import SmtpRelay


@pytest.fixture
def relay() -> Iterator[SmtpRelay]:
    with SmtpRelay.running() as running:
        yield running


@pytest.fixture
def email_env(relay: SmtpRelay, monkeypatch: pytest.MonkeyPatch, nats_api_key: str) -> None:
    """Settings of the email adapter: two support addresses, our relay, a small size limit."""
    monkeypatch.setenv("CHANNELS_EMAIL_INBOXES", "support@inbox.example.com=support, sales@inbox.example.com=sales")
    monkeypatch.setenv("CHANNELS_SMTP_PORT", "0")
    monkeypatch.setenv("CHANNELS_EMAIL_MAX_BYTES", str(256 * 1024))
    monkeypatch.setenv("CHANNELS_EMAIL_RELAY_HOST", "127.0.0.1")
    monkeypatch.setenv("CHANNELS_EMAIL_RELAY_PORT", str(relay.port))


@pytest.fixture
async def channels(
    nats_server: NatsServer, email_env: None, tmp_path: Path, nats_api_key: str
) -> AsyncIterator[RunningChannels]:
    from inbox_channel_email.adapter import EmailAdapter

    async with running_channels(nats_server.url, tmp_path, [EmailAdapter()]) as running:
        yield running
