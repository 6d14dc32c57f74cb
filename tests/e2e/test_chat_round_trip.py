"""A customer's chat message reaches an agent; the agent's reply reaches the customer.

Real processes: nats-server and every service, each on a free port, on SQLite.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
import websockets
from inbox.channels.v1 import channel_service_pb2, channel_service_pb2_grpc, events_pb2
from inbox.conversations.v1 import conversation_pb2, conversation_service_pb2, conversation_service_pb2_grpc
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import routing_service_pb2, routing_service_pb2_grpc
from inbox_devstack.suite import LocalSuite
from inbox_devstack.waiting import eventually
from inbox_events import EventBus, payload_of
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for, authenticated_channel

# Every service on SQLite files, then every service on MongoDB (FerretDB in the tests).
pytestmark = pytest.mark.parametrize("suite_store", ["sqlite", "mongo"], indirect=True)

AGENT = "agent-ada"


class Clients:
    def __init__(self, suite: LocalSuite, token: str) -> None:
        ports = suite.ports
        self._channels = [
            authenticated_channel(f"127.0.0.1:{ports.conversations_grpc}", token),
            authenticated_channel(f"127.0.0.1:{ports.routing_grpc}", token),
            authenticated_channel(f"127.0.0.1:{ports.channels_grpc}", token),
        ]
        self.conversations = conversation_service_pb2_grpc.ConversationServiceStub(self._channels[0])
        self.routing = routing_service_pb2_grpc.RoutingServiceStub(self._channels[1])
        self.channels = channel_service_pb2_grpc.ChannelServiceStub(self._channels[2])
        self.chat_url = f"ws://127.0.0.1:{ports.channels_http}/chat/ws"

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


@pytest.fixture
async def clients(local_suite: LocalSuite, api_key: str) -> AsyncIterator[Clients]:
    c = Clients(local_suite, api_key)
    await c.routing.UpsertAgent(routing_service_pb2.UpsertAgentRequest(agent_id=AGENT, display_name="Ada"))
    await c.routing.SetPresence(
        routing_service_pb2.SetPresenceRequest(agent_id=AGENT, presence=routing_service_pb2.PRESENCE_AVAILABLE)
    )
    yield c
    await c.close()


async def hello(ws: websockets.ClientConnection, token: str = "") -> dict[str, str]:
    await ws.send(json.dumps({"type": "hello", "visitor_token": token, "name": "Grace"}))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome"
    return welcome


async def agent_conversation(clients: Clients) -> conversation_pb2.Conversation | None:
    listed = await clients.conversations.ListConversations(
        conversation_service_pb2.ListConversationsRequest(assignee_agent_id=AGENT)
    )
    return listed.conversations[0] if listed.conversations else None


async def test_chat_message_reaches_agent_and_reply_reaches_customer(clients: Clients) -> None:
    async with websockets.connect(clients.chat_url) as ws:
        welcome = await hello(ws)
        await ws.send(json.dumps({"type": "message", "client_message_id": "m1", "text": "My order is late"}))
        accepted = json.loads(await ws.recv())
        assert accepted["type"] == "accepted" and accepted["client_message_id"] == "m1"

        conversation = await eventually(lambda: agent_conversation(clients))
        got = await clients.conversations.GetConversation(
            conversation_service_pb2.GetConversationRequest(conversation_id=conversation.conversation_id)
        )
        assert got.conversation.assignee_agent_id == AGENT
        assert got.conversation.channel == message_pb2.CHANNEL_CHAT
        messages = await clients.conversations.ListMessages(
            conversation_service_pb2.ListMessagesRequest(conversation_id=conversation.conversation_id)
        )
        texts = [m.text for m in messages.messages if m.kind == message_pb2.MESSAGE_KIND_TEXT]
        assert texts == ["My order is late"]
        assert [m.text for m in messages.messages if m.kind == message_pb2.MESSAGE_KIND_ACTIVITY] == [
            f"Assigned to {AGENT}"
        ]

        with acting_for(Agent(AGENT)):
            reply = await clients.conversations.SendReply(
                conversation_service_pb2.SendReplyRequest(
                    conversation_id=conversation.conversation_id,
                    agent_id=AGENT,
                    text="Sorry! It ships today.",
                    client_reply_id="r1",
                )
            )
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
        assert frame == {
            "type": "message",
            "message_id": reply.message.message_id,
            "text": "Sorry! It ships today.",
            "sent_at": frame["sent_at"],
            "author": "agent",
        }
        assert welcome["visitor_id"]

    async def delivered() -> bool:
        try:
            status = await clients.channels.GetDeliveryStatus(
                channel_service_pb2.GetDeliveryStatusRequest(message_id=reply.message.message_id)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return False  # the visitor has the frame; the status is being recorded
            raise
        return status.status == events_pb2.DELIVERY_STATUS_DELIVERED

    await eventually(delivered)

    async def in_the_read_model() -> bool:
        """What an integrator reads in one call: the conversation and each message say how delivery went."""
        request = conversation_service_pb2.GetConversationRequest(conversation_id=conversation.conversation_id)
        got = (await clients.conversations.GetConversation(request)).conversation
        listed = await clients.conversations.ListMessages(
            conversation_service_pb2.ListMessagesRequest(conversation_id=conversation.conversation_id)
        )
        sent = [m for m in listed.messages if m.message_id == reply.message.message_id]
        delivered = events_pb2.DELIVERY_STATUS_DELIVERED
        return got.last_delivery_status == delivered and [m.delivery_status for m in sent] == [delivered]

    await eventually(in_the_read_model)
    answered = await clients.conversations.GetConversation(
        conversation_service_pb2.GetConversationRequest(conversation_id=conversation.conversation_id)
    )
    assert answered.conversation.unanswered_count == 0


async def test_reply_waits_for_reconnect_and_is_delivered_once(clients: Clients) -> None:
    async with websockets.connect(clients.chat_url) as ws:
        welcome = await hello(ws)
        await ws.send(json.dumps({"type": "message", "client_message_id": "m1", "text": "Hello?"}))
        assert json.loads(await ws.recv())["type"] == "accepted"
    conversation = await eventually(lambda: agent_conversation(clients))

    request = conversation_service_pb2.SendReplyRequest(
        conversation_id=conversation.conversation_id, agent_id=AGENT, text="We're here.", client_reply_id="r1"
    )
    with acting_for(Agent(AGENT)):
        await clients.conversations.SendReply(request)
        # A retried call (same client_reply_id) must not send a second message.
        await clients.conversations.SendReply(request)

    async def pending_delivery() -> bool:
        listed = await clients.conversations.ListMessages(
            conversation_service_pb2.ListMessagesRequest(conversation_id=conversation.conversation_id)
        )
        return sum(m.direction == message_pb2.DIRECTION_OUTBOUND for m in listed.messages) == 1

    await eventually(pending_delivery)

    async with websockets.connect(clients.chat_url) as ws:
        resumed = await hello(ws, welcome["visitor_token"])
        assert resumed["visitor_id"] == welcome["visitor_id"]
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
        assert frame["type"] == "message" and frame["text"] == "We're here."
        assert await next_frame_after_a_sentinel(ws, "s1") == {"type": "accepted", "client_message_id": "s1"}

    async with websockets.connect(clients.chat_url) as ws:
        await hello(ws, welcome["visitor_token"])
        # Held replies are sent on connect, before any frame is read: were one still held, it would come first.
        assert await next_frame_after_a_sentinel(ws, "s2") == {"type": "accepted", "client_message_id": "s2"}


async def next_frame_after_a_sentinel(ws: websockets.ClientConnection, client_message_id: str) -> dict[str, str]:
    """What the socket sends next once the visitor sends a message: its `accepted` frame, unless something
    (a second copy of a reply) was on its way before it. Proves "nothing else" without waiting out a timeout."""
    await ws.send(json.dumps({"type": "message", "client_message_id": client_message_id, "text": "thanks"}))
    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
    return {k: frame[k] for k in ("type", "client_message_id") if k in frame}


async def test_redelivered_inbound_event_does_not_duplicate_the_message(
    local_suite: LocalSuite, clients: Clients
) -> None:
    inbound = events_pb2.InboundMessage(
        message_id=str(uuid.uuid4()),
        channel=message_pb2.CHANNEL_CHAT,
        inbox_id="chat",
        provider_message_id="visitor-1:m1",
        sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_CHAT_VISITOR, value="visitor-1"),
        text="Only once, please",
    )
    inbound.received_at.GetCurrentTime()
    async with EventBus.connect(local_suite.nats_url, service="test") as bus:
        # Different event ids: JetStream's duplicate window does not catch them, as after a long outage.
        await bus.publish(inbound, event_id="redelivery-1")
        await bus.publish(inbound, event_id="redelivery-2")
    conversation = await eventually(lambda: agent_conversation(clients))

    async def both_handled() -> bool:
        # A marker published after the duplicate proves threading has consumed past it.
        listed = await clients.conversations.ListMessages(
            conversation_service_pb2.ListMessagesRequest(conversation_id=conversation.conversation_id)
        )
        return len(listed.messages) >= 1

    await eventually(both_handled)
    marker = events_pb2.InboundMessage()
    marker.CopyFrom(inbound)
    marker.message_id = str(uuid.uuid4())
    marker.provider_message_id = "visitor-1:m2"
    marker.text = "second"
    async with EventBus.connect(local_suite.nats_url, service="test") as bus:
        await bus.publish(marker, event_id="marker")

    async def marker_seen() -> list[str] | None:
        listed = await clients.conversations.ListMessages(
            conversation_service_pb2.ListMessagesRequest(conversation_id=conversation.conversation_id)
        )
        texts = [m.text for m in listed.messages if m.kind == message_pb2.MESSAGE_KIND_TEXT]
        return texts if "second" in texts else None

    assert await eventually(marker_seen) == ["Only once, please", "second"]


async def test_calls_without_the_token_are_refused(local_suite: LocalSuite) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{local_suite.ports.conversations_grpc}") as channel:
        stub = conversation_service_pb2_grpc.ConversationServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ListConversations(conversation_service_pb2.ListConversationsRequest())
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_integrator_follows_the_conversation_live_and_resumes_after_hanging_up(clients: Clients) -> None:
    feed = clients.conversations.WatchEvents(conversation_service_pb2.WatchEventsRequest())
    await feed.initial_metadata()  # live from here
    async with websockets.connect(clients.chat_url) as ws:
        await hello(ws)
        await ws.send(json.dumps({"type": "message", "client_message_id": "m1", "text": "Where is my parcel?"}))
        assert json.loads(await ws.recv())["type"] == "accepted"
        conversation = await eventually(lambda: agent_conversation(clients))
        with acting_for(Agent(AGENT)):
            reply = await clients.conversations.SendReply(
                conversation_service_pb2.SendReplyRequest(
                    conversation_id=conversation.conversation_id,
                    agent_id=AGENT,
                    text="On its way",
                    client_reply_id="r1",
                )
            )
        assert json.loads(await asyncio.wait_for(ws.recv(), timeout=15))["type"] == "message"

        seen: list[tuple[str, str]] = []  # (subject, what it is about)
        cursor = ""
        delivered = ("delivery.status_changed", reply.message.message_id)
        while delivered not in seen:
            event = await asyncio.wait_for(feed.read(), timeout=15)
            assert event.conversation_id == conversation.conversation_id
            payload = payload_of(event.envelope)
            about = getattr(payload, "message_id", "") or (
                payload.message.message_id if event.subject == "conv.message_added" else ""  # type: ignore[union-attr]
            )
            seen.append((event.subject, about))
            cursor = event.cursor
        feed.cancel()
    customer_message = next(about for subject, about in seen if subject == "conv.message_added")
    order = [
        ("conv.message_added", customer_message),
        ("routing.conversation_assigned", ""),
        ("conv.message_added", reply.message.message_id),
        delivered,
    ]
    assert [s for s in seen if s in order] == order

    # Hung up, and something happened meanwhile: back with the last cursor, the stream goes on with exactly
    # the event that followed, as a replay of everything kept shows.
    async with websockets.connect(clients.chat_url) as ws:
        await hello(ws)
        await ws.send(json.dumps({"type": "message", "client_message_id": "m2", "text": "Thanks!"}))
        assert json.loads(await ws.recv())["type"] == "accepted"
    replay = clients.conversations.WatchEvents(conversation_service_pb2.WatchEventsRequest(from_oldest=True))
    while (await asyncio.wait_for(replay.read(), timeout=15)).cursor != cursor:
        pass
    expected = await asyncio.wait_for(replay.read(), timeout=15)
    replay.cancel()
    resumed = clients.conversations.WatchEvents(conversation_service_pb2.WatchEventsRequest(cursor=cursor))
    following = await asyncio.wait_for(resumed.read(), timeout=15)
    resumed.cancel()
    assert (following.envelope.event_id, following.cursor) == (expected.envelope.event_id, expected.cursor)
