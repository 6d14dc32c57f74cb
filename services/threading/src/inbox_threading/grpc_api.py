"""inbox.conversations.v1.ConversationService: proto <-> domain, nothing more."""

from __future__ import annotations

from typing import Any

import grpc
from inbox.conversations.v1 import conversation_service_pb2 as pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as pb_grpc
from inbox_runtime.errors import InvalidInput, NotFound
from inbox_runtime.grpc_server import ServiceRegistration, translate_errors

from inbox_threading.actions import ThreadingActions
from inbox_threading.domain import ConversationStatus
from inbox_threading.protos import conversation_to_proto, message_to_proto

Context = grpc.aio.ServicerContext[Any, Any]


class ConversationApi(pb_grpc.ConversationServiceServicer):
    def __init__(self, actions: ThreadingActions) -> None:
        self._actions = actions

    @translate_errors
    async def GetConversation(self, request: pb.GetConversationRequest, context: Context) -> pb.GetConversationResponse:
        if not request.conversation_id:
            raise InvalidInput("conversation_id is required")
        conversation = await self._actions.get_conversation(request.conversation_id)
        if conversation is None:
            raise NotFound(f"conversation {request.conversation_id} not found")
        return pb.GetConversationResponse(conversation=conversation_to_proto(conversation))

    @translate_errors
    async def ListConversations(
        self, request: pb.ListConversationsRequest, context: Context
    ) -> pb.ListConversationsResponse:
        if request.page_size < 0:
            raise InvalidInput("page_size must not be negative")
        try:
            statuses = tuple(ConversationStatus(s) for s in request.statuses)
        except ValueError as exc:
            raise InvalidInput(f"unknown status: {exc}") from exc
        try:
            conversations, next_token = await self._actions.list_conversations(
                request.assignee_agent_id, statuses, request.page_size, request.page_token
            )
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        return pb.ListConversationsResponse(
            conversations=[conversation_to_proto(c) for c in conversations], next_page_token=next_token
        )

    @translate_errors
    async def ListMessages(self, request: pb.ListMessagesRequest, context: Context) -> pb.ListMessagesResponse:
        if not request.conversation_id:
            raise InvalidInput("conversation_id is required")
        if request.page_size < 0:
            raise InvalidInput("page_size must not be negative")
        after = 0
        if request.page_token:
            if not request.page_token.isdigit():
                raise InvalidInput("page_token is not one this service issued")
            after = int(request.page_token)
        messages = await self._actions.list_messages(request.conversation_id, request.page_size, after)
        limit_reached = len(messages) == (request.page_size or 100)
        next_token = str(messages[-1].sequence) if messages and limit_reached else ""
        return pb.ListMessagesResponse(messages=[message_to_proto(m) for m in messages], next_page_token=next_token)

    @translate_errors
    async def SendReply(self, request: pb.SendReplyRequest, context: Context) -> pb.SendReplyResponse:
        message = await self._actions.send_reply(
            request.conversation_id, request.agent_id, request.text, request.client_reply_id
        )
        return pb.SendReplyResponse(message=message_to_proto(message))


def registration(actions: ThreadingActions) -> ServiceRegistration:
    return ServiceRegistration(
        full_name=pb.DESCRIPTOR.services_by_name["ConversationService"].full_name,
        servicer=ConversationApi(actions),
        add_to_server=pb_grpc.add_ConversationServiceServicer_to_server,
    )
