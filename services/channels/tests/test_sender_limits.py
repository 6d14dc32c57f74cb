"""One sender writing too fast, on three channels of a real channels runtime (burst of 2): each answers in its
own protocol's terms (a webhook 429 with Retry-After, a chat error frame with the wait, a mail a temporary
451 the sending server retries), nothing over the limit is stored, and other senders go on."""

from __future__ import annotations

import asyncio
import json
import smtplib
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import websockets
from inbox.channels.v1 import events_pb2
from inbox_channels.app import RunningChannels
from inbox_channels.testing import running_channels
from inbox_devstack.events import stored_events
from inbox_devstack.nats_server import NatsServer
from inbox_runtime.signing import sign

API_SECRET = "api-channel-shared-secret-0123"
SUPPORT = "support@inbox.example.com"


@pytest.fixture
async def channels(
    nats_server: NatsServer, tmp_path: Path, nats_api_key: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningChannels]:
    for key, value in {
        "CHANNELS_API_SECRET": API_SECRET,
        "CHANNELS_API_CALLBACK_URL": "http://127.0.0.1:9/replies",
        "CHANNELS_CHAT_SECRET": "chat-visitor-token-secret-0123",
        "CHANNELS_EMAIL_INBOXES": f"{SUPPORT}=support",
        "CHANNELS_SMTP_PORT": "0",
    }.items():
        monkeypatch.setenv(key, value)
    from inbox_channel_api.adapter import ApiChannelAdapter
    from inbox_channel_chat.adapter import ChatAdapter
    from inbox_channel_email.adapter import EmailAdapter

    adapters = [ApiChannelAdapter(), ChatAdapter(), EmailAdapter()]
    async with running_channels(nats_server.url, tmp_path, adapters, sender_burst=2) as running:
        yield running


async def api_message(channels: RunningChannels, n: int, sender: str) -> httpx.Response:
    body = json.dumps({"id": f"crm-{sender}-{n}", "from": sender, "text": f"message {n}"}).encode()
    now = int(time.time())
    headers = {"X-Inbox-Timestamp": str(now), "X-Inbox-Signature": sign(API_SECRET, now, body)}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{channels.http_port}") as client:
        return await client.post("/webhooks/api/messages", content=body, headers=headers)


def mail(port: int, n: int) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "grace@example.org", SUPPORT, f"Order {n}"
    message["Message-ID"] = f"<order-{n}@example.org>"
    message.set_content(f"Mail number {n}")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message)


async def test_a_sender_over_the_limit_is_told_to_wait_on_every_channel(channels: RunningChannels) -> None:
    assert [(await api_message(channels, n, "user-1")).status_code for n in range(2)] == [202, 202]
    limited = await api_message(channels, 2, "user-1")
    assert limited.status_code == 429 and limited.text.startswith("too many messages from this sender")
    assert int(limited.headers["retry-after"]) >= 1
    assert (await api_message(channels, 0, "user-2")).status_code == 202  # someone else

    async with websockets.connect(f"ws://127.0.0.1:{channels.http_port}/chat/ws") as ws:
        await ws.send(json.dumps({"type": "hello"}))
        await ws.recv()
        answers = []
        for n in range(3):
            await ws.send(json.dumps({"type": "message", "client_message_id": f"m{n}", "text": f"hi {n}"}))
            answers.append(json.loads(await ws.recv()))
        assert [a["type"] for a in answers] == ["accepted", "accepted", "error"]
        assert answers[2]["code"] == "rate_limited" and answers[2]["retry_after"] >= 1

    email = next(a for a in channels.actions.adapters if a.name == "email")
    port = email.smtp_port  # type: ignore[attr-defined]
    for n in range(2):
        await asyncio.to_thread(mail, port, n)
    with pytest.raises(smtplib.SMTPDataError) as deferred:
        await asyncio.to_thread(mail, port, 2)
    assert deferred.value.smtp_code == 451 and b"Too many messages" in deferred.value.smtp_error

    stored = await stored_events(channels.nats_url, "inbound.>", events_pb2.InboundMessage, at_least=7)
    # What was over the limit is not stored; the mail's text is its body.
    assert sorted(e.text for e in stored) == sorted(
        ["message 0", "message 1", "message 0", "hi 0", "hi 1", "Mail number 0", "Mail number 1"]
    )
