"""gRPC clients of the services inbox-web calls, like any other integrator."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import grpc
import structlog
from inbox.channels.v1 import channel_service_pb2, channel_service_pb2_grpc
from inbox.conversations.v1 import conversation_service_pb2_grpc, outreach_service_pb2_grpc
from inbox.routing.v1 import routing_service_pb2, routing_service_pb2_grpc
from inbox_events.channels import built_in_names, channel_of
from inbox_runtime.grpc_client import authenticated_channel
from inbox_runtime.healthcheck import is_serving

log = structlog.get_logger(__name__)

TEAMS_TTL_SECONDS = 10.0
# The channels this deployment runs change only when the channels service restarts.
CHANNELS_TTL_SECONDS = 30.0


@dataclass
class Backends:
    conversations: conversation_service_pb2_grpc.ConversationServiceAsyncStub
    outreach: outreach_service_pb2_grpc.OutreachServiceAsyncStub
    routing: routing_service_pb2_grpc.RoutingServiceAsyncStub
    channels: channel_service_pb2_grpc.ChannelServiceAsyncStub
    targets: tuple[str, ...]
    _teams: dict[str, tuple[float, tuple[str, ...]]] = field(default_factory=dict)
    _channels: tuple[float, tuple[channel_service_pb2.ChannelInfo, ...]] | None = None

    async def heartbeat(self, agent_id: str) -> None:
        """The agent's session is alive (routing makes them away when these stop)."""
        try:
            await self.routing.Heartbeat(routing_service_pb2.HeartbeatRequest(agent_id=agent_id), timeout=2)
        except grpc.aio.AioRpcError as exc:
            log.warning("heartbeat_failed", agent_id=agent_id, code=exc.code().name)

    async def teams_of(self, agent_id: str) -> tuple[str, ...]:
        """The agent's teams, as routing knows them (briefly cached: asked on every page)."""
        cached = self._teams.get(agent_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < TEAMS_TTL_SECONDS:
            return cached[1]
        try:
            got = await self.routing.GetAgent(routing_service_pb2.GetAgentRequest(agent_id=agent_id), timeout=2)
            teams = tuple(got.agent.teams)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            teams = ()
        self._teams[agent_id] = (now, teams)
        return teams

    async def _channels_run(self) -> Sequence[channel_service_pb2.ChannelInfo]:
        """The channels the channels service runs (briefly cached); none while it cannot be asked."""
        now = time.monotonic()
        if self._channels is not None and now - self._channels[0] < CHANNELS_TTL_SECONDS:
            return self._channels[1]
        try:
            listed = await self.channels.ListChannels(channel_service_pb2.ListChannelsRequest(), timeout=2)
        except grpc.aio.AioRpcError as exc:
            log.warning("channels_unlisted", code=exc.code().name)
            return ()
        self._channels = (now, tuple(listed.channels))
        return self._channels[1]

    async def reply_channels(self) -> tuple[str, ...]:
        """The channels an agent's text reply can go out on here; none while the channels service cannot be
        asked (the reply then goes where the customer wrote)."""
        return tuple(channel_of(c) for c in await self._channels_run() if c.capabilities.text_replies)

    async def list_channels(self) -> tuple[str, ...]:
        """What a list can be narrowed to: the built-in channels, and those this deployment added."""
        added = [name for name in map(channel_of, await self._channels_run()) if name not in built_in_names()]
        return (*built_in_names(), *sorted(added))

    async def ready(self) -> bool:
        for target in self.targets:
            if not await is_serving(target):
                return False
        return True


async def open_backends(
    stack: AsyncExitStack, conversations_target: str, routing_target: str, channels_target: str, token: str
) -> Backends:
    channels: list[grpc.aio.Channel] = []
    for target in (conversations_target, routing_target, channels_target):
        channel = authenticated_channel(target, token)
        stack.push_async_callback(channel.close, None)
        channels.append(channel)
    return Backends(
        conversations=conversation_service_pb2_grpc.ConversationServiceStub(channels[0]),
        outreach=outreach_service_pb2_grpc.OutreachServiceStub(channels[0]),
        routing=routing_service_pb2_grpc.RoutingServiceStub(channels[1]),
        channels=channel_service_pb2_grpc.ChannelServiceStub(channels[2]),
        targets=(conversations_target, routing_target, channels_target),
    )
