"""Which subject each event type travels on: the registry, declared once.

Channel-scoped events carry the channel as their second token (`outbound.sms`) so an adapter running
alone consumes only its own channel. An inbound item also names its sender, as a digest (no contact
point in a subject): `inbound.sms.<sender>`. The last item on that subject is the sender's latest, for
every channels replica alike, which is how each item names the one before it (see inbox_channels.actions).
Items the customer did not write (automatic replies) go on `inbound.<channel>.automatic`.
"""

from __future__ import annotations

import hashlib

from google.protobuf.message import Message
from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.events.v1 import envelope_pb2
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import events_pb2 as routing_events
from inbox.translation.v1 import events_pb2 as translation_events

from inbox_events.channels import channel_of

# The last token of inbound items nobody wrote (no sender's order to keep); a digest is hex, never this.
AUTOMATIC_TOKEN = "automatic"

# Events whose subject does not depend on their content.
_FIXED_SUBJECTS: dict[str, str] = {
    channel_events.DeliveryStatusChanged.DESCRIPTOR.full_name: "delivery.status_changed",
    channel_events.OptOutChanged.DESCRIPTOR.full_name: "delivery.opt_out_changed",
    channel_events.ProactiveMessageSent.DESCRIPTOR.full_name: "delivery.proactive_sent",
    conversation_events.MessageAdded.DESCRIPTOR.full_name: "conv.message_added",
    conversation_events.AssigneeChanged.DESCRIPTOR.full_name: "conv.assignee_changed",
    conversation_events.ConversationReopened.DESCRIPTOR.full_name: "conv.reopened",
    conversation_events.ConversationStatusChanged.DESCRIPTOR.full_name: "conv.status_changed",
    conversation_events.TagsChanged.DESCRIPTOR.full_name: "conv.tags_changed",
    conversation_events.CustomerErased.DESCRIPTOR.full_name: "conv.customer_erased",
    conversation_events.CustomersMerged.DESCRIPTOR.full_name: "conv.customers_merged",
    conversation_events.ReplyNeedsTranslation.DESCRIPTOR.full_name: "conv.reply_needs_translation",
    conversation_events.MessageUpdated.DESCRIPTOR.full_name: "conv.message_updated",
    conversation_events.FeedbackReceived.DESCRIPTOR.full_name: "conv.feedback_received",
    translation_events.LanguageDetected.DESCRIPTOR.full_name: "translation.language_detected",
    translation_events.SentimentScored.DESCRIPTOR.full_name: "translation.sentiment_scored",
    translation_events.MessageTranslated.DESCRIPTOR.full_name: "translation.message_translated",
    translation_events.TranslationPending.DESCRIPTOR.full_name: "translation.pending",
    translation_events.ReplyTranslated.DESCRIPTOR.full_name: "translation.reply_translated",
    routing_events.ConversationAssigned.DESCRIPTOR.full_name: "routing.conversation_assigned",
    routing_events.ConversationQueued.DESCRIPTOR.full_name: "routing.conversation_queued",
    routing_events.ConversationOffered.DESCRIPTOR.full_name: "routing.conversation_offered",
    routing_events.ConversationTransferred.DESCRIPTOR.full_name: "routing.transferred",
    routing_events.SlaBreached.DESCRIPTOR.full_name: "routing.sla_breached",
    routing_events.AgentPresenceChanged.DESCRIPTOR.full_name: "routing.presence_changed",
}


def every_subject() -> dict[str, str]:
    """Each event type's subject, `<...>` standing for the token taken from the event: for the reference."""
    return {
        **_FIXED_SUBJECTS,
        channel_events.InboundMessage.DESCRIPTOR.full_name: "inbound.<channel>.<sender digest, or automatic>",
        channel_events.OutboundMessage.DESCRIPTOR.full_name: "outbound.<channel>",
        envelope_pb2.DeadLetter.DESCRIPTOR.full_name: "deadletter.<consumer>",
    }


def subject_for(event: Message) -> str:
    if isinstance(event, channel_events.InboundMessage):
        if event.kind == message_pb2.MESSAGE_KIND_AUTOMATIC:
            return f"inbound.{_channel_token(event)}.{AUTOMATIC_TOKEN}"
        return f"inbound.{_channel_token(event)}.{sender_token(event.sender)}"
    if isinstance(event, channel_events.OutboundMessage):
        return f"outbound.{_channel_token(event)}"
    if isinstance(event, envelope_pb2.DeadLetter):
        return f"deadletter.{event.consumer}"
    try:
        return _FIXED_SUBJECTS[event.DESCRIPTOR.full_name]
    except KeyError:
        raise ValueError(f"no subject is declared for {event.DESCRIPTOR.full_name}") from None


def sender_token(sender: message_pb2.ContactPoint) -> str:
    """A sender's subject token: a digest of the contact point (its value compared without case)."""
    if sender.kind <= 0 or not sender.value:
        raise ValueError("an inbound item names no sender")
    return hashlib.blake2b(f"{sender.kind}:{sender.value.lower()}".encode(), digest_size=12).hexdigest()


def _channel_token(event: channel_events.InboundMessage | channel_events.OutboundMessage) -> str:
    name = channel_of(event)
    if not name:
        raise ValueError(f"a {event.DESCRIPTOR.name} names no channel")
    return name


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or (token != "*" and token != tokens[index]):
            return False
    return len(tokens) == len(wanted)
