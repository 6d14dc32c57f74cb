"""Event handlers: decode, call an action, let the bus ack."""

from __future__ import annotations

from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.message.v1 import message_pb2
from inbox.translation.v1 import events_pb2 as translation_events
from inbox_events import ConsumerSpec, Event, PermanentError
from inbox_events.channels import channel_of
from inbox_runtime.timestamps import from_timestamp

from inbox_routing.actions import RoutingActions
from inbox_routing.domain import RouteRequest

# Each conversation's events in order; different conversations' side by side (see `EventBus.consume`).
ON_REOPENED = ConsumerSpec(
    durable="routing-on-conversation-reopened",
    subjects=("conv.reopened",),
    event_type=conversation_events.ConversationReopened,
    lane=lambda e: e.conversation_id,
)
ON_STATUS_CHANGED = ConsumerSpec(
    durable="routing-on-status-changed",
    subjects=("conv.status_changed",),
    event_type=conversation_events.ConversationStatusChanged,
    lane=lambda e: e.conversation_id,
)
ON_CUSTOMER_ERASED = ConsumerSpec(
    durable="routing-on-customer-erased",
    subjects=("conv.customer_erased",),
    event_type=conversation_events.CustomerErased,
)
ON_CUSTOMERS_MERGED = ConsumerSpec(
    durable="routing-on-customers-merged",
    subjects=("conv.customers_merged",),
    event_type=conversation_events.CustomersMerged,
)
# A new conversation's opening travels in its first message's event.
ON_MESSAGE_ADDED = ConsumerSpec(
    durable="routing-on-message-added",
    subjects=("conv.message_added",),
    event_type=conversation_events.MessageAdded,
    lane=lambda e: e.message.conversation_id,
)
# A score translation made after the conversation was placed (another language, read in English).
ON_SENTIMENT_SCORED = ConsumerSpec(
    durable="routing-on-sentiment-scored",
    subjects=("translation.sentiment_scored",),
    event_type=translation_events.SentimentScored,
    lane=lambda e: e.conversation_id,
)
RESOLVED = conversation_pb2.CONVERSATION_STATUS_RESOLVED
PENDING = conversation_pb2.CONVERSATION_STATUS_PENDING
# What counts for service levels: messages between the customer and an agent, not notes or activity.
CONVERSATION_KINDS = (
    message_pb2.MESSAGE_KIND_TEXT,
    message_pb2.MESSAGE_KIND_VOICEMAIL,
    message_pb2.MESSAGE_KIND_UNSPECIFIED,
)


class RoutingSubscribers:
    def __init__(self, actions: RoutingActions) -> None:
        self._actions = actions

    async def _on_opened(self, opened: conversation_events.ConversationOpened, correlation_id: str) -> None:
        channel = channel_of(opened)
        if not opened.conversation_id or not channel:
            raise PermanentError("conversation_opened without conversation_id or channel")
        # The rules match a new conversation on what it opened with, as they do a reopened one: its tags,
        # its first message, the customer's attributes. Not its language: agents who do not speak it
        # would be passed over while translation bridges for them (a language rule matches from the next
        # reopening on).
        request = RouteRequest(
            conversation_id=opened.conversation_id,
            customer_id=opened.customer_id,
            channel=channel,
            inbox_id=opened.inbox_id,
            generation=from_timestamp(opened.opened_at),
            tags=tuple(opened.tags),
            text=opened.text,
            attributes=tuple(sorted(opened.customer_attributes.items())),
            sentiment=opened.sentiment.score if opened.HasField("sentiment") else None,
        )
        await self._actions.conversation_opened(request, request.generation, correlation_id)

    async def on_reopened(self, event: Event[conversation_events.ConversationReopened]) -> None:
        reopened = event.payload
        channel = channel_of(reopened)
        if not reopened.conversation_id or not channel:
            raise PermanentError("conversation_reopened without conversation_id or channel")
        request = RouteRequest(
            conversation_id=reopened.conversation_id,
            customer_id=reopened.customer_id,
            channel=channel,
            inbox_id=reopened.inbox_id,
            generation=from_timestamp(reopened.reopened_at),
            language=reopened.language,
            tags=tuple(reopened.tags),
            text=reopened.text,
            attributes=tuple(sorted(reopened.customer_attributes.items())),
            sentiment=reopened.sentiment.score if reopened.HasField("sentiment") else None,
        )
        await self._actions.conversation_opened(request, request.generation, event.envelope.correlation_id)

    async def on_status_changed(self, event: Event[conversation_events.ConversationStatusChanged]) -> None:
        changed = event.payload
        if changed.status == RESOLVED:
            await self._actions.end(changed.conversation_id)
        elif changed.status == PENDING:
            await self._actions.waiting_on_customer(changed.conversation_id)
        elif changed.previous_status == RESOLVED and (channel := channel_of(changed)):
            # An agent reopened it by hand: it needs an owner again.
            request = RouteRequest(
                changed.conversation_id, changed.customer_id, channel, "", from_timestamp(changed.changed_at)
            )
            await self._actions.route(request, correlation_id=event.envelope.correlation_id)

    async def on_customer_erased(self, event: Event[conversation_events.CustomerErased]) -> None:
        await self._actions.forget_customer(event.payload.customer_id)

    async def on_customers_merged(self, event: Event[conversation_events.CustomersMerged]) -> None:
        merged = event.payload
        if not merged.surviving_customer_id or not merged.merged_customer_id:
            raise PermanentError("a merge names both customers")
        await self._actions.merge_customers(merged.surviving_customer_id, merged.merged_customer_id)

    async def on_message_added(self, event: Event[conversation_events.MessageAdded]) -> None:
        if event.payload.HasField("opened"):
            # The conversation's first message: the decision writes its first-response clock (what the message
            # would start) and is made with its sentiment, so there is nothing more to do for it.
            await self._on_opened(event.payload.opened, event.envelope.correlation_id)
            return
        message = event.payload.message
        if message.kind not in CONVERSATION_KINDS:
            return
        inbound = message.direction == message_pb2.DIRECTION_INBOUND
        by_agent = message.direction == message_pb2.DIRECTION_OUTBOUND and message.agent_id not in ("", "system")
        await self._actions.message_added(
            message.conversation_id, inbound=inbound, by_agent=by_agent, at_us=from_timestamp(message.received_at)
        )
        if inbound and message.HasField("sentiment"):
            await self._actions.customer_sentiment(
                message.conversation_id, message.sentiment.score, event.envelope.correlation_id
            )

    async def on_sentiment_scored(self, event: Event[translation_events.SentimentScored]) -> None:
        scored = event.payload
        if not scored.conversation_id or not scored.HasField("sentiment"):
            raise PermanentError("sentiment_scored without conversation_id or sentiment")
        await self._actions.customer_sentiment(
            scored.conversation_id, scored.sentiment.score, event.envelope.correlation_id
        )
