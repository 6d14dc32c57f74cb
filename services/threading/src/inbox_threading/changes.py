"""What a use case hands the store to write: plain values, decided by the domain, written atomically.

A `ThreadChange` is one unit of work. The store writes it whole or not at all: when its guard no longer
holds (another replica changed the customer since the action read it) nothing is written and the action
decides again on fresh data. `ConversationStore.commit` takes a sequence of changes, so a consumer can
write the outcomes of a whole fetched batch at once and still learn, change by change, which applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inbox_threading.domain import (
    AttachmentRef,
    ContactPoint,
    ConversationStatus,
    Direction,
    ItemKind,
    MergeSuggestion,
    Mood,
    Satisfaction,
)


@dataclass(frozen=True)
class CustomerRecord:
    """A customer as the thread decision needs it. `version` grows with every change of the active
    conversation; 0 means the record is not written yet (its contact point is)."""

    customer_id: str
    display_name: str
    created_at_us: int
    version: int
    active_conversation_id: str
    attributes: tuple[tuple[str, str], ...] = ()
    language: str = ""


@dataclass(frozen=True)
class CustomerGuard:
    """Write the change only if the customer is still at `version`; then set the active conversation
    (`None` leaves it) and raise the version. With `version == 0` the customer is created, taking
    `contact` (which must not belong to anyone else)."""

    customer_id: str
    version: int
    active_conversation_id: str | None = None
    display_name: str = ""
    created_at_us: int = 0
    contact: ContactPoint | None = None


@dataclass(frozen=True)
class NewConversation:
    conversation_id: str
    customer_id: str
    channel: str
    inbox_id: str
    opened_at_us: int
    assignee_agent_id: str = ""
    team: str = ""
    previous_conversation_id: str = ""


@dataclass(frozen=True)
class ConversationPatch:
    """Field changes of one conversation; `None` leaves a field as it is."""

    conversation_id: str
    status: ConversationStatus | None = None
    snoozed_until_us: int | None = None
    resolved_at_us: int | None = None
    assignee_agent_id: str | None = None
    language: str | None = None
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    add_participants: tuple[str, ...] = ()
    # The latest message either way, for lists; and since when the customer waits (0: answered).
    preview: str | None = None
    preview_direction: int | None = None
    waiting_since_us: int | None = None
    subject: str | None = None
    unanswered_count: int | None = None
    last_outbound_id: str | None = None
    last_delivery_status: int | None = None
    mood: Mood | None = None
    satisfaction: Satisfaction | None = None


@dataclass(frozen=True)
class NewItem:
    """A timeline item to append. The store gives it the conversation's next sequence number, counts
    it (messages and calls, not notes or activity) and moves the conversation's last activity."""

    message_id: str
    conversation_id: str
    customer_id: str
    direction: Direction
    channel: str
    inbox_id: str
    agent_id: str
    contact: ContactPoint
    text: str
    sent_at_us: int
    received_at_us: int
    at_us: int
    kind: int = ItemKind.TEXT
    # "<channel>:<provider id>" of an inbound item: one item per provider message, ever.
    provider_key: str = ""
    client_reply_id: str = ""
    metadata: tuple[tuple[str, str], ...] = ()
    attachments: tuple[AttachmentRef, ...] = ()


@dataclass(frozen=True)
class ItemPatch:
    message_id: str
    language: str | None = None
    translation: tuple[str, str] | None = None  # (language, text): kept beside the original
    # "pending" never overwrites "done".
    translation_status: str | None = None
    # (status, detail, the statuses it may overwrite): written only over one of those.
    delivery: tuple[int, str, tuple[int, ...]] | None = None
    # (score, the language it was translated from for scoring, "" when read as written).
    sentiment: tuple[float, str] | None = None


@dataclass(frozen=True)
class CustomerPatch:
    customer_id: str
    language: str | None = None
    attributes: tuple[tuple[str, str], ...] | None = None
    display_name_if_empty: str = ""


@dataclass(frozen=True)
class AuditEntry:
    audit_id: str
    at_us: int
    actor: str
    action: str
    customer_id: str
    details: dict[str, object]


@dataclass(frozen=True)
class SuggestionDecision:
    suggestion_id: str
    status: str
    decided_by: str
    decided_at_us: int


@dataclass(frozen=True)
class ThreadChange:
    guard: CustomerGuard | None = None
    contact_links: tuple[tuple[ContactPoint, str, int], ...] = ()  # (contact, customer id, at)
    conversations: tuple[NewConversation, ...] = ()
    patches: tuple[ConversationPatch, ...] = ()
    items: tuple[NewItem, ...] = ()
    item_patches: tuple[ItemPatch, ...] = ()
    customer_patches: tuple[CustomerPatch, ...] = ()
    # Ids later messages may answer (an email's Message-ID, our replies' ids) -> their conversation.
    refs: tuple[tuple[str, str], ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    suggestions: tuple[MergeSuggestion, ...] = ()
    suggestion_decisions: tuple[SuggestionDecision, ...] = ()


@dataclass(frozen=True)
class Committed:
    """How one change fared: `applied` False when its guard failed (nothing written); the sequence number
    each new item got (items already stored keep theirs and are left out)."""

    applied: bool
    sequences: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ConversationQuery:
    """An inbox view: every filter set must match; newest activity first; `cursor` continues a page."""

    assignee_agent_id: str = ""
    statuses: tuple[ConversationStatus, ...] = ()
    team: str = ""
    channels: tuple[str, ...] = ()
    language: str = ""
    tag: str = ""
    customer_id: str = ""
    # Only conversations shared with this agent (a participant, not the assignee).
    participant_agent_id: str = ""
    limit: int = 50
    cursor: str = ""


@dataclass(frozen=True)
class SearchQuery:
    """Normalised search terms: each must be a word of the item; the last may be a word's beginning."""

    terms: tuple[str, ...]
    last_is_prefix: bool = True


@dataclass(frozen=True)
class ReplySource:
    """The customer message a reply answers, and where it came from."""

    message_id: str
    channel: str
    inbox_id: str
    contact: ContactPoint


@dataclass(frozen=True)
class Tombstone:
    customer_id: str
    erased_at_us: int
    erased_by: str
    reason: str
