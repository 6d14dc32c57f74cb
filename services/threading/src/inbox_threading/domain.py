"""Threading rules, pure: which conversation an inbound message joins, what a valid reply is."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import IntEnum

from inbox_runtime.errors import InvalidInput, NotFound


# Values match inbox.conversations.v1.ConversationStatus.
class ConversationStatus(IntEnum):
    OPEN = 1
    PENDING = 2
    SNOOZED = 3
    RESOLVED = 4


class Direction(IntEnum):
    INBOUND = 1
    OUTBOUND = 2


MAX_REPLY_LENGTH = 10_000

__all__ = ["InvalidInput", "NotFound"]  # re-exported: the errors this domain raises


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
class Conversation:
    conversation_id: str
    customer_id: str
    status: ConversationStatus
    channel: int
    inbox_id: str
    assignee_agent_id: str
    opened_at_us: int
    last_activity_at_us: int
    message_count: int


@dataclass(frozen=True)
class StoredMessage:
    message_id: str
    conversation_id: str
    customer_id: str
    direction: Direction
    channel: int
    agent_id: str
    text: str
    sent_at_us: int
    received_at_us: int
    sequence: int
    kind: int = 1  # inbox.message.v1.MessageKind; text unless a call left it
    metadata: tuple[tuple[str, str], ...] = ()
    attachments: tuple[AttachmentRef, ...] = ()


@dataclass(frozen=True)
class NewInboundMessage:
    message_id: str
    channel: int
    inbox_id: str
    provider_message_id: str
    sender: ContactPoint
    sender_name: str
    text: str
    sent_at_us: int
    received_at_us: int
    kind: int = 1
    metadata: tuple[tuple[str, str], ...] = ()
    attachments: tuple[AttachmentRef, ...] = ()


@dataclass(frozen=True)
class NewProactiveMessage:
    """A message an agent or a system sent first, through ChannelService, already handed to its channel."""

    message_id: str
    channel: int
    inbox_id: str
    recipient: ContactPoint
    agent_id: str
    text: str
    sent_at_us: int


@dataclass(frozen=True)
class InboundOutcome:
    conversation: Conversation
    message: StoredMessage
    # This message opened the conversation (true again on a redelivery of that first message).
    opened: bool
    duplicate: bool


@dataclass(frozen=True)
class ReplyRoute:
    """Where an agent's reply goes: the channel and contact point of the customer's last message."""

    channel: int
    inbox_id: str
    recipient: ContactPoint
    # Our id of the customer message being answered (lets email thread the reply).
    in_reply_to_message_id: str


@dataclass(frozen=True)
class ThreadDecision:
    """Continue `conversation_id`, or open a new conversation when it is None."""

    conversation_id: str | None


def decide_thread(active: Conversation | None) -> ThreadDecision:
    """A customer's active (not resolved) conversation continues whatever the channel; else a new one opens."""
    if active is not None and active.status != ConversationStatus.RESOLVED:
        return ThreadDecision(active.conversation_id)
    return ThreadDecision(None)


def new_id() -> str:
    return str(uuid.uuid4())


def validate_inbound(message: NewInboundMessage) -> None:
    if not message.message_id:
        raise InvalidInput("inbound message has no message_id")
    if message.channel <= 0:
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


def reply_message_id(conversation_id: str, client_reply_id: str) -> str:
    """Deterministic, so a retried SendReply maps to the same message and the same delivery."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"reply:{conversation_id}:{client_reply_id}"))
