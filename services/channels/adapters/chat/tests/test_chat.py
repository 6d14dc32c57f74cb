"""The chat adapter over a real WebSocket: identify, typing both ways, receipts, uploads, the widget."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from inbox.channels.v1 import channel_service_pb2 as pb
from inbox.channels.v1 import channel_service_pb2_grpc as pb_grpc
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_chat.protocol import identity_signature
from inbox_channels.app import RunningChannels
from inbox_devstack.events import stored_events
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for, authenticated_channel

from .conftest import IDENTITY_SECRET


class Visitor:
    def __init__(self, ws: websockets.ClientConnection, visitor_id: str, token: str) -> None:
        self.ws, self.visitor_id, self.token = ws, visitor_id, token

    async def send(self, **frame: object) -> None:
        await self.ws.send(json.dumps(frame))

    async def receive(self, timeout: float = 10) -> dict[str, object]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))  # type: ignore[no-any-return]


@pytest.fixture
async def visitor(channels: RunningChannels) -> AsyncIterator[Visitor]:
    async with websockets.connect(f"ws://127.0.0.1:{channels.http_port}/chat/ws") as ws:
        await ws.send(json.dumps({"type": "hello", "name": "Grace"}))
        welcome = json.loads(await ws.recv())
        yield Visitor(ws, welcome["visitor_id"], welcome["visitor_token"])


async def inbound(channels: RunningChannels, at_least: int) -> list[events_pb2.InboundMessage]:
    return await stored_events(channels.nats_url, "inbound.chat.*", events_pb2.InboundMessage, at_least=at_least)


async def test_a_signed_identity_is_verified_and_a_claim_is_not(channels: RunningChannels, visitor: Visitor) -> None:
    await visitor.send(
        type="identify",
        user_id="u-1",
        email="grace@example.org",
        name="Grace H.",
        signature=identity_signature(IDENTITY_SECRET, "u-1", "grace@example.org"),
    )
    assert await visitor.receive() == {"type": "identified", "verified": True}
    await visitor.send(type="message", client_message_id="m1", text="I am logged in")
    assert (await visitor.receive())["type"] == "accepted"
    await visitor.send(type="identify", email="ceo@example.org", signature="forged")
    assert await visitor.receive() == {"type": "identified", "verified": False}
    await visitor.send(type="message", client_message_id="m2", text="Now I claim to be the CEO")
    await visitor.receive()
    verified, claimed = await inbound(channels, at_least=2)
    assert dict(verified.metadata) == {
        "identity_user_id": "u-1",
        "identity_email": "grace@example.org",
        "identity_verified": "true",
    }
    assert verified.sender_name == "Grace H."
    assert claimed.metadata["identity_email"] == "ceo@example.org" and claimed.metadata["identity_verified"] == "false"


async def test_typing_both_ways_and_read_receipts(
    channels: RunningChannels, visitor: Visitor, nats_api_key: str
) -> None:
    seen: list[dict[str, object]] = []

    async def on_typing(subject: str, data: bytes) -> None:
        seen.append(json.loads(data))

    async with channels.bus.on_signal("channels.chat.visitor_typing", on_typing):
        await visitor.send(type="typing", active=True)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.02)
    assert seen == [{"visitor_id": visitor.visitor_id, "active": True}]

    contact = message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_CHAT_VISITOR, value=visitor.visitor_id)
    async with authenticated_channel(f"127.0.0.1:{channels.grpc.port}", nats_api_key) as channel:
        with acting_for(Agent("ada")):
            await pb_grpc.ChannelServiceStub(channel).SendTyping(
                pb.SendTypingRequest(channel=message_pb2.CHANNEL_CHAT, recipient=contact, active=True)
            )
    assert await visitor.receive() == {"type": "typing", "author": "agent", "active": True}

    reply = events_pb2.OutboundMessage(
        message_id="reply-1",
        conversation_id="conv-1",
        channel=message_pb2.CHANNEL_CHAT,
        recipient=contact,
        text="Hello Grace",
        idempotency_key="reply-1",
    )
    await channels.bus.publish(reply, event_id="reply-1")
    frame = await visitor.receive()
    assert frame["text"] == "Hello Grace"
    await visitor.send(type="read", message_id="reply-1")
    for _ in range(100):
        delivery = await channels.actions.delivery("reply-1")
        if delivery is not None and delivery.status == events_pb2.DELIVERY_STATUS_READ:
            break
        await asyncio.sleep(0.05)
    assert delivery is not None and delivery.status == events_pb2.DELIVERY_STATUS_READ
    await visitor.send(type="read", message_id="someone-elses-message")
    assert (await visitor.receive())["code"] == "invalid_frame"


async def test_uploads_are_authenticated_limited_and_attached(
    channels: RunningChannels, visitor: Visitor, nats_api_key: str
) -> None:
    url = f"http://127.0.0.1:{channels.http_port}/chat/uploads"
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    async with httpx.AsyncClient() as http:
        anonymous = await http.post(url, files={"file": ("a.png", png, "image/png")})
        assert anonymous.status_code == 403
        auth = {"Authorization": f"Visitor {visitor.token}"}
        too_big = await http.post(url, files={"file": ("big.png", b"0" * (200 * 1024), "image/png")}, headers=auth)
        assert too_big.status_code == 413
        script = await http.post(url, files={"file": ("x.html", b"<script>", "text/html")}, headers=auth)
        assert script.status_code == 415
        uploaded = await http.post(url, files={"file": ("../../photo.png", png, "image/png")}, headers=auth)
        assert uploaded.status_code == 201
        attachment_id = uploaded.json()["attachment_id"]
        await visitor.send(type="message", client_message_id="m1", text="", attachments=[attachment_id])
        assert (await visitor.receive())["type"] == "accepted"
        [item] = await inbound(channels, at_least=1)
        [attachment] = item.attachments
        assert (attachment.filename, attachment.content_type, attachment.size_bytes) == (
            ".._.._photo.png",
            "image/png",
            108,
        )
        as_agent = await http.get(
            f"http://127.0.0.1:{channels.http_port}{attachment.url}",
            headers={"Authorization": f"Bearer {nats_api_key}"},
        )
        assert as_agent.content == png
        assert as_agent.headers["content-type"] == "application/octet-stream"
        assert (await http.get(f"http://127.0.0.1:{channels.http_port}{attachment.url}")).status_code == 401


async def test_someone_elses_upload_cannot_be_attached(channels: RunningChannels, visitor: Visitor) -> None:
    await visitor.send(type="message", client_message_id="m1", text="look", attachments=["a" * 64])
    reply = await visitor.receive()
    assert reply["type"] == "error" and "upload" in str(reply["detail"])


async def test_the_widget_and_its_demo_page_are_served(channels: RunningChannels) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{channels.http_port}") as http:
        widget = await http.get("/chat/widget.js")
        assert widget.status_code == 200 and widget.headers["content-type"].startswith("text/javascript")
        assert "innerHTML" not in widget.text
        demo = await http.get("/chat/demo")
        assert '<script src="/chat/widget.js" defer></script>' in demo.text
        assert "script-src 'self'" in demo.headers["content-security-policy"]


async def test_an_erased_customer_leaves_nothing_in_the_chat_adapter(
    channels: RunningChannels, visitor: Visitor
) -> None:
    from inbox.conversations.v1 import events_pb2 as conversation_events
    from inbox_channel_chat.adapter import ChatAdapter

    await visitor.send(type="identify", email="grace@example.org")
    await visitor.receive()
    async with httpx.AsyncClient() as http:
        uploaded = await http.post(
            f"http://127.0.0.1:{channels.http_port}/chat/uploads",
            files={"file": ("a.txt", b"my address is 1 Main St", "text/plain")},
            headers={"Authorization": f"Visitor {visitor.token}"},
        )
    attachment_id = uploaded.json()["attachment_id"]
    [adapter] = channels.actions.adapters
    assert isinstance(adapter, ChatAdapter)
    store = adapter._store  # the adapter's own records, read directly to prove they are gone
    assert store is not None and await store.records.identity(visitor.visitor_id) is not None

    contact = message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_CHAT_VISITOR, value=visitor.visitor_id)
    await channels.bus.publish(
        conversation_events.CustomerErased(customer_id="cust-1", contact_points=[contact]), event_id="erased-1"
    )
    for _ in range(100):
        if await store.records.identity(visitor.visitor_id) is None:
            break
        await asyncio.sleep(0.05)
    assert await store.records.identity(visitor.visitor_id) is None
    assert await store.upload(attachment_id) is None
