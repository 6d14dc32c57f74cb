"""Threading rules, pure: which conversation an item joins, lifecycle changes, what a valid reply is."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum

from inbox_events.channels import channel_label
from inbox_runtime.callers import Caller
from inbox_runtime.errors import FailedPrecondition, InvalidInput, NotFound, PermissionDenied

__all__ = ["FailedPrecondition", "InvalidInput", "NotFound"]  # re-exported: the errors this domain raises

DAY_US = 24 * 3600 * 1_000_000
MAX_REPLY_LENGTH = 10_000
MAX_NOTE_LENGTH = 10_000
MAX_TAGS = 20
_TAG = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,49}$")


# Values match inbox.conversations.v1.ConversationStatus.
class ConversationStatus(IntEnum):
    OPEN = 1
    PENDING = 2
    SNOOZED = 3
    RESOLVED = 4


class Direction(IntEnum):
    INTERNAL = 0  # notes and activity: never sent
    INBOUND = 1
    OUTBOUND = 2


# Values match inbox.message.v1.MessageKind.
class ItemKind(IntEnum):
    TEXT = 1
    CALL_EVENT = 2
    VOICEMAIL = 3
    MISSED_CALL = 4
    NOTE = 5
    ACTIVITY = 6
    AUTOMATIC = 7
    FEEDBACK = 8


# Values match inbox.channels.v1.DeliveryStatus.
class DeliveryStatus(IntEnum):
    UNSPECIFIED = 0
    QUEUED = 1
    SENT = 2
    DELIVERED = 3
    READ = 4
    FAILED = 5


# How far along a delivery is: a report never takes it back (providers' callbacks race). A failure ranks
# with delivery, so a bounce after "delivered" (email) counts, as does a delivery after a failed try.
_DELIVERY_RANK = {
    DeliveryStatus.UNSPECIFIED: 0,
    DeliveryStatus.QUEUED: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.FAILED: 3,
    DeliveryStatus.READ: 4,
}


def delivery_moves_on(current: int, reported: int) -> bool:
    """Whether a channel's report of a message's delivery replaces what is known of it."""
    if reported not in _DELIVERY_RANK or reported == DeliveryStatus.UNSPECIFIED or reported == current:
        return False
    return _DELIVERY_RANK[DeliveryStatus(reported)] >= _DELIVERY_RANK.get(DeliveryStatus(current), 0)


def replaceable_by(reported: int) -> tuple[int, ...]:
    """The statuses a report may overwrite: what a store's conditional write names."""
    return tuple(int(status) for status in DeliveryStatus if delivery_moves_on(status, reported))


# Channels go by their registered names (inbox_events.channels).
EMAIL, VOICE = "email", "voice"


@dataclass(frozen=True)
class ContactPoint:
    kind: int
    value: str


@dataclass(frozen=True)
class AttachmentRef:
    """A file a channel keeps (email attachment, chat upload, voicemail recording), by reference."""

    attachment_id: str
    filename: str
    content_type: str
    size_bytes: int
    url: str


@dataclass(frozen=True)
class Mood:
    """How the customer feels over a conversation: their messages' sentiment, recent ones weighing most."""

    score: float
    trend: str
    latest_score: float
    lowest_score: float
    scored_messages: int


# The latest message weighs half of the mood; a move of the mood by this much is a trend, not noise.
MOOD_WEIGHT_OF_LATEST = 0.5
MOOD_TREND_STEP = 0.1


def rolled_mood(previous: Mood | None, score: float, *, replaces: bool = False) -> Mood:
    """The conversation's mood after one more scored message of the customer's. `replaces`: the score
    replaces an earlier one of the same message (read again from its translation), which is not counted
    twice; its old weight in the mood is not taken back (the mood is a guide, the message's score exact)."""
    if previous is None:
        return Mood(score, "steady", score, score, 1)
    mood = round(MOOD_WEIGHT_OF_LATEST * score + (1 - MOOD_WEIGHT_OF_LATEST) * previous.score, 3)
    change = mood - previous.score
    trend = "worsening" if change <= -MOOD_TREND_STEP else "improving" if change >= MOOD_TREND_STEP else "steady"
    counted = previous.scored_messages + (0 if replaces else 1)
    return Mood(mood, trend, score, min(previous.lowest_score, score), counted)


@dataclass(frozen=True)
class Satisfaction:
    """The survey a resolved conversation sent, and the customer's answer (score 0 until they answer)."""

    survey_message_id: str
    asked_at_us: int
    # Who the answer counts for: who had the conversation when it was resolved.
    agent_id: str = ""
    team: str = ""
    score: int = 0
    comment: str = ""
    answered_at_us: int = 0


@dataclass(frozen=True)
class Conversation:
    conversation_id: str
    customer_id: str
    status: ConversationStatus
    channel: str
    inbox_id: str
    assignee_agent_id: str
    opened_at_us: int
    last_activity_at_us: int
    message_count: int
    tags: tuple[str, ...] = ()
    team: str = ""
    language: str = ""
    previous_conversation_id: str = ""
    snoozed_until_us: int = 0
    resolved_at_us: int = 0
    participants: tuple[str, ...] = ()
    preview: str = ""
    preview_direction: int = 0
    waiting_since_us: int = 0
    customer_label: str = ""
    # The first email's subject; the customer's messages since an agent answered.
    subject: str = ""
    unanswered_count: int = 0
    # The latest message sent to the customer, and how its delivery went (DeliveryStatus).
    last_outbound_id: str = ""
    last_delivery_status: int = 0
    # None until a message of the customer's was scored.
    mood: Mood | None = None
    # None until the satisfaction survey was sent.
    satisfaction: Satisfaction | None = None


CHAT_VISITOR = 3


# Who an action is written by when no agent made it: an API key ("key:<name>", see inbox_runtime.callers)
# or the suite itself.
KEY_ACTOR_PREFIX = "key:"


def sent_by_agent(actor: str) -> bool:
    """Whether a message was sent by an agent (who can answer the customer), not an integration or the system."""
    return bool(actor) and actor != SYSTEM_AGENT and not actor.startswith(KEY_ACTOR_PREFIX)


def customer_label(display_name: str, first_contact: ContactPoint | None) -> str:
    """What a list calls a customer: their name, else their first contact point (an anonymous chat
    visitor's id is opaque, so "Visitor" and its first characters)."""
    if display_name:
        return display_name
    if first_contact is None:
        return ""
    if first_contact.kind == CHAT_VISITOR:
        return f"Visitor {first_contact.value[:6]}"
    return first_contact.value


PREVIEW_LENGTH = 120
_KIND_PREVIEWS = {2: "Call", 3: "Voicemail", 4: "Missed call"}


def preview_of(text: str, kind: int = 1) -> str:
    """One line of a message for lists: whitespace folded, cut at PREVIEW_LENGTH characters."""
    line = " ".join(text.split())
    if not line:
        return _KIND_PREVIEWS.get(kind, "")
    return line if len(line) <= PREVIEW_LENGTH else line[: PREVIEW_LENGTH - 1].rstrip() + "…"


@dataclass(frozen=True)
class StoredMessage:
    """One timeline item: a message either way, a call event, a voicemail, a note or an activity."""

    message_id: str
    conversation_id: str
    customer_id: str
    direction: Direction
    channel: str
    agent_id: str
    text: str
    sent_at_us: int
    received_at_us: int
    sequence: int
    kind: int = ItemKind.TEXT
    metadata: tuple[tuple[str, str], ...] = ()
    attachments: tuple[AttachmentRef, ...] = ()
    language: str = ""
    translations: tuple[tuple[str, str], ...] = ()
    translation_status: str = ""
    delivery_status: int = 0  # DeliveryStatus, outbound messages only
    delivery_detail: str = ""
    # A customer's text: its sentiment score (-1..+1, see inbox_language.sentiment), None until scored, and
    # the language it was written in when the score was read from its English translation.
    sentiment: float | None = None
    sentiment_translated_from: str = ""


@dataclass(frozen=True)
class NewInboundMessage:
    message_id: str
    channel: str
    inbox_id: str
    provider_message_id: str
    sender: ContactPoint
    sender_name: str
    text: str
    sent_at_us: int
    received_at_us: int
    kind: int = ItemKind.TEXT
    metadata: tuple[tuple[str, str], ...] = ()
    attachments: tuple[AttachmentRef, ...] = ()
    # The sender's item accepted just before this one, which must be stored first (see predecessor_wait).
    previous_message_id: str = ""

    def references(self) -> tuple[str, ...]:
        """Ids of earlier messages this one answers (email In-Reply-To, then References, newest first)."""
        meta = dict(self.metadata)
        ids = [meta.get("in_reply_to", ""), *reversed(meta.get("references", "").split())]
        return tuple(dict.fromkeys(i for i in ids if i))


@dataclass(frozen=True)
class NewProactiveMessage:
    """A message an agent or a system sent first, through ChannelService, already handed to its channel."""

    message_id: str
    channel: str
    inbox_id: str
    recipient: ContactPoint
    agent_id: str
    text: str
    sent_at_us: int
    # What the channel was told with it: `outreach` says what kind of outreach it was (contact pressure).
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class IdentityClaim:
    """Who a customer says they are (chat identify), and whether the host site vouched for it."""

    contacts: tuple[ContactPoint, ...]
    verified: bool


def identity_claim(metadata: tuple[tuple[str, str], ...]) -> IdentityClaim | None:
    meta = dict(metadata)
    contacts = []
    if meta.get("identity_email"):
        contacts.append(ContactPoint(1, meta["identity_email"].strip().lower()))
    if meta.get("identity_user_id"):
        contacts.append(ContactPoint(4, meta["identity_user_id"].strip()))
    if not contacts:
        return None
    return IdentityClaim(tuple(contacts), meta.get("identity_verified") == "true")


class IdentityAction(Enum):
    NOTHING = "nothing"
    # A verified contact point nobody has yet: it becomes the claimer's.
    LINK = "link"
    # A verified contact point of another customer: the two records are one person.
    MERGE = "merge"
    # An unverified claim on another customer's contact point: an agent must decide. Merging on a
    # claim would show one person another's history.
    SUGGEST = "suggest"


def decide_identity(claimer_id: str, owner_id: str | None, verified: bool) -> IdentityAction:
    if owner_id == claimer_id:
        return IdentityAction.NOTHING
    if owner_id is None:
        return IdentityAction.LINK if verified else IdentityAction.NOTHING
    return IdentityAction.MERGE if verified else IdentityAction.SUGGEST


def surviving_customer(a: tuple[str, int], b: tuple[str, int]) -> tuple[str, str]:
    """(surviving, merged) of two (customer id, created at): the older record keeps the history."""
    first, second = sorted((a, b), key=lambda c: (c[1], c[0]))
    return first[0], second[0]


@dataclass(frozen=True)
class MergeReceipt:
    surviving_customer_id: str
    merged_customer_id: str
    # The merged customer's active conversation, resolved because the survivor already had one.
    resolved_conversation_id: str = ""


@dataclass(frozen=True)
class MergeSuggestion:
    suggestion_id: str
    customer_id: str
    other_customer_id: str
    claimed_contact: ContactPoint
    reason: str
    status: str
    created_at_us: int
    decided_by: str = ""


@dataclass(frozen=True)
class InboundOutcome:
    # As written, without what only views show (`customer_label`: see ConversationStore.conversation_state).
    conversation: Conversation
    message: StoredMessage
    # This message opened the conversation (true again on a redelivery of that first message).
    opened: bool
    duplicate: bool
    reopened: bool = False
    # Timeline items written beside the message ("continued by SMS", "reopened").
    activities: tuple[StoredMessage, ...] = ()
    previous_agent_id: str = ""
    merges: tuple[MergeReceipt, ...] = ()
    customer_attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReplyRoute:
    """Where an agent's reply goes: a channel and one of the customer's contact points on it."""

    channel: str
    inbox_id: str
    recipient: ContactPoint
    # Our id of the customer message being answered (lets email thread the reply).
    in_reply_to_message_id: str


@dataclass(frozen=True)
class CustomerFacts:
    """What the profile shows about a customer."""

    customer_id: str
    display_name: str
    contact_points: tuple[ContactPoint, ...]
    first_contact_at_us: int
    last_contact_at_us: int
    channels_used: tuple[str, ...]
    conversation_count: int
    open_conversation_id: str
    last_agent_id: str
    attributes: tuple[tuple[str, str], ...] = ()

    def tenure_days(self, now_us: int) -> int:
        return max(0, (now_us - self.first_contact_at_us) // DAY_US)


@dataclass(frozen=True)
class ThreadPolicy:
    """Per inbox: how long a resolved conversation reopens when the customer writes again, and which
    team sees the conversations it opens."""

    reopen_window_us: int = 7 * DAY_US
    team: str = ""


@dataclass(frozen=True)
class ThreadPolicies:
    default: ThreadPolicy = field(default_factory=ThreadPolicy)
    per_inbox: tuple[tuple[str, ThreadPolicy], ...] = ()

    def for_inbox(self, inbox_id: str) -> ThreadPolicy:
        return dict(self.per_inbox).get(inbox_id, self.default)


class ThreadAction(Enum):
    CONTINUE = "continue"
    REOPEN = "reopen"
    OPEN_NEW = "open_new"


@dataclass(frozen=True)
class ThreadDecision:
    action: ThreadAction
    # The conversation continued or reopened; None when a new one opens.
    conversation_id: str | None
    # For a new conversation: the resolved one it follows, if any.
    previous_conversation_id: str = ""


def decide_thread(
    *,
    active: Conversation | None,
    latest_resolved: Conversation | None,
    referenced: Conversation | None,
    now_us: int,
    policy: ThreadPolicy,
) -> ThreadDecision:
    """Which conversation a customer's new item joins.

    - A reply to one of our emails goes to that conversation when it is active.
    - Otherwise the customer's active conversation continues, whatever the channel (one active
      conversation per customer, always).
    - Otherwise a resolved conversation (the one replied to, else the latest) reopens within the window.
    - Otherwise a new conversation opens, linked to the one before it.
    """
    if referenced is not None and referenced.status != ConversationStatus.RESOLVED:
        return ThreadDecision(ThreadAction.CONTINUE, referenced.conversation_id)
    if active is not None:
        return ThreadDecision(ThreadAction.CONTINUE, active.conversation_id)
    candidate = referenced or latest_resolved
    if candidate is None:
        return ThreadDecision(ThreadAction.OPEN_NEW, None)
    resolved_at = candidate.resolved_at_us or candidate.last_activity_at_us
    if now_us - resolved_at <= policy.reopen_window_us:
        return ThreadDecision(ThreadAction.REOPEN, candidate.conversation_id)
    return ThreadDecision(ThreadAction.OPEN_NEW, None, candidate.conversation_id)


def automatic_target(
    customer_id: str, active: Conversation | None, referenced: Conversation | None
) -> Conversation | None:
    """Where an automatic message (an out-of-office reply) is kept: the customer's conversation it answers,
    whatever its status, else their active one; None: it answers nothing of theirs and is not kept."""
    for candidate in (referenced, active):
        if candidate is not None and candidate.customer_id == customer_id:
            return candidate
    return None


def continued_by(previous_channel: str, channel: str) -> str | None:
    """The activity line when a conversation moves to another channel, e.g. "Continued by SMS"."""
    label = channel_label(channel)
    if previous_channel == channel or not label:
        return None
    return f"Continued by {label}"


def status_change(
    current: Conversation, status: int, snoozed_until_us: int, now_us: int
) -> tuple[ConversationStatus, int]:
    """Validate a status change; returns the new status and snooze time."""
    try:
        new = ConversationStatus(status)
    except ValueError:
        raise InvalidInput("status must be open, pending, snoozed or resolved") from None
    if new == ConversationStatus.SNOOZED:
        if snoozed_until_us <= now_us:
            raise InvalidInput("snoozed_until must be in the future")
        return new, snoozed_until_us
    return new, 0


def status_text(status: ConversationStatus, actor: str, snoozed_until_iso: str = "") -> str:
    by = f" by {actor}" if actor else ""
    if status == ConversationStatus.SNOOZED:
        return f"Snoozed until {snoozed_until_iso}{by}"
    return {
        ConversationStatus.OPEN: f"Opened{by}",
        ConversationStatus.PENDING: f"Marked pending (waiting on the customer){by}",
        ConversationStatus.RESOLVED: f"Resolved{by}",
    }[status]


def normalise_tags(tags: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    cleaned = []
    for tag in tags:
        value = tag.strip().lower()
        if not _TAG.match(value):
            raise InvalidInput(f"tag {tag!r}: lower-case letters, digits, '_', '.', ':' or '-', at most 50")
        cleaned.append(value)
    return tuple(dict.fromkeys(cleaned))


@dataclass(frozen=True)
class Viewer:
    """Who is asking: an agent sees conversations assigned to them, shared with them, or of their teams.
    No agent id means a trusted integrator, who sees everything."""

    agent_id: str = ""
    teams: tuple[str, ...] = ()

    @property
    def sees_everything(self) -> bool:
        return not self.agent_id

    def may_see(self, conversation: Conversation) -> bool:
        return (
            self.sees_everything
            or conversation.assignee_agent_id == self.agent_id
            or self.agent_id in conversation.participants
            or (bool(conversation.team) and conversation.team in self.teams)
        )


def viewer_of(caller: Caller) -> Viewer:
    """What a caller sees: an agent their own, shared and teams' conversations (a supervisor everything);
    a key that calls for nobody (an integrator) everything its scopes allow."""
    agent = caller.agent
    if agent is None or agent.supervisor:
        return Viewer()
    return Viewer(agent.agent_id, agent.teams)


def require_supervisor_or_integrator(caller: Caller, what: str) -> None:
    """Customer-wide changes (erasure, merges, splits) are for supervisors, or for keys calling for nobody."""
    if caller.agent is not None and not caller.agent.supervisor:
        raise PermissionDenied(f"{what} is for supervisors")


def visible_ids(viewer: Viewer, conversations: Iterable[Conversation]) -> tuple[frozenset[str], bool]:
    """The ids of the conversations the viewer sees, and whether they see all of them."""
    listed = list(conversations)
    seen = frozenset(c.conversation_id for c in listed if viewer.may_see(c))
    return seen, len(seen) == len(listed)


MAX_SEARCH_TERMS = 12
_WORD = re.compile(r"\w+")


def words_of(text: str) -> list[str]:
    """Lower-case words without diacritics ("Café" -> "cafe"): what search indexes and matches."""
    folded = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD.findall(plain)


def search_terms(text: str) -> tuple[str, ...]:
    """The words an agent typed: every one must match (the last one as a word's beginning)."""
    words = words_of(text)[:MAX_SEARCH_TERMS]
    if not words:
        raise InvalidInput("query must contain a word")
    return tuple(words)


# A message's first distinct words, enough for any real message, so that a huge one (a long mail) stays
# well within a document's size limit beside its text.
MAX_INDEX_TERMS = 2000


def index_terms(text: str) -> tuple[str, ...]:
    """The distinct words an item is found by (its first `MAX_INDEX_TERMS`)."""
    return tuple(dict.fromkeys(words_of(text)))[:MAX_INDEX_TERMS]


@dataclass(frozen=True)
class ErasureReceipt:
    customer_id: str
    contact_points: tuple[ContactPoint, ...]
    conversation_ids: tuple[str, ...]
    items: int
    erased_at_us: int


def export_document(
    facts: CustomerFacts,
    conversations: list[Conversation],
    items: list[StoredMessage],
    audit: list[dict[str, object]],
    exported_at_us: int,
) -> dict[str, object]:
    """Everything held about a customer, as one JSON-ready document (data-subject access requests)."""
    return {
        "format": "inbox.customer-export.v1",
        "exported_at_us": exported_at_us,
        "customer": {
            "customer_id": facts.customer_id,
            "display_name": facts.display_name,
            "contact_points": [{"kind": c.kind, "value": c.value} for c in facts.contact_points],
            "first_contact_at_us": facts.first_contact_at_us,
            "channels_used": [channel_label(c) for c in facts.channels_used],
        },
        "conversations": [
            {
                "conversation_id": c.conversation_id,
                "status": c.status.name.lower(),
                "opened_at_us": c.opened_at_us,
                "last_activity_at_us": c.last_activity_at_us,
                "tags": list(c.tags),
                "previous_conversation_id": c.previous_conversation_id,
            }
            for c in conversations
        ],
        "items": [
            {
                "message_id": i.message_id,
                "conversation_id": i.conversation_id,
                "kind": ItemKind(i.kind).name.lower(),
                "direction": i.direction.name.lower(),
                "channel": channel_label(i.channel),
                "agent_id": i.agent_id,
                "text": i.text,
                "sent_at_us": i.sent_at_us,
                "metadata": dict(i.metadata),
                "attachments": [a.url for a in i.attachments],
            }
            for i in items
        ],
        "audit": audit,
    }


_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_ATTRIBUTES = 50


def merge_attributes(current: Mapping[str, str], changes: Mapping[str, str]) -> dict[str, str]:
    """Apply attribute changes (an empty value removes the key), checking names and sizes."""
    merged = dict(current)
    for key, value in changes.items():
        if not _ATTRIBUTE.match(key):
            raise InvalidInput(f"attribute {key!r}: lower-case letters, digits and '_', at most 40")
        if len(value) > 200:
            raise InvalidInput(f"attribute {key!r} is longer than 200 characters")
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    if len(merged) > MAX_ATTRIBUTES:
        raise InvalidInput(f"a customer carries at most {MAX_ATTRIBUTES} attributes")
    return dict(sorted(merged.items()))


SYSTEM_AGENT = "system"


def queue_notice(position: int, estimated_wait_seconds: int) -> str:
    """What a waiting customer is told, so nobody waits in silence."""
    place = "You are next in line" if position == 1 else f"You are number {position} in line"
    if estimated_wait_seconds <= 0:
        return f"Thanks for waiting. {place}; an agent will be with you as soon as possible."
    minutes = max(1, round(estimated_wait_seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Thanks for waiting. {place}; an agent should be with you in about {minutes} {unit}."


# How long a customer's item waits, delivery after delivery, while the item they sent before it is not
# stored yet. A first short wait covers the other replica still writing it; the next two cover a killed
# replica's item coming back, which takes up to the inbound consumer's ack_wait (5 s). Then the item is
# stored anyway: its predecessor was refused for good (dead-lettered) or handed to another process.
PREDECESSOR_WAITS_SECONDS = (0.2, 5.0, 5.0)


def predecessor_wait(message: NewInboundMessage, predecessor_stored: bool, deliveries: int) -> float | None:
    """Seconds to put `message` back so that it never overtakes its sender's earlier item; None: store it now."""
    if not message.previous_message_id or predecessor_stored or deliveries > len(PREDECESSOR_WAITS_SECONDS):
        return None
    return PREDECESSOR_WAITS_SECONDS[max(deliveries, 1) - 1]


def validate_inbound(message: NewInboundMessage) -> None:
    if not message.message_id:
        raise InvalidInput("inbound message has no message_id")
    if not message.channel:
        raise InvalidInput("inbound message has no channel")
    if message.sender.kind <= 0 or not message.sender.value:
        raise InvalidInput("inbound message has no sender contact point")


def validate_reply(conversation_id: str, agent_id: str, text: str, client_reply_id: str) -> str:
    """Return the text to send (trimmed) or raise InvalidInput naming the field."""
    if not conversation_id:
        raise InvalidInput("conversation_id is required")
    if not agent_id:
        raise InvalidInput("agent_id is required")
    if not client_reply_id or len(client_reply_id) > 128:
        raise InvalidInput("client_reply_id is required (at most 128 characters)")
    stripped = text.strip()
    if not stripped:
        raise InvalidInput("text must not be empty")
    if len(stripped) > MAX_REPLY_LENGTH:
        raise InvalidInput(f"text is longer than {MAX_REPLY_LENGTH} characters")
    return stripped


def validate_note(conversation_id: str, agent_id: str, text: str, client_note_id: str) -> str:
    if not conversation_id or not agent_id:
        raise InvalidInput("conversation_id and agent_id are required")
    if not client_note_id or len(client_note_id) > 128:
        raise InvalidInput("client_note_id is required (at most 128 characters)")
    stripped = text.strip()
    if not stripped:
        raise InvalidInput("text must not be empty")
    if len(stripped) > MAX_NOTE_LENGTH:
        raise InvalidInput(f"text is longer than {MAX_NOTE_LENGTH} characters")
    return stripped


def derived_id(*parts: str) -> str:
    """Deterministic, so a retried request maps to the same item."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, ":".join(parts)))


def reply_message_id(conversation_id: str, client_reply_id: str) -> str:
    return derived_id("reply", conversation_id, client_reply_id)


def new_id() -> str:
    return str(uuid.uuid4())


# --- customer satisfaction --------------------------------------------------------------------

MAX_SCORE = 5
MAX_COMMENT = 2000
SURVEY_CLIENT_ID = "satisfaction-survey"
# "4", "4/5", "5 - thanks!", "3. slow but fine": a score from 1 to 5 first, maybe a comment after it.
_RATING = re.compile(r"^\s*([1-5])(?:\s*/\s*5)?(?:(?:\s*[.,:;!)\-–]+\s*|\s+)(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class SurveyPolicy:
    # The channels the survey goes out on (a chat widget's buttons, a number by SMS, one-click links by email).
    channels: frozenset[str] = frozenset({"chat", "sms", "email"})
    # How long after the survey a bare number from the customer is taken as their answer.
    answer_window_us: int = 7 * DAY_US
    # Scores at or under this open a follow-up for a supervisor.
    low_score: int = 2


FOLLOW_UP_TAG = "follow-up"


def survey_due(conversation: Conversation, policy: SurveyPolicy) -> bool:
    """Ask for feedback on resolving? Once per conversation, on a channel that carries the survey."""
    return conversation.satisfaction is None and conversation.channel in policy.channels


def survey_text(channel: str) -> str:
    """The question, in words that fit the channel: the chat widget shows buttons under it; elsewhere the
    customer replies with the number (and an email adds one-click links when the channel can sign them)."""
    if channel == "chat":
        return "How did we do? Rate us from 1 (poor) to 5 (great)."
    return "How did we do? Reply with a number from 1 (poor) to 5 (great), and a comment if you like."


def parse_rating(text: str) -> tuple[int, str] | None:
    """A score (and the comment after it) from a customer's reply that starts with one; None when the text
    does not. Whether it answers the survey is `survey_answer_target`'s call (only while it waits for one)."""
    if len(text) > MAX_COMMENT:
        return None
    found = _RATING.match(text)
    if found is None:
        return None
    return int(found.group(1)), " ".join((found.group(2) or "").split())


def survey_answer_target(
    latest: Conversation | None, now_us: int, policy: SurveyPolicy, survey_message_id: str = ""
) -> Conversation | None:
    """The conversation a customer's answer belongs to: theirs, its survey sent (the one named, when the
    answer names one), not answered yet, and asked within the window. None: not an answer."""
    if latest is None or latest.satisfaction is None:
        return None
    asked = latest.satisfaction
    if asked.score or (survey_message_id and survey_message_id != asked.survey_message_id):
        return None
    # A bare number answers only while the conversation is still resolved (after a reopening, "2" means
    # something else) and within the window.
    waited_too_long = now_us - asked.asked_at_us > policy.answer_window_us
    if not survey_message_id and (latest.status != ConversationStatus.RESOLVED or waited_too_long):
        return None
    return latest


@dataclass(frozen=True)
class ScoreLine:
    key: str
    responses: int
    average: float
    satisfied_percent: float
    low: int


def score_line(key: str, scores: Sequence[int], low_score: int) -> ScoreLine:
    if not scores:
        return ScoreLine(key, 0, 0.0, 0.0, 0)
    satisfied = sum(1 for s in scores if s >= 4)
    return ScoreLine(
        key,
        len(scores),
        round(sum(scores) / len(scores), 2),
        round(100 * satisfied / len(scores), 1),
        sum(1 for s in scores if s <= low_score),
    )


def score_board(answers: Iterable[Satisfaction], low_score: int) -> tuple[ScoreLine, list[ScoreLine], list[ScoreLine]]:
    """Overall, per agent and per team (each most answers first), from the answers of a period."""
    everyone: list[int] = []
    agents: dict[str, list[int]] = {}
    teams: dict[str, list[int]] = {}
    for answer in answers:
        if not answer.score:
            continue
        everyone.append(answer.score)
        agents.setdefault(answer.agent_id or "(nobody)", []).append(answer.score)
        teams.setdefault(answer.team or "(no team)", []).append(answer.score)

    def lines(groups: dict[str, list[int]]) -> list[ScoreLine]:
        found = [score_line(k, v, low_score) for k, v in groups.items()]
        return sorted(found, key=lambda line: (-line.responses, line.key))

    return score_line("", everyone, low_score), lines(agents), lines(teams)
