"""The email adapter in a channels runtime on a real nats-server, and a real SMTP relay (aiosmtpd)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from inbox_channels.app import RunningChannels
from inbox_channels.testing import running_channels
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.ports import free_port


@dataclass
class Relay:
    """The outbound relay: a real SMTP server that keeps what it was given."""

    port: int = 0
    received: list[Envelope] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[Relay]:
    handler = Relay(port=free_port())
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def email_env(relay: Relay, monkeypatch: pytest.MonkeyPatch, nats_api_key: str) -> None:
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
