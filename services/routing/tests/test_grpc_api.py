"""RoutingService over a real gRPC server and a real nats-server: agents, rules, transfers, live state."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import routing_service_pb2 as pb
from inbox.routing.v1 import routing_service_pb2_grpc as pb_grpc
from inbox_devstack.clock import Clock
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.status_codes import status_codes
from inbox_events import EventBus
from inbox_routing import grpc_api
from inbox_routing.actions import RoutingActions
from inbox_routing.domain import CHAT, RouteRequest, RoutingPolicy
from inbox_routing.store.sqlite import SqliteRoutingStore
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for, authenticated_channel
from inbox_runtime.grpc_server import grpc_server

RULES = {
    "default": {"team": "general"},
    "rules": [{"id": "vip", "match": {"attributes": {"tier": "vip"}}, "target": {"team": "vip", "priority": 10}}],
}


@pytest.fixture
def policy() -> RoutingPolicy:
    return RoutingPolicy(offer_timeout_us=0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def api(
    nats_server: NatsServer, tmp_path: Path, nats_api_key: str, policy: RoutingPolicy, clock: Clock
) -> AsyncIterator[tuple[pb_grpc.RoutingServiceAsyncStub, RoutingActions]]:
    store = await SqliteRoutingStore.open(tmp_path / "routing.sqlite3")
    async with EventBus.connect(nats_server.url, service="test") as bus:
        await bus.ensure_streams()
        actions = RoutingActions(store, bus, policy, clock=clock)
        async with (
            grpc_server(
                host="127.0.0.1", port=0, keys=await bus.api_keys(), services=[grpc_api.registration(actions)]
            ) as server,
            authenticated_channel(f"127.0.0.1:{server.port}", nats_api_key) as channel,
        ):
            yield pb_grpc.RoutingServiceStub(channel), actions
    await store.close()


async def agent(stub: pb_grpc.RoutingServiceAsyncStub, name: str, teams: list[str]) -> None:
    await stub.UpsertAgent(
        pb.UpsertAgentRequest(
            agent_id=name,
            display_name=name.title(),
            teams=teams,
            skills=[pb.Skill(name="refunds", level=5)],
            capacities=[pb.ChannelCapacity(channel_name="chat", capacity=1)],
        )
    )
    await stub.SetPresence(pb.SetPresenceRequest(agent_id=name, presence=pb.PRESENCE_AVAILABLE))


async def test_rules_route_by_attribute_and_transfers_move_conversations(
    api: tuple[pb_grpc.RoutingServiceAsyncStub, RoutingActions],
) -> None:
    stub, actions = api
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.UpdateRules(
            pb.UpdateRulesRequest(document=json.dumps({"rules": [{"id": "x", "match": {"channels": ["Fax!"]}}]}))
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "not a channel's name" in str(bad.value.details())
    with acting_for(Agent("ops", supervisor=True)):
        updated = await stub.UpdateRules(pb.UpdateRulesRequest(document=json.dumps(RULES), agent_id="ops"))
    assert updated.version == 1
    assert json.loads((await stub.GetRules(pb.GetRulesRequest())).document) == RULES

    await agent(stub, "ada", ["vip"])
    await agent(stub, "bob", ["general"])
    await agent(stub, "cyd", ["general"])
    vip = await actions.route(RouteRequest("c-vip", "cust-1", CHAT, "chat", 1, attributes=(("tier", "vip"),)))
    plain = await actions.route(RouteRequest("c-plain", "cust-2", CHAT, "chat", 1))
    assert vip.assignment.agent_id == "ada" and plain.assignment.agent_id in {"bob", "cyd"}
    explained = await stub.ExplainAssignment(pb.ExplainAssignmentRequest(conversation_id="c-vip"))
    assert explained.rule_id == "vip" and explained.assignment.team == "vip" and explained.assignment.priority == 10

    other = "cyd" if plain.assignment.agent_id == "bob" else "bob"
    with acting_for(Agent(plain.assignment.agent_id)):
        moved = await stub.TransferConversation(
            pb.TransferConversationRequest(conversation_id="c-plain", to_agent_id=other, note="knows the case")
        )
    assert moved.assignment.agent_id == other
    with acting_for(Agent("ada")):
        # An agent moves only what they hold; c-plain is the other agent's now.
        with pytest.raises(grpc.aio.AioRpcError) as not_hers:
            await stub.TransferConversation(pb.TransferConversationRequest(conversation_id="c-plain", to_team="vip"))
        assert not_hers.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as as_other:
            await stub.TransferConversation(
                pb.TransferConversationRequest(conversation_id="c-vip", agent_id=other, to_team="general")
            )
        assert as_other.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as full:
            await stub.TransferConversation(pb.TransferConversationRequest(conversation_id="c-vip", to_agent_id=other))
        assert full.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        to_team = await stub.TransferConversation(
            pb.TransferConversationRequest(conversation_id="c-vip", to_team="general", note="not VIP after all")
        )
        assert to_team.assignment.state == pb.ASSIGNMENT_STATE_ASSIGNED
        assert to_team.assignment.agent_id == ("bob" if other == "cyd" else "cyd")
    with acting_for(Agent("ops", supervisor=True)), pytest.raises(grpc.aio.AioRpcError) as neither:
        await stub.TransferConversation(pb.TransferConversationRequest(conversation_id="c-vip"))
    assert neither.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_queue_stats_and_the_live_watch(api: tuple[pb_grpc.RoutingServiceAsyncStub, RoutingActions]) -> None:
    stub, actions = api
    await actions.route(RouteRequest("c1", "cust-1", CHAT, "chat", 1))
    stats = await stub.GetQueueStats(pb.GetQueueStatsRequest())
    assert stats.waiting == 1 and [t.team for t in stats.teams] == [""]
    watch = stub.WatchRouting(pb.WatchRoutingRequest())
    first = await asyncio.wait_for(watch.read(), 5)
    assert first.queue.waiting == 1 and list(first.agents) == []
    await agent(stub, "ada", [])  # ada comes online and takes the waiting conversation
    changed = await asyncio.wait_for(watch.read(), 5)
    while changed.queue.waiting != 0:
        changed = await asyncio.wait_for(watch.read(), 5)
    assert [(a.agent_id, [load.conversations for load in a.load]) for a in changed.agents] == [("ada", [1])]
    watch.cancel()
    # What ada can take on each channel: chat as she was set up, the others at their defaults.
    [ada] = (await stub.ListAgents(pb.ListAgentsRequest())).agents
    in_force = {c.channel: c.capacity for c in ada.effective_capacities}
    assert in_force[message_pb2.CHANNEL_CHAT] == 1 and in_force[message_pb2.CHANNEL_EMAIL] == 10
    assert [c.channel for c in ada.capacities] == [message_pb2.CHANNEL_CHAT]
    # Channels go by name; a v1 reader still finds the enum beside it.
    assert [(c.channel_name, c.channel) for c in ada.capacities] == [("chat", message_pb2.CHANNEL_CHAT)]
    assert {c.channel_name for c in ada.effective_capacities} == {"chat", "email", "sms", "voice", "api"}
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.UpsertAgent(
            pb.UpsertAgentRequest(
                agent_id="ada",
                display_name="Ada",
                capacities=[pb.ChannelCapacity(channel=message_pb2.CHANNEL_SMS, channel_name="chat", capacity=2)],
            )
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "name different channels" in str(
        bad.value.details()
    )


@pytest.mark.parametrize("policy", [RoutingPolicy(offer_timeout_us=0, presence_grace_us=1)])
async def test_silent_agents_become_away(
    api: tuple[pb_grpc.RoutingServiceAsyncStub, RoutingActions], clock: Clock
) -> None:
    stub, actions = api
    await agent(stub, "ada", [])
    assert await actions.sweep_presence() == 0  # within the grace
    clock.now += 2  # past it: no heartbeat came
    assert await actions.sweep_presence() == 1
    got = await stub.GetAgent(pb.GetAgentRequest(agent_id="ada"))
    assert got.agent.presence == pb.PRESENCE_AWAY


async def test_every_call_naming_an_agent_or_conversation_that_does_not_exist_answers_not_found(
    api: tuple[pb_grpc.RoutingServiceAsyncStub, RoutingActions],
) -> None:
    """The rule threading's calls follow too: an id that names nothing is NOT_FOUND (not OK and empty)."""
    stub, _ = api
    await agent(stub, "ada", ["general"])
    with acting_for(Agent("lead", supervisor=True)):
        calls = {
            "GetAgent": stub.GetAgent(pb.GetAgentRequest(agent_id="nobody")),
            "SetPresence": stub.SetPresence(pb.SetPresenceRequest(agent_id="nobody", presence=pb.PRESENCE_AWAY)),
            "Heartbeat": stub.Heartbeat(pb.HeartbeatRequest(agent_id="nobody")),
            "ListOffers": stub.ListOffers(pb.ListOffersRequest(agent_id="nobody")),
            "AcceptOffer": stub.AcceptOffer(pb.AcceptOfferRequest(conversation_id="nope", agent_id="ada")),
            "DeclineOffer": stub.DeclineOffer(pb.DeclineOfferRequest(conversation_id="nope", agent_id="ada")),
            "TransferConversation": stub.TransferConversation(
                pb.TransferConversationRequest(conversation_id="nope", agent_id="lead", to_agent_id="ada")
            ),
            "GetAssignment": stub.GetAssignment(pb.GetAssignmentRequest(conversation_id="nope")),
            "ExplainAssignment": stub.ExplainAssignment(pb.ExplainAssignmentRequest(conversation_id="nope")),
        }
        codes = await status_codes(calls)
    assert {name: code.name for name, code in codes.items() if code != grpc.StatusCode.NOT_FOUND} == {}
