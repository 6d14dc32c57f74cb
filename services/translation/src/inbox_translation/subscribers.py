"""Event handlers: decode, call the pipeline, let the bus ack (or retry with backoff)."""

from __future__ import annotations

from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import events_pb2 as routing_events
from inbox_events import ConsumerSpec, Event, PermanentError

from inbox_translation.pipeline import TranslationPipeline

# An engine outage can last: translations are retried for hours before they are dead-lettered.
PATIENT_TRIES = 60
PATIENT_DELAYS = (1.0, 5.0, 15.0, 60.0, 300.0)

# Each conversation's events in order; different conversations' side by side (see `EventBus.consume`).
ON_MESSAGE_ADDED = ConsumerSpec(
    durable="translation-on-message-added",
    subjects=("conv.message_added",),
    event_type=conversation_events.MessageAdded,
    max_deliver=PATIENT_TRIES,
    retry_delays_seconds=PATIENT_DELAYS,
    lane=lambda e: e.message.conversation_id,
)
ON_ASSIGNED = ConsumerSpec(
    durable="translation-on-conversation-assigned",
    subjects=("routing.conversation_assigned",),
    event_type=routing_events.ConversationAssigned,
    max_deliver=PATIENT_TRIES,
    retry_delays_seconds=PATIENT_DELAYS,
    lane=lambda e: e.conversation_id,
)
ON_REPLY = ConsumerSpec(
    durable="translation-on-reply",
    subjects=("conv.reply_needs_translation",),
    event_type=conversation_events.ReplyNeedsTranslation,
    max_deliver=PATIENT_TRIES,
    retry_delays_seconds=PATIENT_DELAYS,
    lane=lambda e: e.outbound.conversation_id,
)
ON_CUSTOMER_ERASED = ConsumerSpec(
    durable="translation-on-customer-erased",
    subjects=("conv.customer_erased",),
    event_type=conversation_events.CustomerErased,
)
ON_CUSTOMERS_MERGED = ConsumerSpec(
    durable="translation-on-customers-merged",
    subjects=("conv.customers_merged",),
    event_type=conversation_events.CustomersMerged,
)
TRANSLATED_KINDS = (message_pb2.MESSAGE_KIND_TEXT, message_pb2.MESSAGE_KIND_VOICEMAIL)


class TranslationSubscribers:
    def __init__(self, pipeline: TranslationPipeline) -> None:
        self._pipeline = pipeline

    async def on_message_added(self, event: Event[conversation_events.MessageAdded]) -> None:
        message = event.payload.message
        if message.direction != message_pb2.DIRECTION_INBOUND or message.kind not in TRANSLATED_KINDS:
            return
        if not message.text.strip():
            return
        await self._pipeline.customer_message(
            message.message_id,
            message.conversation_id,
            message.customer_id,
            message.text,
            event.deliveries == 1,
            event.envelope.tenant_id,
            stored_language=message.language,
            scored_as_stored=message.HasField("sentiment"),
        )

    async def on_assigned(self, event: Event[routing_events.ConversationAssigned]) -> None:
        assigned = event.payload
        if assigned.agent_id:
            await self._pipeline.agent_assigned(
                assigned.conversation_id, assigned.agent_id, event.deliveries == 1, event.envelope.tenant_id
            )

    async def on_reply(self, event: Event[conversation_events.ReplyNeedsTranslation]) -> None:
        reply = event.payload
        await self._pipeline.reply(
            reply.outbound, reply.customer_language, reply.agent_id, event.deliveries == 1, event.envelope.tenant_id
        )

    async def on_customer_erased(self, event: Event[conversation_events.CustomerErased]) -> None:
        await self._pipeline.forget_customer(event.payload.customer_id)

    async def on_customers_merged(self, event: Event[conversation_events.CustomersMerged]) -> None:
        merged = event.payload
        if not merged.surviving_customer_id or not merged.merged_customer_id:
            raise PermanentError("a merge names both customers")
        await self._pipeline.merge_customers(merged.surviving_customer_id, merged.merged_customer_id)
