"""A customer's message held by a threading replica that dies is stored before the same customer's later
messages, which a surviving replica takes in the meantime (the killed replica's message comes back only
after the inbound consumer's ack_wait). Real processes; Twilio replaced at the network boundary."""

from __future__ import annotations

import asyncio

import nats
import pytest
from inbox.conversations.v1 import conversation_service_pb2 as pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as pb_grpc
from inbox.message.v1 import message_pb2
from inbox_devstack.suite import SERVICES, LocalSuite
from inbox_devstack.waiting import eventually
from inbox_runtime.grpc_client import authenticated_channel
from inbox_threading.subscribers import ON_INBOUND

from .conftest import OUR_NUMBER, twilio_post

CUSTOMER_PHONE = "+14155550142"
THREADING = next(s for s in SERVICES if s.name == "threading")


@pytest.fixture
def suite_env(twilio_env: dict[str, str]) -> dict[str, str]:
    return twilio_env


def sms(n: int) -> dict[str, str]:
    return {"MessageSid": f"SM{n:032d}", "From": CUSTOMER_PHONE, "To": OUR_NUMBER, "Body": f"message {n}"}


async def hold_one_inbound_then_die(suite: LocalSuite) -> None:
    """What a threading replica killed mid-batch leaves behind: one inbound message fetched, never acked."""
    nc = await nats.connect(suite.nats_url)
    try:
        held = await nc.jetstream().pull_subscribe_bind(durable=ON_INBOUND.durable, stream=ON_INBOUND.stream_name())
        fetched = await held.fetch(1, timeout=10)
        assert [m.subject.rsplit(".", 1)[0] for m in fetched] == ["inbound.sms"]
    finally:
        await nc.close()  # no ack, no nak: the server hands it out again after ack_wait


async def inbound_texts(suite: LocalSuite, token: str) -> list[str]:
    async with authenticated_channel(f"127.0.0.1:{suite.ports.conversations_grpc}", token) as channel:
        stub = pb_grpc.ConversationServiceStub(channel)
        listed = await stub.ListConversations(pb.ListConversationsRequest())
        texts: list[str] = []
        for conversation in listed.conversations:
            messages = await stub.ListMessages(pb.ListMessagesRequest(conversation_id=conversation.conversation_id))
            texts += [m.text for m in messages.messages if m.direction == message_pb2.DIRECTION_INBOUND]
        return texts


async def test_a_killed_replicas_message_is_not_overtaken_by_the_customers_next_ones(
    local_suite: LocalSuite, api_key: str
) -> None:
    local_suite.stop_service(THREADING.name)
    await twilio_post(local_suite, "/webhooks/sms", sms(1))
    await hold_one_inbound_then_die(local_suite)
    await twilio_post(local_suite, "/webhooks/sms", sms(2))
    await twilio_post(local_suite, "/webhooks/sms", sms(3))

    # The surviving replica: messages 2 and 3 are there for it at once, message 1 only after ack_wait.
    local_suite.start_service(THREADING)
    await asyncio.to_thread(local_suite.wait_ready, THREADING)

    async def all_three() -> bool:
        return len(await inbound_texts(local_suite, api_key)) == 3

    await eventually(all_three, 60, what="the three messages stored")
    assert await inbound_texts(local_suite, api_key) == ["message 1", "message 2", "message 3"]
    log = (local_suite.log_dir / "threading.log").read_text()
    assert "event_postponed" in log, "message 2 waited for message 1"
