"""Two threading replicas on one nats-server and one store: concurrent items of one customer on
different channels never open two conversations, keep their order, and redeliveries add nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from inbox.channels.v1 import events_pb2
from inbox.conversations.v1 import conversation_service_pb2 as pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as pb_grpc
from inbox.message.v1 import message_pb2
from inbox_devstack.ports import free_port
from inbox_devstack.suite import SERVICES, LocalSuite
from inbox_devstack.waiting import eventually
from inbox_events import EventBus, Outgoing
from inbox_runtime.grpc_client import authenticated_channel
from inbox_threading.subscribers import ON_INBOUND

# Every service on SQLite files, then every service on MongoDB (FerretDB in the tests).
pytestmark = pytest.mark.parametrize("suite_store", ["sqlite", "mongo"], indirect=True)

CUSTOMERS = 25
THREADING = next(s for s in SERVICES if s.name == "threading")


def item(customer: int, channel: int, n: int, sent_at_s: int) -> events_pb2.InboundMessage:
    phone = f"+1415555{customer:04d}"
    message = events_pb2.InboundMessage(
        message_id=str(uuid.uuid4()),
        channel=channel,  # type: ignore[arg-type]
        inbox_id="support",
        provider_message_id=f"{channel}-{customer}-{n}",
        sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_PHONE, value=phone),
        text=f"customer {customer} item {n}",
        kind=message_pb2.MESSAGE_KIND_TEXT
        if channel == message_pb2.CHANNEL_SMS
        else message_pb2.MESSAGE_KIND_VOICEMAIL,
    )
    message.sent_at.FromSeconds(sent_at_s)
    message.received_at.GetCurrentTime()
    return message


@pytest.mark.timeout(180)
async def test_two_replicas_keep_one_thread_per_customer_in_order(local_suite: LocalSuite, api_key: str) -> None:
    replica_env = {"THREADING_GRPC_PORT": str(free_port())}
    local_suite.start_service(THREADING, replica="b", env=replica_env)
    await asyncio.to_thread(local_suite.wait_ready, THREADING, replica_env, replica="b")

    # Every customer texts and calls at the same moment; the provider times give the true order.
    batch = []
    for customer in range(CUSTOMERS):
        batch.append(item(customer, message_pb2.CHANNEL_SMS, 1, 1_800_000_000 + customer * 10))
        batch.append(item(customer, message_pb2.CHANNEL_VOICE, 2, 1_800_000_000 + customer * 10 + 1))
        batch.append(item(customer, message_pb2.CHANNEL_SMS, 3, 1_800_000_000 + customer * 10 + 2))
    async with EventBus.connect(local_suite.nats_url, service="test") as bus:
        await bus.publish_all([Outgoing(m, f"test:{m.message_id}") for m in reversed(batch)])
        # A redelivery of every item, after the duplicate window as far as JetStream can tell.
        await bus.publish_all([Outgoing(m, f"again:{m.message_id}") for m in batch])
        # Every item and its redelivery handled and acked (acks follow the durable write): nothing lands later.
        await eventually(lambda: bus.settled(ON_INBOUND), 60, what="inbound consumer settled")

    async with authenticated_channel(f"127.0.0.1:{local_suite.ports.conversations_grpc}", api_key) as channel:
        stub = pb_grpc.ConversationServiceStub(channel)
        listed = await stub.ListConversations(pb.ListConversationsRequest(page_size=200))
        assert len(listed.conversations) == CUSTOMERS
        assert len({c.customer_id for c in listed.conversations}) == CUSTOMERS
        for conversation in listed.conversations:
            for _ in range(100):
                timeline = await stub.GetTimeline(
                    pb.GetTimelineRequest(customer_id=conversation.customer_id, exclude_notes=True)
                )
                # The customer's own items (waiting customers are also told their place, outbound).
                texts = [i.text for i in timeline.items if i.direction == message_pb2.DIRECTION_INBOUND]
                if len(texts) >= 3:
                    break
                await asyncio.sleep(0.1)
            customer = int(texts[0].split()[1])
            assert texts == [f"customer {customer} item {n}" for n in (1, 2, 3)]
    logs = {name: (local_suite.log_dir / f"{name}.log").read_text() for name in ("threading", "threading-b")}
    assert all("inbound_threaded" in text for text in logs.values()), "both replicas must have taken work"
