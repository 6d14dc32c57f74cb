"""A service on MongoDB whose store is not there: it waits NOT_SERVING, saying why, and starts by itself
when the store comes; a store outage while it runs naks the events (nothing acked, nothing lost) and it
catches up by itself once the store is back. Real processes: nats-server, FerretDB, threading."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from inbox.channels.v1 import events_pb2
from inbox.conversations.v1 import conversation_service_pb2 as pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as pb_grpc
from inbox.message.v1 import message_pb2
from inbox_devstack.ferretdb import FerretDb, ferretdb_binary
from inbox_devstack.suite import SERVICES, LocalSuite, SuitePorts
from inbox_devstack.waiting import eventually
from inbox_events import EventBus
from inbox_runtime.callers import IssuedKey
from inbox_runtime.grpc_client import authenticated_channel

THREADING = next(s for s in SERVICES if s.name == "threading")


@pytest.fixture
def outage_suite(tmp_path: Path, integrator: IssuedKey) -> Iterator[tuple[LocalSuite, FerretDb]]:
    """nats-server and threading on a FerretDB of its own, which the test starts and stops."""
    binary = ferretdb_binary()
    if binary is None:
        pytest.skip("MongoDB suite not run: no FerretDB (needs Go >= 1.24; `make test` builds it)")
    ferret = FerretDb(binary, tmp_path / "ferretdb", log_file=tmp_path / "ferretdb.log")
    suite = LocalSuite(
        base_dir=tmp_path / "suite",
        integrator=integrator,
        chat_secret=secrets.token_urlsafe(24),
        web_session_secret=secrets.token_urlsafe(32),
        ports=SuitePorts.free(),
        extra_env={"MONGODB_URI": ferret.uri("inbox")},
    )
    suite.start_nats()
    try:
        yield suite, ferret
    finally:
        codes = suite.stop()
        ferret.stop()
        assert codes == {"threading": 0}, codes


async def health(target: str) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        return int(reply.status)


async def log_shows(suite: LocalSuite, text: str, timeout: float = 30.0) -> None:
    """Wait for a line in the service's log: the sentinel that it got there."""
    path = suite.log_dir / "threading.log"

    async def logged() -> bool:
        return path.exists() and text in path.read_text()

    await eventually(logged, timeout, what=f"{text!r} in the log")


def inbound(n: int) -> events_pb2.InboundMessage:
    message = events_pb2.InboundMessage(
        message_id=str(uuid.uuid4()),
        channel=message_pb2.CHANNEL_SMS,
        inbox_id="support",
        provider_message_id=f"SM-outage-{n}",
        sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_PHONE, value="+14155550123"),
        text=f"message {n}",
        kind=message_pb2.MESSAGE_KIND_TEXT,
    )
    message.sent_at.FromSeconds(1_800_000_000 + n)
    message.received_at.GetCurrentTime()
    return message


async def test_a_missing_store_keeps_the_service_not_serving_then_an_outage_loses_nothing(
    outage_suite: tuple[LocalSuite, FerretDb], api_key: str
) -> None:
    suite, ferret = outage_suite
    target = f"127.0.0.1:{suite.ports.conversations_grpc}"
    suite.start_service(THREADING)
    await log_shows(suite, "store_unreachable")
    assert await health(target) == health_pb2.HealthCheckResponse.NOT_SERVING

    ferret.start()
    await asyncio.to_thread(suite.wait_ready, THREADING)
    async with (
        EventBus.connect(suite.nats_url, service="test") as bus,
        authenticated_channel(target, api_key) as channel,
    ):
        await bus.ensure_streams()
        conversations = pb_grpc.ConversationServiceStub(channel)

        async def stored_texts() -> list[str]:
            listed = await conversations.ListConversations(pb.ListConversationsRequest())
            if not listed.conversations:
                return []
            conversation_id = listed.conversations[0].conversation_id
            items = await conversations.ListMessages(pb.ListMessagesRequest(conversation_id=conversation_id))
            return [m.text for m in items.messages if m.kind == message_pb2.MESSAGE_KIND_TEXT]

        async def stored(expected: list[str], timeout: float) -> None:
            async def all_there() -> bool:
                return await stored_texts() == expected

            await eventually(all_there, timeout, what=f"stored {expected}")

        await bus.publish(inbound(1), event_id="outage-1")
        await stored(["message 1"], 30)

        ferret.stop()
        await bus.publish(inbound(2), event_id="outage-2")
        await log_shows(suite, "event_handler_failed")  # tried, failed, nak'ed: not acked, not lost
        ferret.start()
        await stored(["message 1", "message 2"], 60)
    assert await health(target) == health_pb2.HealthCheckResponse.SERVING
