"""Event handlers: decode, call an action, let the bus ack. Nothing else."""

from __future__ import annotations

from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.routing.v1 import events_pb2 as routing_events
from inbox.translation.v1 import events_pb2 as translation_events
from inbox_events import ConsumerSpec, Event, PermanentError, Postponed
from inbox_events.channels import channel_of
from inbox_events.erasure import NOTICE_WAIT_TRIES

from inbox_threading.actions import ThreadingActions
from inbox_threading.domain import InvalidInput
from inbox_threading.protos import contact_from_proto, inbound_from_event, proactive_from_event


def _sender(event: channel_events.InboundMessage) -> str:
    return f"{event.sender.kind}:{event.sender.value.lower()}"


ON_INBOUND = ConsumerSpec(
    durable="threading-on-inbound",
    subjects=("inbound.>",),
    event_type=channel_events.InboundMessage,
    # One sender's messages in order; different senders' side by side, sharing the store's commits.
    lane=_sender,
    # Room for the waits for a sender's earlier item (domain.PREDECESSOR_WAITS_SECONDS), which a lane's
    # later items share, and still five tries after them.
    max_deliver=9,
)
ON_ASSIGNED = ConsumerSpec(
    durable="threading-on-conversation-assigned",
    subjects=("routing.conversation_assigned",),
    event_type=routing_events.ConversationAssigned,
    lane=lambda e: e.conversation_id,
)

ON_PROACTIVE_SENT = ConsumerSpec(
    durable="threading-on-proactive-sent",
    subjects=("delivery.proactive_sent",),
    event_type=channel_events.ProactiveMessageSent,
)

ON_OPT_OUT = ConsumerSpec(
    durable="threading-on-opt-out-changed",
    subjects=("delivery.opt_out_changed",),
    event_type=channel_events.OptOutChanged,
)

ON_TRANSFERRED = ConsumerSpec(
    durable="threading-on-transferred",
    subjects=("routing.transferred",),
    event_type=routing_events.ConversationTransferred,
    lane=lambda e: e.conversation_id,
)

ON_QUEUED = ConsumerSpec(
    durable="threading-on-conversation-queued",
    subjects=("routing.conversation_queued",),
    event_type=routing_events.ConversationQueued,
    lane=lambda e: e.conversation_id,
)

ON_LANGUAGE_DETECTED = ConsumerSpec(
    durable="threading-on-language-detected",
    subjects=("translation.language_detected",),
    event_type=translation_events.LanguageDetected,
    lane=lambda e: e.message_id,
)
# By customer: each score rolls their conversation's mood, under the customer's guard.
ON_SENTIMENT_SCORED = ConsumerSpec(
    durable="threading-on-sentiment-scored",
    subjects=("translation.sentiment_scored",),
    event_type=translation_events.SentimentScored,
    lane=lambda e: e.customer_id,
)
ON_MESSAGE_TRANSLATED = ConsumerSpec(
    durable="threading-on-message-translated",
    subjects=("translation.message_translated",),
    event_type=translation_events.MessageTranslated,
    lane=lambda e: e.message_id,
)
ON_TRANSLATION_PENDING = ConsumerSpec(
    durable="threading-on-translation-pending",
    subjects=("translation.pending",),
    event_type=translation_events.TranslationPending,
    lane=lambda e: e.message_id,
)
ON_REPLY_TRANSLATED = ConsumerSpec(
    durable="threading-on-reply-translated",
    subjects=("translation.reply_translated",),
    event_type=translation_events.ReplyTranslated,
)

ON_DELIVERY_STATUS = ConsumerSpec(
    durable="threading-on-delivery-status",
    subjects=("delivery.status_changed",),
    event_type=channel_events.DeliveryStatusChanged,
    # One message's reports in the order the channel made them.
    lane=lambda e: e.message_id,
)

ON_CUSTOMER_ERASED = ConsumerSpec(
    durable="threading-on-customer-erased",
    subjects=("conv.customer_erased",),
    event_type=conversation_events.CustomerErased,
    # The notice waits for the other services (erasure.notice_wait_seconds), with room for errors after.
    max_deliver=NOTICE_WAIT_TRIES + 6,
)


class ThreadingSubscribers:
    def __init__(self, actions: ThreadingActions) -> None:
        self._actions = actions

    async def on_inbound(self, event: Event[channel_events.InboundMessage]) -> None:
        message = inbound_from_event(event.payload)
        wait = await self._actions.predecessor_wait(message, event.deliveries)
        if wait is not None:
            raise Postponed(wait, "the sender's previous item is not stored yet")
        try:
            await self._actions.record_inbound(message, correlation_id=event.envelope.correlation_id)
        except InvalidInput as exc:
            raise PermanentError(str(exc)) from exc

    async def on_assigned(self, event: Event[routing_events.ConversationAssigned]) -> None:
        await self._actions.record_assignment(
            event.payload.conversation_id, event.payload.agent_id, event.envelope.event_id
        )

    async def on_proactive_sent(self, event: Event[channel_events.ProactiveMessageSent]) -> None:
        sent = event.payload.message
        if not sent.message_id or sent.recipient.kind <= 0 or not sent.recipient.value:
            raise PermanentError("proactive message without id or recipient")
        await self._actions.record_proactive(proactive_from_event(event.payload), event.envelope.correlation_id)

    async def on_opt_out(self, event: Event[channel_events.OptOutChanged]) -> None:
        change = event.payload
        channel = channel_of(change)
        if not channel or change.contact.kind <= 0 or not change.contact.value:
            raise PermanentError("opt-out change without channel or contact")
        await self._actions.record_opt_out(channel, contact_from_proto(change.contact), change.opted_out)

    async def on_transferred(self, event: Event[routing_events.ConversationTransferred]) -> None:
        moved = event.payload
        await self._actions.record_transfer(
            moved.conversation_id,
            moved.from_agent_id,
            moved.to_agent_id,
            moved.to_team,
            moved.note,
            event.envelope.event_id,
            transcript=moved.transcript,
        )

    async def on_queued(self, event: Event[routing_events.ConversationQueued]) -> None:
        queued = event.payload
        await self._actions.tell_queue_position(
            queued.conversation_id, queued.position, queued.estimated_wait_seconds, event.envelope.event_id
        )

    async def on_language_detected(self, event: Event[translation_events.LanguageDetected]) -> None:
        detected = event.payload
        await self._actions.record_language(detected.message_id, detected.language, detected.fallback)

    async def on_sentiment_scored(self, event: Event[translation_events.SentimentScored]) -> None:
        scored = event.payload
        if not scored.message_id or not scored.HasField("sentiment") or not -1.0 <= scored.sentiment.score <= 1.0:
            raise PermanentError("sentiment_scored needs a message id and a score from -1 to 1")
        await self._actions.record_sentiment(
            scored.message_id, scored.sentiment.score, scored.sentiment.translated_from
        )

    async def on_message_translated(self, event: Event[translation_events.MessageTranslated]) -> None:
        translated = event.payload
        await self._actions.record_translation(translated.message_id, translated.language, translated.text)

    async def on_translation_pending(self, event: Event[translation_events.TranslationPending]) -> None:
        await self._actions.mark_translation_pending(event.payload.message_id)

    async def on_reply_translated(self, event: Event[translation_events.ReplyTranslated]) -> None:
        reply = event.payload
        if not reply.outbound.message_id:
            raise PermanentError("translated reply without a message id")
        await self._actions.deliver_translated_reply(reply.outbound, reply.language, reply.provider)

    async def on_delivery_status(self, event: Event[channel_events.DeliveryStatusChanged]) -> None:
        report = event.payload
        if not report.message_id:
            raise PermanentError("delivery status without a message id")
        wait = await self._actions.record_delivery(report.message_id, report.status, report.detail, event.deliveries)
        if wait is not None:
            raise Postponed(wait, "the message is not stored yet")

    async def on_customer_erased(self, event: Event[conversation_events.CustomerErased]) -> None:
        await self._actions.erase_from_streams(event, ON_CUSTOMER_ERASED)
