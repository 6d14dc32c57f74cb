"""Two routing replicas on one nats-server and one store, under a burst of new conversations: no agent
ever holds more than their capacity, and every conversation is assigned exactly once or stays queued."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import events_pb2 as routing_events
from inbox.routing.v1 import routing_service_pb2 as pb
from inbox.routing.v1 import routing_service_pb2_grpc as pb_grpc
from inbox_devstack.events import stored_events
from inbox_devstack.ports import free_port
from inbox_devstack.suite import SERVICES, LocalSuite
from inbox_devstack.waiting import eventually
from inbox_events import EventBus, Outgoing
from inbox_routing.subscribers import ON_MESSAGE_ADDED
from inbox_runtime.grpc_client import authenticated_channel
from inbox_threading.subscribers import ON_INBOUND

# Every service on SQLite files, then every service on MongoDB (FerretDB in the tests).
pytestmark = pytest.mark.parametrize("suite_store", ["sqlite", "mongo"], indirect=True)

ROUTING = next(s for s in SERVICES if s.name == "routing")
AGENTS, CAPACITY, BURST = 6, 2, 40


def chat_message(i: int) -> events_pb2.InboundMessage:
    message = events_pb2.InboundMessage(
        message_id=str(uuid.uuid4()),
        channel=message_pb2.CHANNEL_CHAT,
        inbox_id="chat",
        provider_message_id=f"burst-{i}",
        sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_CHAT_VISITOR, value=f"visitor-{i}"),
        text=f"question {i}",
    )
    message.received_at.GetCurrentTime()
    return message


@pytest.mark.timeout(180)
async def test_two_replicas_never_exceed_capacity_under_a_burst(local_suite: LocalSuite, api_key: str) -> None:
    replica_env = {"ROUTING_GRPC_PORT": str(free_port())}
    local_suite.start_service(ROUTING, replica="b", env=replica_env)
    await asyncio.to_thread(local_suite.wait_ready, ROUTING, replica_env, replica="b")
    targets = [f"127.0.0.1:{local_suite.ports.routing_grpc}", f"127.0.0.1:{replica_env['ROUTING_GRPC_PORT']}"]

    async with (
        authenticated_channel(targets[0], api_key) as first,
        authenticated_channel(targets[1], api_key) as second,
    ):
        stubs = [pb_grpc.RoutingServiceStub(first), pb_grpc.RoutingServiceStub(second)]
        for i in range(AGENTS):
            stub = stubs[i % 2]
            await stub.UpsertAgent(
                pb.UpsertAgentRequest(
                    agent_id=f"agent-{i}",
                    display_name=f"Agent {i}",
                    capacities=[pb.ChannelCapacity(channel=message_pb2.CHANNEL_CHAT, capacity=CAPACITY)],
                )
            )
        async with EventBus.connect(local_suite.nats_url, service="test") as bus:
            burst = [Outgoing(chat_message(i), f"burst:{i}") for i in range(BURST)]
            # Agents come online while the burst is being routed, on both replicas at once.
            await asyncio.gather(
                bus.publish_all(burst),
                *(
                    stubs[i % 2].SetPresence(
                        pb.SetPresenceRequest(agent_id=f"agent-{i}", presence=pb.PRESENCE_AVAILABLE)
                    )
                    for i in range(AGENTS)
                ),
            )

            async def every_agent_full_and_the_rest_queued() -> bool:
                stats = await stubs[0].GetQueueStats(pb.GetQueueStatsRequest())
                agents = (await stubs[1].ListAgents(pb.ListAgentsRequest())).agents
                held = sum(load.conversations for a in agents for load in a.load)
                return held == AGENTS * CAPACITY and stats.waiting == BURST - AGENTS * CAPACITY

            await eventually(every_agent_full_and_the_rest_queued, 30, what="every agent full, the rest queued")
            # Nothing is still on its way: threading has handled every inbound message (so every first message
            # is published with its opening) and the replicas have handled and acked every one.
            for spec in (ON_INBOUND, ON_MESSAGE_ADDED):
                await eventually(lambda spec=spec: bus.settled(spec), 60, what=f"{spec.durable} settled")
        agents = (await stubs[0].ListAgents(pb.ListAgentsRequest())).agents
        stats = await stubs[1].GetQueueStats(pb.GetQueueStatsRequest())

    loads = {a.agent_id: sum(load.conversations for load in a.load) for a in agents}
    assert all(load <= CAPACITY for load in loads.values()), loads
    assert sum(loads.values()) == AGENTS * CAPACITY
    assert stats.waiting == BURST - AGENTS * CAPACITY
    assigned = await stored_events(
        local_suite.nats_url,
        "routing.conversation_assigned",
        routing_events.ConversationAssigned,
    )
    conversations = [a.conversation_id for a in assigned]
    assert len(conversations) == len(set(conversations)) == AGENTS * CAPACITY
    logs = {name: (local_suite.log_dir / f"{name}.log").read_text() for name in ("routing", "routing-b")}
    assert all("conversation_routed" in text for text in logs.values()), "both replicas must have routed"
