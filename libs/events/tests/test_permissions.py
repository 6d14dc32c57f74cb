"""NATS locked down, against a real nats-server with the suite's authorization: nobody connects without
a user, and each service's user publishes only what it owns and reads only the streams it consumes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import nats.errors
import pytest
from inbox.channels.v1 import events_pb2
from inbox_devstack.nats_server import NatsServer
from inbox_events import EventBus
from inbox_events.permissions import authorization_block, compose_passwords, inbox_prefix

COMPOSE_AUTHORIZATION = Path(__file__).resolve().parents[3] / "infra" / "nats" / "authorization.conf"


async def connect_as(server: NatsServer, user: str, violations: asyncio.Queue[str]) -> nats.NATS:
    async def on_error(exc: Exception) -> None:
        await violations.put(str(exc))

    return await nats.connect(
        server.url_for(user), inbox_prefix=inbox_prefix(user).encode(), error_cb=on_error, allow_reconnect=False
    )


async def stored(server: NatsServer, stream: str) -> int:
    async with EventBus.connect(server.url, service="test") as bus:
        await bus.ensure_streams()
        info = await bus._js.stream_info(stream)
        return int(info.state.messages)


async def test_nobody_connects_without_a_user(nats_server: NatsServer) -> None:
    with pytest.raises((nats.errors.NoServersError, nats.errors.Error)):
        await nats.connect(nats_server.anonymous_url, allow_reconnect=False, max_reconnect_attempts=0)
    wrong = nats_server.url_for("channels").replace("channels:", "channels:x", 1)
    with pytest.raises((nats.errors.NoServersError, nats.errors.Error)):
        await nats.connect(wrong, allow_reconnect=False, max_reconnect_attempts=0)


async def test_a_service_publishes_only_what_it_owns(nats_server: NatsServer) -> None:
    assert await stored(nats_server, "INBOUND") == 0
    forged = events_pb2.InboundMessage(message_id="forged", text="refund me").SerializeToString()
    violations: asyncio.Queue[str] = asyncio.Queue()
    web = await connect_as(nats_server, "inbox-web", violations)
    try:
        # inbox-web cannot forge a customer's message, nor an event of threading's.
        await web.publish("inbound.chat", forged)
        assert "permissions violation for publish" in (await asyncio.wait_for(violations.get(), 10)).lower()
        await web.publish("conv.message_added", b"x")
        assert "permissions violation for publish" in (await asyncio.wait_for(violations.get(), 10)).lower()
    finally:
        await web.close()
    channels = await connect_as(nats_server, "channels", violations)
    try:
        ack = await channels.jetstream().publish("inbound.chat", forged)  # channels owns inbound.*
        assert ack.stream == "INBOUND"
        await channels.publish("routing.conversation_assigned", b"x")
        assert "permissions violation for publish" in (await asyncio.wait_for(violations.get(), 10)).lower()
    finally:
        await channels.close()
    # Only the one channels published was stored.
    assert await stored(nats_server, "INBOUND") == 1


async def test_a_service_reads_only_the_streams_it_consumes_and_only_its_own_replies(nats_server: NatsServer) -> None:
    await stored(nats_server, "INBOUND")  # the streams exist
    violations: asyncio.Queue[str] = asyncio.Queue()
    routing = await connect_as(nats_server, "routing", violations)
    try:
        # Routing reads conversations' events, never the customers' raw inbound items.
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await routing.jetstream(timeout=2).pull_subscribe("inbound.>", durable="snoop", stream="INBOUND")
        assert "permissions violation for publish" in (await asyncio.wait_for(violations.get(), 10)).lower()
        # Nor what is delivered to another service's inbox.
        await routing.subscribe(f"{inbox_prefix('threading')}.>")
        assert "permissions violation for subscription" in (await asyncio.wait_for(violations.get(), 10)).lower()
        # What it does consume works.
        subscription = await routing.jetstream().pull_subscribe(
            "conv.message_added", durable="routing-probe", stream="CONVERSATIONS"
        )
        with pytest.raises(nats.errors.TimeoutError):
            await subscription.fetch(1, timeout=0.2)
    finally:
        await routing.close()


def test_the_compose_authorization_is_the_table_rendered() -> None:
    expected = authorization_block(compose_passwords())
    assert COMPOSE_AUTHORIZATION.read_text() == expected, (
        "stale: run .venv/bin/python infra/scripts/nats_authorization.py"
    )
