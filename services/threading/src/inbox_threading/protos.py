"""Protobuf <-> domain conversions, shared by the gRPC API and the events this service publishes."""

from __future__ import annotations

from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import conversation_pb2, conversation_service_pb2
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.message.v1 import message_pb2
from inbox_events import Outgoing
from inbox_events.channels import channel_fields, channel_of, enum_of
from inbox_language import label_of
from inbox_runtime.timestamps import from_timestamp, to_timestamp

from inbox_threading.domain import (
    AttachmentRef,
    ContactPoint,
    Conversation,
    CustomerFacts,
    MergeSuggestion,
    NewInboundMessage,
    NewProactiveMessage,
    ScoreLine,
    StoredMessage,
)
from inbox_threading.summaries import Point, Summary


def contact_from_proto(contact: message_pb2.ContactPoint) -> ContactPoint:
    """A channel account is kept with its channel-scoped value (`telegram:5551234`): the same chat id on
    two channels is two contact points, so two customers until an agent merges them."""
    if contact.kind == message_pb2.CONTACT_POINT_KIND_CHANNEL_ACCOUNT:
        return ContactPoint(contact.kind, f"{contact.channel}:{contact.value}")
    return ContactPoint(contact.kind, contact.value)


def contact_to_proto(contact: ContactPoint) -> message_pb2.ContactPoint:
    if contact.kind == message_pb2.CONTACT_POINT_KIND_CHANNEL_ACCOUNT:
        channel, _, value = contact.value.partition(":")
        return message_pb2.ContactPoint(kind=contact.kind, value=value, channel=channel)  # type: ignore[arg-type]
    return message_pb2.ContactPoint(kind=contact.kind, value=contact.value)  # type: ignore[arg-type]


def inbound_from_event(event: channel_events.InboundMessage) -> NewInboundMessage:
    return NewInboundMessage(
        message_id=event.message_id,
        channel=channel_of(event),
        inbox_id=event.inbox_id,
        provider_message_id=event.provider_message_id,
        sender=contact_from_proto(event.sender),
        sender_name=event.sender_name,
        text=event.text,
        sent_at_us=from_timestamp(event.sent_at),
        received_at_us=from_timestamp(event.received_at),
        kind=event.kind or message_pb2.MESSAGE_KIND_TEXT,
        metadata=tuple(sorted(event.metadata.items())),
        attachments=tuple(
            AttachmentRef(a.attachment_id, a.filename, a.content_type, a.size_bytes, a.url) for a in event.attachments
        ),
        previous_message_id=event.previous_message_id,
    )


def proactive_from_event(event: channel_events.ProactiveMessageSent) -> NewProactiveMessage:
    sent = event.message
    return NewProactiveMessage(
        message_id=sent.message_id,
        channel=channel_of(sent),
        inbox_id=sent.inbox_id,
        recipient=contact_from_proto(sent.recipient),
        agent_id=sent.agent_id,
        text=sent.text,
        sent_at_us=from_timestamp(sent.created_at),
        metadata=tuple(sorted(sent.metadata.items())),
    )


def message_to_proto(message: StoredMessage) -> conversation_pb2.Message:
    return conversation_pb2.Message(
        message_id=message.message_id,
        conversation_id=message.conversation_id,
        customer_id=message.customer_id,
        direction=int(message.direction),  # type: ignore[arg-type]
        **channel_fields(message.channel),
        agent_id=message.agent_id,
        text=message.text,
        sent_at=to_timestamp(message.sent_at_us),
        received_at=to_timestamp(message.received_at_us),
        sequence=message.sequence,
        kind=message.kind,  # type: ignore[arg-type]
        metadata=dict(message.metadata),
        language=message.language,
        translations=dict(message.translations),
        translation_status=message.translation_status,
        delivery_status=message.delivery_status,  # type: ignore[arg-type]
        delivery_detail=message.delivery_detail,
        attachments=[
            message_pb2.Attachment(
                attachment_id=a.attachment_id,
                filename=a.filename,
                content_type=a.content_type,
                size_bytes=a.size_bytes,
                url=a.url,
            )
            for a in message.attachments
        ],
        sentiment=sentiment_to_proto(message.sentiment, message.sentiment_translated_from),
    )


def sentiment_to_proto(score: float | None, translated_from: str = "") -> message_pb2.Sentiment | None:
    if score is None:
        return None
    return message_pb2.Sentiment(score=score, label=label_of(score), translated_from=translated_from)


def conversation_to_proto(conversation: Conversation) -> conversation_pb2.Conversation:
    converted = conversation_pb2.Conversation(
        conversation_id=conversation.conversation_id,
        customer_id=conversation.customer_id,
        status=int(conversation.status),  # type: ignore[arg-type]
        **channel_fields(conversation.channel),
        inbox_id=conversation.inbox_id,
        assignee_agent_id=conversation.assignee_agent_id,
        opened_at=to_timestamp(conversation.opened_at_us),
        last_activity_at=to_timestamp(conversation.last_activity_at_us),
        message_count=conversation.message_count,
        tags=list(conversation.tags),
        team=conversation.team,
        language=conversation.language,
        previous_conversation_id=conversation.previous_conversation_id,
        participant_agent_ids=list(conversation.participants),
        last_message_preview=conversation.preview,
        last_message_direction=conversation.preview_direction,  # type: ignore[arg-type]
        customer_label=conversation.customer_label,
        subject=conversation.subject,
        unanswered_count=conversation.unanswered_count,
        last_delivery_status=conversation.last_delivery_status,  # type: ignore[arg-type]
    )
    if conversation.mood is not None:
        mood = conversation.mood
        converted.mood.CopyFrom(
            conversation_pb2.ConversationMood(
                score=mood.score,
                label=label_of(mood.score),
                trend=mood.trend,
                latest_score=mood.latest_score,
                lowest_score=mood.lowest_score,
                scored_messages=mood.scored_messages,
            )
        )
    if conversation.satisfaction is not None:
        asked = conversation.satisfaction
        converted.satisfaction.CopyFrom(
            conversation_pb2.Satisfaction(
                survey_message_id=asked.survey_message_id,
                asked_at=to_timestamp(asked.asked_at_us),
                score=asked.score,
                comment=asked.comment,
                agent_id=asked.agent_id,
                team=asked.team,
            )
        )
        if asked.answered_at_us:
            converted.satisfaction.answered_at.CopyFrom(to_timestamp(asked.answered_at_us))
    if conversation.waiting_since_us:
        converted.waiting_since.CopyFrom(to_timestamp(conversation.waiting_since_us))
    if conversation.snoozed_until_us:
        converted.snoozed_until.CopyFrom(to_timestamp(conversation.snoozed_until_us))
    if conversation.resolved_at_us:
        converted.resolved_at.CopyFrom(to_timestamp(conversation.resolved_at_us))
    return converted


def profile_to_proto(facts: CustomerFacts, now_us: int) -> conversation_pb2.CustomerProfile:
    return conversation_pb2.CustomerProfile(
        customer_id=facts.customer_id,
        display_name=facts.display_name,
        contact_points=[contact_to_proto(c) for c in facts.contact_points],
        first_contact_at=to_timestamp(facts.first_contact_at_us),
        last_contact_at=to_timestamp(facts.last_contact_at_us),
        tenure_days=facts.tenure_days(now_us),
        channels_used=[enum_of(c) for c in facts.channels_used],
        channel_names_used=list(facts.channels_used),
        conversation_count=facts.conversation_count,
        open_conversation_id=facts.open_conversation_id,
        last_agent_id=facts.last_agent_id,
        attributes=dict(facts.attributes),
    )


def suggestion_to_proto(suggestion: MergeSuggestion) -> conversation_pb2.MergeSuggestion:
    return conversation_pb2.MergeSuggestion(
        suggestion_id=suggestion.suggestion_id,
        customer_id=suggestion.customer_id,
        other_customer_id=suggestion.other_customer_id,
        claimed_contact=contact_to_proto(suggestion.claimed_contact),
        reason=suggestion.reason,
        status=suggestion.status,
        created_at=to_timestamp(suggestion.created_at_us),
        decided_by=suggestion.decided_by,
    )


def summary_to_proto(conversation_id: str, summary: Summary, language: str) -> conversation_pb2.ConversationSummary:
    def points(found: tuple[Point, ...]) -> list[conversation_pb2.SummaryPoint]:
        return [conversation_pb2.SummaryPoint(text=p.text, message_ids=list(p.message_ids)) for p in found]

    return conversation_pb2.ConversationSummary(
        conversation_id=conversation_id,
        who=summary.who,
        wants=points(summary.wants),
        tried_or_promised=points(summary.done),
        open_questions=points(summary.open_questions),
        text=summary.as_note("asked for"),
        language=language,
    )


def score_to_proto(line: ScoreLine) -> conversation_service_pb2.SatisfactionScore:
    return conversation_service_pb2.SatisfactionScore(
        key=line.key,
        responses=line.responses,
        average=line.average,
        satisfied_percent=line.satisfied_percent,
        low=line.low,
    )


def message_added(
    item: StoredMessage, correlation_id: str, opened: conversation_events.ConversationOpened | None = None
) -> Outgoing:
    """`conv.message_added` for a stored item (its event id derived from the item: a repeat is dropped)."""
    event = conversation_events.MessageAdded(message=message_to_proto(item), opened=opened)
    return Outgoing(event, f"message-added:{item.message_id}", correlation_id)
