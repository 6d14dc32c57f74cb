"""inbox.routing.v1.RoutingService: proto <-> domain, nothing more."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
from inbox.routing.v1 import routing_service_pb2 as pb
from inbox.routing.v1 import routing_service_pb2_grpc as pb_grpc
from inbox_events.channels import channel_fields, requested_channel
from inbox_runtime.callers import acting_agent, current_caller, subject_agent
from inbox_runtime.errors import InvalidInput, NotFound, PermissionDenied
from inbox_runtime.grpc_server import ServiceRegistration, translate_errors
from inbox_runtime.timestamps import now_us, to_timestamp

from inbox_routing.actions import RoutingActions
from inbox_routing.domain import DEFAULT_CAPACITY, Agent, Assignment, Presence, QueueStats

Context = grpc.aio.ServicerContext[Any, Any]
WATCH_INTERVAL_SECONDS = 1.0
WATCH_KEEPALIVE_SECONDS = 15.0


def _agent_to_proto(agent: Agent, load: dict[str, int]) -> pb.Agent:
    return pb.Agent(
        agent_id=agent.agent_id,
        display_name=agent.display_name,
        presence=int(agent.presence),  # type: ignore[arg-type]
        capacities=[pb.ChannelCapacity(**channel_fields(c), capacity=n) for c, n in sorted(agent.capacities.items())],
        languages=list(agent.languages),
        load=[pb.ChannelLoad(**channel_fields(c), conversations=n) for c, n in sorted(load.items())],
        teams=list(agent.teams),
        skills=[pb.Skill(name=name, level=level) for name, level in agent.skills],
        last_seen_at=to_timestamp(agent.last_seen_at_us),
        effective_capacities=[
            pb.ChannelCapacity(**channel_fields(c), capacity=agent.capacity_for(c))
            for c in sorted({*DEFAULT_CAPACITY, *agent.capacities})
        ],
    )


def _assignment_to_proto(assignment: Assignment, position: int) -> pb.GetAssignmentResponse:
    converted = pb.GetAssignmentResponse(
        conversation_id=assignment.conversation_id,
        state=int(assignment.state),  # type: ignore[arg-type]
        agent_id=assignment.agent_id,
        **channel_fields(assignment.channel),
        since=to_timestamp(assignment.since_us),
        reason=assignment.reason,
        priority=assignment.priority,
        team=assignment.team,
        queue_position=position,
    )
    if assignment.offer_expires_us:
        converted.offer_expires_at.CopyFrom(to_timestamp(assignment.offer_expires_us))
    return converted


def _stats_to_proto(stats: QueueStats) -> pb.GetQueueStatsResponse:
    teams = sorted(set(stats.per_team) | set(stats.available_agents) | set(stats.sla_breaches))
    per_team = [
        pb.TeamQueue(
            team=team,
            waiting=stats.per_team.get(team, (0, 0))[0],
            longest_wait_seconds=stats.per_team.get(team, (0, 0))[1] // 1_000_000,
            agents_available=stats.available_agents.get(team, 0),
            sla_breaches=stats.sla_breaches.get(team, 0),
        )
        for team in teams
    ]
    return pb.GetQueueStatsResponse(
        teams=per_team,
        waiting=sum(t.waiting for t in per_team),
        longest_wait_seconds=max((t.longest_wait_seconds for t in per_team), default=0),
        sla_breaches=sum(t.sla_breaches for t in per_team),
    )


class RoutingApi(pb_grpc.RoutingServiceServicer):
    def __init__(self, actions: RoutingActions) -> None:
        self._actions = actions

    @translate_errors
    async def UpsertAgent(self, request: pb.UpsertAgentRequest, context: Context) -> pb.UpsertAgentResponse:
        agent = await self._actions.upsert_agent(
            request.agent_id,
            request.display_name,
            {_capacity_channel(c): int(c.capacity) for c in request.capacities},
            tuple(request.languages),
            tuple(request.teams),
            {s.name: int(s.level) for s in request.skills},
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
        agent = await self._actions.set_presence(subject_agent(current_caller(), request.agent_id), presence)
        _, load = await self._actions.get_agent(agent.agent_id)
        return pb.SetPresenceResponse(agent=_agent_to_proto(agent, load))

    @translate_errors
    async def Heartbeat(self, request: pb.HeartbeatRequest, context: Context) -> pb.HeartbeatResponse:
        await self._actions.heartbeat(subject_agent(current_caller(), request.agent_id))
        return pb.HeartbeatResponse()

    @translate_errors
    async def AcceptOffer(self, request: pb.AcceptOfferRequest, context: Context) -> pb.AcceptOfferResponse:
        agent_id = subject_agent(current_caller(), request.agent_id)
        assignment = await self._actions.accept_offer(request.conversation_id, agent_id)
        return pb.AcceptOfferResponse(assignment=_assignment_to_proto(assignment, 0))

    @translate_errors
    async def ListOffers(self, request: pb.ListOffersRequest, context: Context) -> pb.ListOffersResponse:
        offers = await self._actions.offers_to(subject_agent(current_caller(), request.agent_id))
        return pb.ListOffersResponse(offers=[_assignment_to_proto(offer, 0) for offer in offers])

    @translate_errors
    async def DeclineOffer(self, request: pb.DeclineOfferRequest, context: Context) -> pb.DeclineOfferResponse:
        agent_id = subject_agent(current_caller(), request.agent_id)
        assignment = await self._actions.decline_offer(request.conversation_id, agent_id)
        _, position = await self._actions.get_assignment(request.conversation_id)
        return pb.DeclineOfferResponse(assignment=_assignment_to_proto(assignment, position))

    @translate_errors
    async def TransferConversation(
        self, request: pb.TransferConversationRequest, context: Context
    ) -> pb.TransferConversationResponse:
        caller = current_caller()
        by_agent = acting_agent(caller, request.agent_id)
        if caller.agent is not None and not caller.agent.supervisor:
            held, _ = await self._actions.get_assignment(request.conversation_id)
            if held is None or held.agent_id != caller.agent.agent_id:
                raise PermissionDenied("an agent transfers the conversations they hold; a supervisor, any")
        assignment = await self._actions.transfer(
            request.conversation_id,
            by_agent,
            request.to_agent_id,
            request.to_team,
            request.note,
            request.transcript,
        )
        _, position = await self._actions.get_assignment(request.conversation_id)
        return pb.TransferConversationResponse(assignment=_assignment_to_proto(assignment, position))

    @translate_errors
    async def GetAssignment(self, request: pb.GetAssignmentRequest, context: Context) -> pb.GetAssignmentResponse:
        assignment, position = await self._actions.get_assignment(request.conversation_id)
        if assignment is None:
            raise NotFound(f"no routing record for conversation {request.conversation_id}")
        return _assignment_to_proto(assignment, position)

    @translate_errors
    async def ExplainAssignment(
        self, request: pb.ExplainAssignmentRequest, context: Context
    ) -> pb.ExplainAssignmentResponse:
        assignment, decision, position = await self._actions.explain(request.conversation_id)
        return pb.ExplainAssignmentResponse(
            assignment=_assignment_to_proto(assignment, position),
            rule_id=assignment.rule_id,
            escalation_step=assignment.escalation_step,
            candidates=[
                pb.CandidateVerdict(agent_id=v.agent_id, chosen=v.chosen, reason=v.reason) for v in decision.verdicts
            ],
        )

    @translate_errors
    async def GetQueueStats(self, request: pb.GetQueueStatsRequest, context: Context) -> pb.GetQueueStatsResponse:
        return _stats_to_proto(await self._actions.queue_stats())

    async def WatchRouting(
        self, request: pb.WatchRoutingRequest, context: Context
    ) -> AsyncIterator[pb.RoutingSnapshot]:
        """A snapshot now, then one whenever queue statistics or agent states change (read from the store,
        so changes made by any replica show), and at least every 15 s."""
        previous = b""
        last_sent = 0.0
        loop = asyncio.get_running_loop()
        while True:
            agents = await self._actions.list_agents()
            snapshot = pb.RoutingSnapshot(
                queue=_stats_to_proto(await self._actions.queue_stats()),
                agents=[_agent_to_proto(a, load) for a, load in agents],
            )
            comparable = snapshot.SerializeToString(deterministic=True)
            # Waits grow every second; compare without them so only real changes are pushed.
            for team in snapshot.queue.teams:
                team.longest_wait_seconds = 0
            key = pb.RoutingSnapshot(
                queue=pb.GetQueueStatsResponse(teams=snapshot.queue.teams, waiting=snapshot.queue.waiting),
                agents=[pb.Agent(agent_id=a.agent_id, presence=a.presence, load=a.load) for a in snapshot.agents],
            ).SerializeToString(deterministic=True)
            if key != previous or loop.time() - last_sent > WATCH_KEEPALIVE_SECONDS:
                full = pb.RoutingSnapshot()
                full.ParseFromString(comparable)
                full.at.CopyFrom(to_timestamp(now_us()))
                yield full
                previous, last_sent = key, loop.time()
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)

    @translate_errors
    async def GetRules(self, request: pb.GetRulesRequest, context: Context) -> pb.GetRulesResponse:
        document, version = await self._actions.rules_document()
        return pb.GetRulesResponse(document=json.dumps(document, indent=2, sort_keys=True), version=version)

    @translate_errors
    async def UpdateRules(self, request: pb.UpdateRulesRequest, context: Context) -> pb.UpdateRulesResponse:
        try:
            document = json.loads(request.document)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"document is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise InvalidInput("document must be a JSON object")
        version = await self._actions.update_rules(document, acting_agent(current_caller(), request.agent_id))
        return pb.UpdateRulesResponse(version=version)


def registration(actions: RoutingActions) -> ServiceRegistration:
    return ServiceRegistration(
        full_name=pb.DESCRIPTOR.services_by_name["RoutingService"].full_name,
        servicer=RoutingApi(actions),
        add_to_server=pb_grpc.add_RoutingServiceServicer_to_server,
    )


def _capacity_channel(capacity: pb.ChannelCapacity) -> str:
    try:
        channel = requested_channel(capacity)
    except ValueError as exc:
        raise InvalidInput(f"capacities: {exc}") from None
    if not channel:
        raise InvalidInput("capacities: each names its channel (channel_name)")
    return channel
