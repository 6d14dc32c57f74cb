"""Two channels replicas on one nats-server, as behind a load balancer: one customer's items reach either, and
each item still names the one stored just before it on the stream, so threading keeps their order. Items the
two accept at the same moment are linked one after the other, never both after the same one."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from inbox.channels.v1 import events_pb2
from inbox_channels.app import RunningChannels
from inbox_channels.testing import running_channels
from inbox_devstack.events import stored_events
from inbox_devstack.nats_server import NatsServer
from inbox_runtime.signing import sign

API_SECRET = "api-channel-shared-secret-0123"


@pytest.fixture
async def replicas(
    nats_server: NatsServer, tmp_path: Path, nats_api_key: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[RunningChannels, RunningChannels]]:
    monkeypatch.setenv("CHANNELS_API_SECRET", API_SECRET)
    monkeypatch.setenv("CHANNELS_API_CALLBACK_URL", "http://127.0.0.1:9/replies")
    from inbox_channel_api.adapter import ApiChannelAdapter

    async with (
        running_channels(nats_server.url, tmp_path / "a", [ApiChannelAdapter()]) as a,
        running_channels(nats_server.url, tmp_path / "b", [ApiChannelAdapter()]) as b,
    ):
        yield a, b


async def send(replica: RunningChannels, sender: str, n: int) -> None:
    body = json.dumps({"id": f"crm-{sender}-{n}", "from": sender, "text": f"{sender} item {n}"}).encode()
    now = int(time.time())
    headers = {"X-Inbox-Timestamp": str(now), "X-Inbox-Signature": sign(API_SECRET, now, body)}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{replica.http_port}") as client:
        response = await client.post("/webhooks/api/messages", content=body, headers=headers)
    assert response.status_code == 202, response.text


async def stored(replica: RunningChannels, at_least: int) -> list[events_pb2.InboundMessage]:
    return await stored_events(replica.nats_url, "inbound.api.*", events_pb2.InboundMessage, at_least=at_least)


async def test_items_spread_over_two_replicas_each_name_the_one_before(
    replicas: tuple[RunningChannels, RunningChannels],
) -> None:
    a, b = replicas
    for n in range(6):
        await send((a, b)[n % 2], "grace", n)
    await send(b, "alan", 0)  # another sender's chain is their own
    items = await stored(a, 7)
    grace = [item for item in items if item.text.startswith("grace")]
    assert [item.text for item in grace] == [f"grace item {n}" for n in range(6)]
    assert [item.previous_message_id for item in grace] == ["", *(item.message_id for item in grace[:-1])]
    [alan] = [item for item in items if item.text.startswith("alan")]
    assert alan.previous_message_id == ""


async def test_items_accepted_at_once_by_both_replicas_are_linked_in_a_line(
    replicas: tuple[RunningChannels, RunningChannels],
) -> None:
    a, b = replicas
    await asyncio.gather(*(send((a, b)[n % 2], "grace", n) for n in range(10)))
    items = await stored(a, 10)
    assert sorted(item.text for item in items) == sorted(f"grace item {n}" for n in range(10))
    # In the order the stream holds them, each names the one before it: none was linked to an item that
    # another had already followed.
    assert [item.previous_message_id for item in items] == ["", *(item.message_id for item in items[:-1])]
