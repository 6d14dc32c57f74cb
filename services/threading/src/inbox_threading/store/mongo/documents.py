"""Documents to domain values and back."""

from __future__ import annotations

import dataclasses
from typing import Any

from inbox_runtime.mongo import Document

from inbox_threading.changes import CustomerRecord, NewConversation, NewItem
from inbox_threading.domain import (
    AttachmentRef,
    ContactPoint,
    Conversation,
    ConversationStatus,
    Direction,
    ItemKind,
    MergeSuggestion,
    Mood,
    Satisfaction,
    StoredMessage,
    index_terms,
)


def pairs(items: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> list[Document]:
    return [{"k": k, "v": v} for k, v in items]


def unpaired(entries: list[Document] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(e["k"]), str(e["v"])) for e in entries or ()))


def contact_key(contact: ContactPoint) -> str:
    return f"{contact.kind}:{contact.value}"


def claim_id(customer_id: str, version: int) -> str:
    return f"{customer_id}#{version:012d}"


def customer(doc: Document, claim: Document | None) -> CustomerRecord:
    return CustomerRecord(
        customer_id=doc["_id"],
        display_name=doc.get("display_name", ""),
        created_at_us=doc.get("created_at_us", 0),
        version=claim["version"] if claim else 0,
        active_conversation_id=claim["active_conversation_id"] if claim else "",
        attributes=tuple(sorted((doc.get("attributes") or {}).items())),
        language=doc.get("language", ""),
    )


def new_conversation(new: NewConversation) -> Document:
    return {
        "customer_id": new.customer_id,
        "status": 1,
        "channel": new.channel,
        "inbox_id": new.inbox_id,
        "assignee_agent_id": new.assignee_agent_id,
        "opened_at_us": new.opened_at_us,
        "last_activity_at_us": new.opened_at_us,
        "message_count": 0,
        "item_count": 0,
        "tags": [],
        "participants": [],
        "team": new.team,
        "language": "",
        "previous_conversation_id": new.previous_conversation_id,
        "snoozed_until_us": 0,
        "resolved_at_us": 0,
        "preview": "",
        "preview_direction": 0,
        "waiting_since_us": 0,
        "subject": "",
        "unanswered_count": 0,
        "last_outbound_id": "",
        "last_delivery_status": 0,
    }


def conversation(doc: Document, customer_label: str = "") -> Conversation:
    return Conversation(
        conversation_id=doc["_id"],
        customer_id=doc["customer_id"],
        status=ConversationStatus(doc["status"]),
        channel=doc["channel"],
        inbox_id=doc["inbox_id"],
        assignee_agent_id=doc["assignee_agent_id"],
        opened_at_us=doc["opened_at_us"],
        last_activity_at_us=doc["last_activity_at_us"],
        message_count=doc["message_count"],
        tags=tuple(sorted(doc.get("tags") or ())),
        team=doc.get("team", ""),
        language=doc.get("language", ""),
        previous_conversation_id=doc.get("previous_conversation_id", ""),
        snoozed_until_us=doc.get("snoozed_until_us", 0),
        resolved_at_us=doc.get("resolved_at_us", 0),
        participants=tuple(sorted(doc.get("participants") or ())),
        preview=doc.get("preview", ""),
        preview_direction=doc.get("preview_direction", 0),
        waiting_since_us=doc.get("waiting_since_us", 0),
        customer_label=customer_label,
        subject=doc.get("subject", ""),
        unanswered_count=doc.get("unanswered_count", 0),
        last_outbound_id=doc.get("last_outbound_id", ""),
        last_delivery_status=doc.get("last_delivery_status", 0),
        mood=Mood(**doc["mood"]) if doc.get("mood") else None,
        satisfaction=Satisfaction(**doc["satisfaction"]) if doc.get("satisfaction") else None,
    )


def new_message(item: NewItem, sequence: int) -> Document:
    searchable = item.kind != ItemKind.ACTIVITY
    return {
        "_id": item.message_id,
        "conversation_id": item.conversation_id,
        "customer_id": item.customer_id,
        "direction": int(item.direction),
        "channel": item.channel,
        "inbox_id": item.inbox_id,
        "agent_id": item.agent_id,
        "contact": {"kind": item.contact.kind, "value": item.contact.value},
        "text": item.text,
        "client_reply_id": item.client_reply_id,
        "sent_at_us": item.sent_at_us,
        "received_at_us": item.received_at_us,
        "stored_at_us": item.at_us,
        "sequence": sequence,
        "kind": int(item.kind),
        # {k, v} entries, not a sub-document: keys are free text and may hold '.' or '$'.
        "metadata": pairs(item.metadata),
        "attachments": [dataclasses.asdict(a) for a in item.attachments],
        "language": "",
        "translations": [],
        "translation_status": "",
        "delivery_status": 0,
        "delivery_detail": "",
        "terms": list(index_terms(item.text)) if searchable else [],
    }


def message(doc: Document) -> StoredMessage:
    return StoredMessage(
        message_id=doc["_id"],
        conversation_id=doc["conversation_id"],
        customer_id=doc["customer_id"],
        direction=Direction(doc["direction"]),
        channel=doc["channel"],
        agent_id=doc["agent_id"],
        text=doc["text"],
        sent_at_us=doc["sent_at_us"],
        received_at_us=doc["received_at_us"],
        sequence=doc["sequence"],
        kind=doc["kind"],
        metadata=unpaired(doc.get("metadata")),
        attachments=tuple(AttachmentRef(**a) for a in doc.get("attachments") or ()),
        language=doc.get("language", ""),
        translations=unpaired(doc.get("translations")),
        translation_status=doc.get("translation_status", ""),
        delivery_status=doc.get("delivery_status", 0),
        delivery_detail=doc.get("delivery_detail", ""),
        sentiment=doc.get("sentiment"),
        sentiment_translated_from=doc.get("sentiment_translated_from", ""),
    )


def contact(doc: dict[str, Any]) -> ContactPoint:
    return ContactPoint(int(doc["kind"]), str(doc["value"]))


def suggestion(doc: Document) -> MergeSuggestion:
    return MergeSuggestion(
        suggestion_id=doc["_id"],
        customer_id=doc["customer_id"],
        other_customer_id=doc["other_customer_id"],
        claimed_contact=contact(doc["contact"]),
        reason=doc["reason"],
        status=doc["status"],
        created_at_us=doc["created_at_us"],
        decided_by=doc.get("decided_by", ""),
    )


def new_suggestion(s: MergeSuggestion) -> Document:
    return {
        "_id": s.suggestion_id,
        "customer_id": s.customer_id,
        "other_customer_id": s.other_customer_id,
        "contact": {"kind": s.claimed_contact.kind, "value": s.claimed_contact.value},
        "reason": s.reason,
        "status": s.status,
        "created_at_us": s.created_at_us,
        "decided_by": "",
        "decided_at_us": 0,
    }
