"""The threading service's repository: one Protocol, one implementation per store."""

from __future__ import annotations

from typing import Protocol

from inbox_threading.domain import (
    Conversation,
    ConversationStatus,
    InboundOutcome,
    NewInboundMessage,
    NewProactiveMessage,
    ReplyRoute,
    StoredMessage,
)


class ConversationStore(Protocol):
    async def record_inbound(self, message: NewInboundMessage, now_us: int) -> InboundOutcome:
        """Resolve the customer, pick or open the conversation, store the message: one atomic write.

        A message already stored (same message_id, or same channel + provider id) changes nothing and
        comes back with `duplicate=True`.
        """
        ...

    async def record_proactive(self, message: NewProactiveMessage, now_us: int) -> InboundOutcome:
        """Put a proactive message in the recipient's active conversation, or open one assigned to its sender."""
        ...

    async def record_reply(
        self, conversation_id: str, agent_id: str, text: str, message_id: str, client_reply_id: str, now_us: int
    ) -> tuple[StoredMessage, ReplyRoute, bool]:
        """Store an agent's reply; returns it, where it goes, and whether it was already stored."""
        ...

    async def set_assignee(self, conversation_id: str, agent_id: str) -> bool:
        """Record the assignee; False when the conversation does not exist."""
        ...

    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    async def list_conversations(
        self,
        assignee_agent_id: str,
        statuses: tuple[ConversationStatus, ...],
        limit: int,
        cursor: str,
    ) -> tuple[list[Conversation], str]: ...

    async def list_messages(self, conversation_id: str, limit: int, after_sequence: int) -> list[StoredMessage]: ...

    async def close(self) -> None: ...
