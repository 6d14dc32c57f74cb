"""An integrator's endpoint registered over gRPC gets the suite's events, signed: real processes (threading
with its own NATS user and bucket), a real HTTP endpoint in the test."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
import websockets
from inbox.conversations.v1 import webhook_service_pb2 as pb
from inbox.conversations.v1 import webhook_service_pb2_grpc as pb_grpc
from inbox_devstack.providers import WebhookEndpoint
from inbox_devstack.suite import LocalSuite
from inbox_devstack.waiting import eventually
from inbox_runtime.grpc_client import authenticated_channel
from inbox_runtime.signing import verify


@pytest.fixture
async def endpoint() -> AsyncIterator[WebhookEndpoint]:
    async with WebhookEndpoint.serving() as served:
        yield served


async def test_a_chat_message_reaches_the_integrators_endpoint_signed(
    local_suite: LocalSuite, api_key: str, endpoint: WebhookEndpoint
) -> None:
    async with authenticated_channel(f"127.0.0.1:{local_suite.ports.conversations_grpc}", api_key) as channel:
        webhooks = pb_grpc.WebhookServiceStub(channel)
        created = await webhooks.CreateWebhook(pb.CreateWebhookRequest(url=endpoint.url, description="CRM"))

    async with websockets.connect(f"ws://127.0.0.1:{local_suite.ports.channels_http}/chat/ws") as ws:
        await ws.send(json.dumps({"type": "hello", "name": "Grace"}))
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "client_message_id": "m1", "text": "Is my order shipped?"}))
        assert json.loads(await ws.recv())["type"] == "accepted"

    async def message_added() -> tuple[dict[str, str], bytes] | None:
        return next(((h, b) for h, b in endpoint.received if json.loads(b)["subject"] == "conv.message_added"), None)

    headers, body = await eventually(message_added, 30, what="conv.message_added at the endpoint")
    assert (
        verify(created.secret, headers["x-inbox-timestamp"], headers["x-inbox-signature"], body, int(time.time()))
        is None
    )
    event = json.loads(body)
    assert event["event"]["message"]["text"] == "Is my order shipped?" and event["conversation_id"]
