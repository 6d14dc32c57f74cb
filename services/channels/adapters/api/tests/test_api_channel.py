"""The API channel: signing, and the conformance kit against a local callback receiver."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channels.app import RunningChannels
from inbox_channels.conformance import AdapterConformance, ConformanceCase, InboundSample
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.waiting import eventually
from inbox_runtime.http_server import http_server
from inbox_runtime.signing import sign, verify
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SECRET = "api-channel-shared-secret-0123"


def test_signatures_verify_only_when_fresh_and_exact() -> None:
    body = b'{"id": "1"}'
    now = 1_800_000_000
    good = sign(SECRET, now, body)
    assert verify(SECRET, str(now), good, body, now + 10) is None
    assert verify(SECRET, str(now), good, body + b" ", now) == "invalid X-Inbox-Signature"
    assert verify(SECRET, str(now), good, body, now + 301) == "X-Inbox-Timestamp is too old or in the future"
    assert verify(SECRET, "", good, body, now) == "missing or invalid X-Inbox-Timestamp"
    assert verify(SECRET, str(now), "", body, now) == "missing X-Inbox-Signature"
    assert verify("another-secret-that-is-long", str(now), good, body, now) == "invalid X-Inbox-Signature"


@dataclass
class Callback:
    """The integrator's system: receives replies, checks our signature, keeps the idempotency keys."""

    port: int = 0
    keys: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    # Every call's key, repeated ones too.
    calls: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def receive(request: Request) -> JSONResponse:
            body = await request.body()
            problem = verify(
                SECRET,
                request.headers["x-inbox-timestamp"],
                request.headers["x-inbox-signature"],
                body,
                int(time.time()),
            )
            if problem:
                return JSONResponse({"error": problem}, status_code=403)
            key = request.headers["idempotency-key"]
            self.calls.append(key)
            if key not in self.seen:
                self.seen.add(key)
                self.keys.append(key)
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/replies", receive, methods=["POST"])])


@pytest.fixture
async def callback() -> AsyncIterator[Callback]:
    receiver = Callback()
    async with http_server(receiver.app(), host="127.0.0.1", port=0) as port:
        receiver.port = port
        yield receiver


async def post_signed(runtime: RunningChannels, path: str, payload: object, secret: str = SECRET) -> httpx.Response:
    return await post_raw_signed(runtime, json.dumps(payload).encode(), path, secret)


async def post_raw_signed(
    runtime: RunningChannels, body: bytes, path: str = "/webhooks/api/messages", secret: str = SECRET
) -> httpx.Response:
    now = int(time.time())
    headers = {"X-Inbox-Timestamp": str(now), "X-Inbox-Signature": sign(secret, now, body)}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.http_port}") as client:
        return await client.post(path, content=body, headers=headers)


def sample(external_id: str, user: str) -> InboundSample:
    async def send(runtime: RunningChannels) -> bool:
        payload = {"id": external_id, "from": user, "name": "Grace", "text": f"message {external_id}"}
        return (await post_signed(runtime, "/webhooks/api/messages", payload)).status_code == 202

    contact = message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_EXTERNAL_USER, value=user)
    return InboundSample(external_id, send, external_id, contact)


async def forged_signature(runtime: RunningChannels) -> bool:
    payload = {"id": "f1", "from": "user-1", "text": "hi"}
    return (
        await post_signed(runtime, "/webhooks/api/messages", payload, secret="not-the-shared-secret-000")
    ).is_success


async def unsigned(runtime: RunningChannels) -> bool:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.http_port}") as client:
        return (await client.post("/webhooks/api/messages", json={"id": "f2", "from": "u", "text": "hi"})).is_success


async def send_status(runtime: RunningChannels, message_id: str, status: str) -> None:
    response = await post_signed(runtime, "/webhooks/api/status", {"message_id": message_id, "status": status})
    assert response.status_code == 200, response.text


class TestConformance(AdapterConformance):
    @pytest.fixture
    def case(self, callback: Callback, monkeypatch: pytest.MonkeyPatch) -> ConformanceCase:
        monkeypatch.setenv("CHANNELS_API_SECRET", SECRET)
        monkeypatch.setenv("CHANNELS_API_CALLBACK_URL", f"http://127.0.0.1:{callback.port}/replies")
        from inbox_channel_api.adapter import ApiChannelAdapter

        return ConformanceCase(
            make_adapter=ApiChannelAdapter,
            samples=[sample("crm-1", "user-1"), sample("crm-2", "user-2")],
            forged=[forged_signature, unsigned],
            recipient=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_EXTERNAL_USER, value="user-1"),
            provider_received=lambda: callback.calls,
            statuses={
                "delivered": events_pb2.DELIVERY_STATUS_DELIVERED,
                "read": events_pb2.DELIVERY_STATUS_READ,
                "failed": events_pb2.DELIVERY_STATUS_FAILED,
            },
            send_status=send_status,
        )

    async def test_malformed_and_oversize_bodies_get_clear_errors(self, runtime: RunningChannels) -> None:
        missing = await post_signed(runtime, "/webhooks/api/messages", {"id": "x", "from": "u"})
        assert (missing.status_code, missing.text) == (400, "text must be a non-empty string")
        not_object = await post_signed(runtime, "/webhooks/api/messages", ["a"])
        assert not_object.status_code == 400
        bad_id = await post_signed(runtime, "/webhooks/api/messages", {"id": "has space", "from": "u", "text": "t"})
        assert bad_id.status_code == 400
        huge = await post_signed(runtime, "/webhooks/api/messages", {"id": "x", "from": "u", "text": "x" * (1 << 20)})
        assert huge.status_code == 413
        unknown = await post_signed(runtime, "/webhooks/api/status", {"message_id": "nope", "status": "read"})
        assert unknown.status_code == 404
        surrogate = await post_signed(runtime, "/webhooks/api/messages", {"id": "x", "from": "u", "text": "\ud800"})
        assert (surrogate.status_code, surrogate.text) == (400, "JSON holds text that is not valid Unicode")
        deep = await post_raw_signed(runtime, b"[" * 100_000 + b"]" * 100_000)
        assert (deep.status_code, deep.text) == (400, "JSON is nested too deeply")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.http_port}") as client:
            # A byte beyond ASCII in a signature header is refused like any wrong value, not an error 500.
            superscript = await client.post(
                "/webhooks/api/messages", content=b"{}", headers={"X-Inbox-Timestamp": "²".encode("latin-1")}
            )
            assert (superscript.status_code, superscript.text) == (403, "missing X-Inbox-Signature")
            now = str(int(time.time())).encode()
            odd = await client.post(
                "/webhooks/api/messages",
                content=b"{}",
                headers={"X-Inbox-Timestamp": now, "X-Inbox-Signature": "sha256=é".encode("latin-1")},
            )
            assert (odd.status_code, odd.text) == (403, "invalid X-Inbox-Signature")
            wrong_time = await client.post(
                "/webhooks/api/messages",
                content=b"{}",
                headers={"X-Inbox-Timestamp": "²".encode("latin-1"), "X-Inbox-Signature": b"sha256=00"},
            )
            assert (wrong_time.status_code, wrong_time.text) == (403, "missing or invalid X-Inbox-Timestamp")
        assert await self.inbound(runtime) == []

    async def test_a_webhook_the_broker_cannot_store_now_gets_503_with_retry_after(
        self, runtime: RunningChannels, nats_server: NatsServer
    ) -> None:
        payload = {"id": "during-outage", "from": "user-9", "text": "Anyone there?"}
        await asyncio.to_thread(nats_server.stop)

        async def disconnected() -> bool:
            return not runtime.bus.is_connected

        await eventually(disconnected, what="the runtime to notice the broker is gone")
        refused = await post_signed(runtime, "/webhooks/api/messages", payload)
        assert (refused.status_code, refused.headers["retry-after"]) == (503, "5")
        assert refused.text.startswith("temporarily unable to accept messages")
        await asyncio.to_thread(nats_server.start)

        async def connected() -> bool:
            return runtime.bus.is_connected

        await eventually(connected, timeout=30, what="the runtime to reconnect")
        # The provider's retry, as Retry-After asked: accepted, and stored once.
        assert (await post_signed(runtime, "/webhooks/api/messages", payload)).status_code == 202
        [stored] = await self.inbound(runtime, at_least=1)
        assert stored.text == "Anyone there?"
