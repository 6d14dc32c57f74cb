"""inbox.conversations.v1.ConversationService: proto <-> domain, and who may see and do what.

The caller (its key, and the agent it calls for) comes from the gRPC bootstrap; visibility and the actor
of every change come from it, never from a request field. What an agent may not see answers NOT_FOUND,
as if it were not there."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from inbox.conversations.v1 import conversation_service_pb2 as pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as pb_grpc
from inbox_events import conversation_of, payload_of
from inbox_events.channels import check_channel_name, name_of_enum, requested_channel
from inbox_language import is_language_code
from inbox_runtime.callers import acting_agent, current_caller
from inbox_runtime.errors import InvalidInput, NotFound, PermissionDenied
from inbox_runtime.grpc_server import ServiceRegistration, translate_errors
from inbox_runtime.timestamps import from_timestamp, now_us, to_timestamp

from inbox_threading.actions import ThreadingActions
from inbox_threading.changes import ConversationQuery
from inbox_threading.domain import (
    DAY_US,
    Conversation,
    ConversationStatus,
    Viewer,
    require_supervisor_or_integrator,
    viewer_of,
    visible_ids,
)
from inbox_threading.protos import (
    contact_from_proto,
    conversation_to_proto,
    message_to_proto,
    profile_to_proto,
    score_to_proto,
    suggestion_to_proto,
    summary_to_proto,
)

# Initial metadata of WatchEvents: the cursor the stream starts after, sent once it is live.
FEED_START_HEADER = "x-feed-start"

Context = grpc.aio.ServicerContext[Any, Any]
# The period satisfaction scores cover when the caller names none.
SCORES_DEFAULT_DAYS = 30


class ConversationApi(pb_grpc.ConversationServiceServicer):
    def __init__(self, actions: ThreadingActions) -> None:
        self._actions = actions

    async def _visible(self, conversation_id: str) -> Conversation:
        """The conversation, when the caller may see it; NOT_FOUND otherwise (whether or not it exists)."""
        if not conversation_id:
            raise InvalidInput("conversation_id is required")
        conversation = await self._actions.get_conversation(conversation_id)
        if conversation is None or not viewer_of(current_caller()).may_see(conversation):
            raise NotFound(f"conversation {conversation_id} not found")
        return conversation

    async def _check_visible(self, conversation_id: str) -> None:
        """Before a change: an agent's conversation must be one they see (the change itself reports a
        conversation that does not exist, for callers who see everything)."""
        if not viewer_of(current_caller()).sees_everything:
            await self._visible(conversation_id)

    async def _visible_customer(self, customer_id: str, *, wholly: bool = False) -> frozenset[str] | None:
        """The ids of the customer's conversations the caller sees (None: all of them, as for integrators
        and supervisors). NOT_FOUND when an agent sees none; PERMISSION_DENIED when `wholly` and they do
        not see every one."""
        viewer = viewer_of(current_caller())
        if viewer.sees_everything or not customer_id:
            return None
        seen, every = visible_ids(viewer, await self._actions.customer_conversations(customer_id))
        if not seen:
            raise NotFound(f"customer {customer_id} not found")
        if wholly and not every:
            raise PermissionDenied(f"customer {customer_id} has conversations your teams cannot see")
        return seen

    @translate_errors
    async def GetConversation(self, request: pb.GetConversationRequest, context: Context) -> pb.GetConversationResponse:
        conversation = await self._visible(request.conversation_id)
        return pb.GetConversationResponse(conversation=conversation_to_proto(conversation))

    @translate_errors
    async def SummarizeConversation(
        self, request: pb.SummarizeConversationRequest, context: Context
    ) -> pb.SummarizeConversationResponse:
        if request.language and not is_language_code(request.language):
            raise InvalidInput("language must be a two- or three-letter code, e.g. en")
        conversation = await self._visible(request.conversation_id)
        summary, language = await self._actions.summarise(conversation.conversation_id, request.language)
        return pb.SummarizeConversationResponse(
            summary=summary_to_proto(conversation.conversation_id, summary, language)
        )

    @translate_errors
    async def GetSatisfactionScores(
        self, request: pb.GetSatisfactionScoresRequest, context: Context
    ) -> pb.GetSatisfactionScoresResponse:
        require_supervisor_or_integrator(current_caller(), "satisfaction scores")
        until = from_timestamp(request.until) if request.HasField("until") else now_us()
        since = from_timestamp(request.since) if request.HasField("since") else until - SCORES_DEFAULT_DAYS * DAY_US
        overall, agents, teams = await self._actions.satisfaction_scores(since, until)
        return pb.GetSatisfactionScoresResponse(
            overall=score_to_proto(overall),
            agents=[score_to_proto(line) for line in agents],
            teams=[score_to_proto(line) for line in teams],
        )

    @translate_errors
    async def ListConversations(
        self, request: pb.ListConversationsRequest, context: Context
    ) -> pb.ListConversationsResponse:
        try:
            statuses = tuple(ConversationStatus(s) for s in request.statuses)
        except ValueError as exc:
            raise InvalidInput(f"unknown status: {exc}") from exc
        query = ConversationQuery(
            assignee_agent_id=request.assignee_agent_id,
            statuses=statuses,
            team=request.team,
            channels=(*(name_of_enum(c) for c in request.channels), *(_channel(n) for n in request.channel_names)),
            language=request.language,
            tag=request.tag,
            customer_id=request.customer_id,
            participant_agent_id=request.participant_agent_id,
            cursor=request.page_token,
        )
        conversations, next_token = await self._actions.list_conversations(query, request.page_size)
        viewer = viewer_of(current_caller())
        # Filtered after the page is read: a page may come back short, its token still continues.
        return pb.ListConversationsResponse(
            conversations=[conversation_to_proto(c) for c in conversations if viewer.may_see(c)],
            next_page_token=next_token,
        )

    @translate_errors
    async def ListMessages(self, request: pb.ListMessagesRequest, context: Context) -> pb.ListMessagesResponse:
        await self._visible(request.conversation_id)
        after = 0
        if request.page_token:
            if not request.page_token.isdigit():
                raise InvalidInput("page_token is not one this service issued")
            after = int(request.page_token)
        messages, next_after = await self._actions.list_messages(request.conversation_id, request.page_size, after)
        next_token = str(next_after) if next_after else ""
        return pb.ListMessagesResponse(messages=[message_to_proto(m) for m in messages], next_page_token=next_token)

    @translate_errors
    async def SendReply(self, request: pb.SendReplyRequest, context: Context) -> pb.SendReplyResponse:
        agent_id = acting_agent(current_caller(), request.agent_id, must_be_agent=True)
        await self._check_visible(request.conversation_id)
        message = await self._actions.send_reply(
            request.conversation_id, agent_id, request.text, request.client_reply_id, _requested_channel(request)
        )
        return pb.SendReplyResponse(message=message_to_proto(message))

    @translate_errors
    async def SetStatus(self, request: pb.SetStatusRequest, context: Context) -> pb.SetStatusResponse:
        actor = acting_agent(current_caller(), request.agent_id)
        await self._check_visible(request.conversation_id)
        until = from_timestamp(request.snoozed_until) if request.HasField("snoozed_until") else 0
        conversation = await self._actions.set_status(request.conversation_id, request.status, until, actor)
        return pb.SetStatusResponse(conversation=conversation_to_proto(conversation))

    @translate_errors
    async def AddNote(self, request: pb.AddNoteRequest, context: Context) -> pb.AddNoteResponse:
        agent_id = acting_agent(current_caller(), request.agent_id, must_be_agent=True)
        await self._check_visible(request.conversation_id)
        note = await self._actions.add_note(request.conversation_id, agent_id, request.text, request.client_note_id)
        return pb.AddNoteResponse(note=message_to_proto(note))

    @translate_errors
    async def UpdateTags(self, request: pb.UpdateTagsRequest, context: Context) -> pb.UpdateTagsResponse:
        actor = acting_agent(current_caller(), request.agent_id)
        await self._check_visible(request.conversation_id)
        conversation = await self._actions.update_tags(
            request.conversation_id, list(request.add), list(request.remove), actor
        )
        return pb.UpdateTagsResponse(conversation=conversation_to_proto(conversation))

    @translate_errors
    async def AddParticipant(self, request: pb.AddParticipantRequest, context: Context) -> pb.AddParticipantResponse:
        actor = acting_agent(current_caller(), request.agent_id)
        await self._check_visible(request.conversation_id)
        conversation = await self._actions.add_participant(request.conversation_id, request.participant_agent_id, actor)
        return pb.AddParticipantResponse(conversation=conversation_to_proto(conversation))

    @translate_errors
    async def GetTimeline(self, request: pb.GetTimelineRequest, context: Context) -> pb.GetTimelineResponse:
        seen = await self._visible_customer(request.customer_id)
        items, next_token = await self._actions.timeline(
            request.customer_id, request.page_size, request.page_token, request.exclude_notes
        )
        shown = [i for i in items if seen is None or i.conversation_id in seen]
        return pb.GetTimelineResponse(items=[message_to_proto(i) for i in shown], next_page_token=next_token)

    @translate_errors
    async def GetCustomerProfile(
        self, request: pb.GetCustomerProfileRequest, context: Context
    ) -> pb.GetCustomerProfileResponse:
        contact = contact_from_proto(request.contact) if request.HasField("contact") else None
        facts = await self._actions.profile(request.customer_id, contact)
        await self._visible_customer(facts.customer_id)
        return pb.GetCustomerProfileResponse(profile=profile_to_proto(facts, now_us()))

    @translate_errors
    async def UpdateCustomerAttributes(
        self, request: pb.UpdateCustomerAttributesRequest, context: Context
    ) -> pb.UpdateCustomerAttributesResponse:
        actor = acting_agent(current_caller(), request.agent_id)
        await self._visible_customer(request.customer_id)
        facts = await self._actions.update_attributes(request.customer_id, dict(request.attributes), actor)
        return pb.UpdateCustomerAttributesResponse(profile=profile_to_proto(facts, now_us()))

    @translate_errors
    async def SearchMessages(self, request: pb.SearchMessagesRequest, context: Context) -> pb.SearchMessagesResponse:
        caller = current_caller()
        # An integrator may narrow a search to what an agent would see; an agent's own view is their identity.
        viewer = viewer_of(caller) if caller.agent else Viewer(request.viewer.agent_id, tuple(request.viewer.teams))
        found, next_token = await self._actions.search(request.query, viewer, request.page_size, request.page_token)
        return pb.SearchMessagesResponse(messages=[message_to_proto(m) for m in found], next_page_token=next_token)

    async def WatchEvents(
        self, request: pb.WatchEventsRequest, context: Context
    ) -> AsyncIterator[pb.WatchEventsResponse]:
        viewer = viewer_of(current_caller())
        try:
            following = self._actions.follow_events(request.cursor, request.from_oldest)
        except InvalidInput as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        async with following as feed:
            # The headers say the feed is live, and from where: a client may keep this cursor at once.
            await context.send_initial_metadata(((FEED_START_HEADER, feed.cursor.encode()),))
            async for event in feed:
                conversation_id = conversation_of(payload_of(event.envelope))
                if not await self._actions.visible_in_feed(viewer, conversation_id):
                    continue
                stored_at = Timestamp()
                stored_at.FromDatetime(event.stored_at)
                yield pb.WatchEventsResponse(
                    cursor=event.cursor.encode(),
                    subject=event.subject,
                    envelope=event.envelope,
                    conversation_id=conversation_id,
                    stored_at=stored_at,
                )

    @translate_errors
    async def ExportCustomer(self, request: pb.ExportCustomerRequest, context: Context) -> pb.ExportCustomerResponse:
        actor = acting_agent(current_caller(), request.agent_id)
        await self._visible_customer(request.customer_id, wholly=True)
        document = await self._actions.export_customer(request.customer_id, actor)
        return pb.ExportCustomerResponse(document=json.dumps(document, ensure_ascii=False).encode())

    @translate_errors
    async def EraseCustomer(self, request: pb.EraseCustomerRequest, context: Context) -> pb.EraseCustomerResponse:
        caller = current_caller()
        actor = acting_agent(caller, request.agent_id)
        require_supervisor_or_integrator(caller, "erasing a customer")
        receipt = await self._actions.erase_customer(request.customer_id, actor, request.reason)
        return pb.EraseCustomerResponse(
            customer_id=receipt.customer_id,
            conversations_erased=len(receipt.conversation_ids),
            items_erased=receipt.items,
            erased_at=to_timestamp(receipt.erased_at_us),
        )

    @translate_errors
    async def ListMergeSuggestions(
        self, request: pb.ListMergeSuggestionsRequest, context: Context
    ) -> pb.ListMergeSuggestionsResponse:
        if not viewer_of(current_caller()).sees_everything and not request.customer_id:
            raise PermissionDenied("an agent lists the suggestions of one customer (customer_id)")
        await self._visible_customer(request.customer_id)
        suggestions = await self._actions.merge_suggestions(request.customer_id)
        return pb.ListMergeSuggestionsResponse(suggestions=[suggestion_to_proto(s) for s in suggestions])

    @translate_errors
    async def DecideMergeSuggestion(
        self, request: pb.DecideMergeSuggestionRequest, context: Context
    ) -> pb.DecideMergeSuggestionResponse:
        caller = current_caller()
        actor = acting_agent(caller, request.agent_id)
        require_supervisor_or_integrator(caller, "deciding a merge")
        suggestion, receipt = await self._actions.decide_suggestion(request.suggestion_id, request.accept, actor)
        return pb.DecideMergeSuggestionResponse(
            suggestion=suggestion_to_proto(suggestion),
            surviving_customer_id=receipt.surviving_customer_id if receipt else "",
        )

    @translate_errors
    async def MergeCustomers(self, request: pb.MergeCustomersRequest, context: Context) -> pb.MergeCustomersResponse:
        caller = current_caller()
        actor = acting_agent(caller, request.agent_id)
        require_supervisor_or_integrator(caller, "merging customers")
        receipt = await self._actions.merge_customers(
            request.customer_id, request.other_customer_id, actor, request.reason
        )
        return pb.MergeCustomersResponse(
            surviving_customer_id=receipt.surviving_customer_id, merged_customer_id=receipt.merged_customer_id
        )

    @translate_errors
    async def SplitCustomer(self, request: pb.SplitCustomerRequest, context: Context) -> pb.SplitCustomerResponse:
        contacts = tuple(contact_from_proto(c) for c in request.contact_points)
        caller = current_caller()
        actor = acting_agent(caller, request.agent_id)
        require_supervisor_or_integrator(caller, "splitting a customer")
        new_customer, moved = await self._actions.split_customer(request.customer_id, contacts, actor, request.reason)
        return pb.SplitCustomerResponse(
            customer_id=request.customer_id, new_customer_id=new_customer, moved_conversation_ids=moved
        )


def registration(actions: ThreadingActions) -> ServiceRegistration:
    return ServiceRegistration(
        full_name=pb.DESCRIPTOR.services_by_name["ConversationService"].full_name,
        servicer=ConversationApi(actions),
        add_to_server=pb_grpc.add_ConversationServiceServicer_to_server,
    )


def _channel(name: str) -> str:
    try:
        return check_channel_name(name)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _requested_channel(request: pb.SendReplyRequest) -> str:
    try:
        return requested_channel(request)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
