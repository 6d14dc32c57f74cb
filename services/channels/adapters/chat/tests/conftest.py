"""The chat adapter in a channels runtime on a real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox_channels.app import RunningChannels
from inbox_channels.testing import running_channels
from inbox_devstack.nats_server import NatsServer

CHAT_SECRET = "chat-visitor-token-secret-0123"
IDENTITY_SECRET = "host-site-identity-secret-0123"


@pytest.fixture
def chat_env(monkeypatch: pytest.MonkeyPatch, nats_api_key: str) -> None:
    monkeypatch.setenv("CHANNELS_CHAT_SECRET", CHAT_SECRET)
    monkeypatch.setenv("CHANNELS_CHAT_IDENTITY_SECRET", IDENTITY_SECRET)
    monkeypatch.setenv("CHANNELS_CHAT_MAX_UPLOAD_BYTES", str(64 * 1024))


@pytest.fixture
async def channels(
    nats_server: NatsServer, chat_env: None, tmp_path: Path, nats_api_key: str
) -> AsyncIterator[RunningChannels]:
    from inbox_channel_chat.adapter import ChatAdapter

    async with running_channels(nats_server.url, tmp_path, [ChatAdapter()]) as running:
        yield running
