"""inbox.routing.v1.RoutingService: proto <-> domain, nothing more."""

from __future__ import annotations

from typing import Any

import grpc
from inbox.routing.v1 import routing_service_pb2 as pb
from inbox.routing.v1 import routing_service_pb2_grpc as pb_grpc
from inbox_runtime.errors import InvalidInput, NotFound
from inbox_runtime.grpc_server import ServiceRegistration, translate_errors
from inbox_runtime.timestamps import to_timestamp

from inbox_routing.actions import RoutingActions
from inbox_routing.domain import Agent, Presence

Context = grpc.aio.ServicerContext[Any, Any]


def _agent_to_proto(agent: Agent, load: dict[int, int]) -> pb.Agent:
    return pb.Agent(
        agent_id=agent.agent_id,
        display_name=agent.display_name,
        presence=int(agent.presence),  # type: ignore[arg-type]
        capacities=[pb.ChannelCapacity(channel=c, capacity=n) for c, n in sorted(agent.capacities.items())],  # type: ignore[arg-type]
        languages=list(agent.languages),
        load=[pb.ChannelCapacity(channel=c, capacity=n) for c, n in sorted(load.items())],  # type: ignore[arg-type]
    )


class RoutingApi(pb_grpc.RoutingServiceServicer):
    def __init__(self, actions: RoutingActions) -> None:
        self._actions = actions

    @translate_errors
    async def UpsertAgent(self, request: pb.UpsertAgentRequest, context: Context) -> pb.UpsertAgentResponse:
        capacities = {int(c.channel): int(c.capacity) for c in request.capacities}
        agent = await self._actions.upsert_agent(
            request.agent_id, request.display_name, capacities, tuple(request.languages)
        )
        _, load = await self._actions.get_agent(agent.agent_id)
        return pb.UpsertAgentResponse(agent=_agent_to_proto(agent, load))

    @translate_errors
    async def GetAgent(self, request: pb.GetAgentRequest, context: Context) -> pb.GetAgentResponse:
        agent, load = await self._actions.get_agent(request.agent_id)
        if agent is None:
            raise NotFound(f"agent {request.agent_id} not found")
        return pb.GetAgentResponse(agent=_agent_to_proto(agent, load))

    @translate_errors
    async def ListAgents(self, request: pb.ListAgentsRequest, context: Context) -> pb.ListAgentsResponse:
        agents = await self._actions.list_agents()
        return pb.ListAgentsResponse(agents=[_agent_to_proto(a, load) for a, load in agents])

    @translate_errors
    async def SetPresence(self, request: pb.SetPresenceRequest, context: Context) -> pb.SetPresenceResponse:
        try:
            presence = Presence(request.presence)
        except ValueError:
            raise InvalidInput("presence must be one of available, away, busy, offline") from None
        agent = await self._actions.set_presence(request.agent_id, presence)
        _, load = await self._actions.get_agent(agent.agent_id)
        return pb.SetPresenceResponse(agent=_agent_to_proto(agent, load))

    @translate_errors
    async def GetAssignment(self, request: pb.GetAssignmentRequest, context: Context) -> pb.GetAssignmentResponse:
        assignment = await self._actions.get_assignment(request.conversation_id)
        if assignment is None:
            raise NotFound(f"no routing record for conversation {request.conversation_id}")
        return pb.GetAssignmentResponse(
            conversation_id=assignment.conversation_id,
            state=int(assignment.state),  # type: ignore[arg-type]
            agent_id=assignment.agent_id,
            channel=assignment.channel,  # type: ignore[arg-type]
            since=to_timestamp(assignment.since_us),
            reason=assignment.reason,
        )


def registration(actions: RoutingActions) -> ServiceRegistration:
    return ServiceRegistration(
        full_name=pb.DESCRIPTOR.services_by_name["RoutingService"].full_name,
        servicer=RoutingApi(actions),
        add_to_server=pb_grpc.add_RoutingServiceServicer_to_server,
    )
