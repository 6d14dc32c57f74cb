"""Rows to domain values and back."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

from inbox_threading.changes import CustomerRecord
from inbox_threading.domain import (
    AttachmentRef,
    ContactPoint,
    Conversation,
    ConversationStatus,
    Direction,
    MergeSuggestion,
    Mood,
    Satisfaction,
    StoredMessage,
)

MESSAGE_COLUMNS = (
    "message_id, conversation_id, customer_id, direction, channel, agent_id, text, sent_at_us, received_at_us, "
    "sequence, kind, metadata, attachments, language, translations, translation_status, delivery_status, "
    "delivery_detail, sentiment, sentiment_translated_from"
)


def message(row: sqlite3.Row) -> StoredMessage:
    return StoredMessage(
        message_id=row["message_id"],
        conversation_id=row["conversation_id"],
        customer_id=row["customer_id"],
        direction=Direction(row["direction"]),
        channel=row["channel"],
        agent_id=row["agent_id"],
        text=row["text"],
        sent_at_us=row["sent_at_us"],
        received_at_us=row["received_at_us"],
        sequence=row["sequence"],
        kind=row["kind"],
        metadata=tuple(sorted(json.loads(row["metadata"]).items())),
        attachments=tuple(AttachmentRef(**a) for a in json.loads(row["attachments"])),
        language=row["language"],
        translations=tuple(sorted(json.loads(row["translations"]).items())),
        translation_status=row["translation_status"],
        delivery_status=row["delivery_status"],
        delivery_detail=row["delivery_detail"],
        sentiment=row["sentiment"],
        sentiment_translated_from=row["sentiment_translated_from"],
    )


def conversation(row: sqlite3.Row, tags: list[str], participants: list[str], customer_label: str) -> Conversation:
    return Conversation(
        conversation_id=row["conversation_id"],
        customer_id=row["customer_id"],
        status=ConversationStatus(row["status"]),
        channel=row["channel"],
        inbox_id=row["inbox_id"],
        assignee_agent_id=row["assignee_agent_id"],
        opened_at_us=row["opened_at_us"],
        last_activity_at_us=row["last_activity_at_us"],
        message_count=row["message_count"],
        tags=tuple(tags),
        team=row["team"],
        language=row["language"],
        previous_conversation_id=row["previous_conversation_id"],
        snoozed_until_us=row["snoozed_until_us"],
        resolved_at_us=row["resolved_at_us"],
        participants=tuple(participants),
        preview=row["preview"],
        preview_direction=row["preview_direction"],
        waiting_since_us=row["waiting_since_us"],
        customer_label=customer_label,
        subject=row["subject"],
        unanswered_count=row["unanswered_count"],
        last_outbound_id=row["last_outbound_id"],
        last_delivery_status=row["last_delivery_status"],
        mood=mood_of(row["mood"]),
        satisfaction=satisfaction_of(row["satisfaction"]),
    )


def mood_of(column: str) -> Mood | None:
    return Mood(**json.loads(column)) if column else None


def mood_column(mood: Mood) -> str:
    return json.dumps(dataclasses.asdict(mood))


def satisfaction_of(column: str) -> Satisfaction | None:
    return Satisfaction(**json.loads(column)) if column else None


def satisfaction_column(satisfaction: Satisfaction) -> str:
    return json.dumps(dataclasses.asdict(satisfaction))


def customer(row: sqlite3.Row) -> CustomerRecord:
    return CustomerRecord(
        customer_id=row["customer_id"],
        display_name=row["display_name"],
        created_at_us=row["created_at_us"],
        version=row["version"],
        active_conversation_id=row["active_conversation_id"],
        attributes=tuple(sorted(json.loads(row["attributes"]).items())),
        language=row["language"],
    )


def suggestion(row: sqlite3.Row) -> MergeSuggestion:
    return MergeSuggestion(
        suggestion_id=row["suggestion_id"],
        customer_id=row["customer_id"],
        other_customer_id=row["other_customer_id"],
        claimed_contact=ContactPoint(row["contact_kind"], row["contact_value"]),
        reason=row["reason"],
        status=row["status"],
        created_at_us=row["created_at_us"],
        decided_by=row["decided_by"],
    )
