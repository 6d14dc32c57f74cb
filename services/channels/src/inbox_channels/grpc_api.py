"""inbox.channels.v1.ChannelService: proto <-> domain, nothing more."""

from __future__ import annotations

from typing import Any

import grpc
from inbox.channels.v1 import channel_service_pb2 as pb
from inbox.channels.v1 import channel_service_pb2_grpc as pb_grpc
from inbox_events.channels import channel_fields, requested_channel
from inbox_runtime.callers import acting_agent, current_caller
from inbox_runtime.errors import InvalidInput, NotFound
from inbox_runtime.grpc_server import ServiceRegistration, translate_errors
from inbox_runtime.timestamps import to_timestamp

from inbox_channels.actions import ChannelActions

Context = grpc.aio.ServicerContext[Any, Any]


class ChannelApi(pb_grpc.ChannelServiceServicer):
    def __init__(self, actions: ChannelActions) -> None:
        self._actions = actions

    @translate_errors
    async def ListChannels(self, request: pb.ListChannelsRequest, context: Context) -> pb.ListChannelsResponse:
        channels = []
        for adapter in self._actions.adapters:
            health = await adapter.health()
            caps = adapter.capabilities
            channels.append(
                pb.ChannelInfo(
                    **channel_fields(adapter.channel),
                    display_name=adapter.display_name or adapter.channel,
                    adapter=adapter.name,
                    capabilities=pb.ChannelCapabilities(
                        max_text_length=caps.max_text_length,
                        html=caps.html,
                        attachments=caps.attachments,
                        typing_indicators=caps.typing_indicators,
                        read_receipts=caps.read_receipts,
                        text_replies=caps.text_replies,
                    ),
                    healthy=health.healthy,
                    health_detail=health.detail,
                )
            )
        return pb.ListChannelsResponse(channels=channels)

    @translate_errors
    async def GetDeliveryStatus(
        self, request: pb.GetDeliveryStatusRequest, context: Context
    ) -> pb.GetDeliveryStatusResponse:
        if not request.message_id:
            raise InvalidInput("message_id is required")
        delivery = await self._actions.delivery(request.message_id)
        if delivery is None:
            raise NotFound(f"no delivery recorded for message {request.message_id}")
        return pb.GetDeliveryStatusResponse(
            message_id=delivery.message_id,
            **channel_fields(delivery.channel),
            status=delivery.status,
            detail=delivery.detail,
            updated_at=to_timestamp(delivery.updated_at_us),
        )

    @translate_errors
    async def SendMessage(self, request: pb.SendMessageRequest, context: Context) -> pb.SendMessageResponse:
        message_id, delivery = await self._actions.send_proactive(
            channel=_channel(request),
            recipient=request.recipient,
            text=request.text,
            agent_id=acting_agent(current_caller(), request.agent_id),
            inbox_id=request.inbox_id,
            client_message_id=request.client_message_id,
            kind=request.kind,
            tenant_id=request.tenant_id,
        )
        return pb.SendMessageResponse(message_id=message_id, status=delivery.status, detail=delivery.detail)

    @translate_errors
    async def SendTyping(self, request: pb.SendTypingRequest, context: Context) -> pb.SendTypingResponse:
        agent_id = acting_agent(current_caller(), request.agent_id, must_be_agent=True)
        if not request.recipient.value:
            raise InvalidInput("recipient is required")
        await self._actions.send_typing(_channel(request), request.recipient, agent_id, request.active)
        return pb.SendTypingResponse()

    @translate_errors
    async def StartCallback(self, request: pb.StartCallbackRequest, context: Context) -> pb.StartCallbackResponse:
        started = await self._actions.start_callback(
            customer_number=request.customer_number,
            agent_number=request.agent_number,
            agent_id=acting_agent(current_caller(), request.agent_id, must_be_agent=True),
            conversation_id=request.conversation_id,
            client_request_id=request.client_request_id,
        )
        return pb.StartCallbackResponse(call_id=started.sid, status=started.status)


def _channel(request: pb.SendMessageRequest | pb.SendTypingRequest) -> str:
    try:
        channel = requested_channel(request)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if not channel:
        raise InvalidInput("channel_name (or channel) is required")
    return channel


def registration(actions: ChannelActions) -> ServiceRegistration:
    return ServiceRegistration(
        full_name=pb.DESCRIPTOR.services_by_name["ChannelService"].full_name,
        servicer=ChannelApi(actions),
        add_to_server=pb_grpc.add_ChannelServiceServicer_to_server,
    )
