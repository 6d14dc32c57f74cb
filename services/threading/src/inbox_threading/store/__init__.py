"""The threading service's repository: one Protocol, one implementation per store."""

from __future__ import annotations

from typing import Protocol

from inbox_threading.domain import (
    ContactPoint,
    Conversation,
    ConversationStatus,
    CustomerFacts,
    ErasureReceipt,
    InboundOutcome,
    MergeReceipt,
    MergeSuggestion,
    NewInboundMessage,
    NewProactiveMessage,
    ReplyRoute,
    StoredMessage,
    ThreadPolicy,
    Viewer,
)


class ConversationStore(Protocol):
    async def record_inbound(self, message: NewInboundMessage, now_us: int, policy: ThreadPolicy) -> InboundOutcome:
        """Resolve the customer, pick, reopen or open the conversation, store the item: one atomic write.

        An item already stored (same message_id, or same channel + provider id) changes nothing and
        comes back with `duplicate=True`.
        """
        ...

    async def record_proactive(self, message: NewProactiveMessage, now_us: int) -> InboundOutcome:
        """Put a proactive message in the recipient's active conversation, or open one assigned to its sender."""
        ...

    async def record_reply(
        self,
        conversation_id: str,
        agent_id: str,
        text: str,
        message_id: str,
        client_reply_id: str,
        now_us: int,
        channel: int = 0,
    ) -> tuple[StoredMessage, ReplyRoute, bool]:
        """Store an agent's reply; returns it, where it goes, and whether it was already stored.
        Refuses (FailedPrecondition) a channel the customer opted out of or has no contact on."""
        ...

    async def add_note(
        self, conversation_id: str, agent_id: str, text: str, note_id: str, now_us: int
    ) -> tuple[StoredMessage, bool]: ...

    async def set_status(
        self,
        conversation_id: str,
        status: ConversationStatus,
        snoozed_until_us: int,
        actor: str,
        activity_text: str,
        now_us: int,
    ) -> tuple[Conversation, ConversationStatus, StoredMessage | None]: ...

    async def update_tags(
        self, conversation_id: str, add: tuple[str, ...], remove: tuple[str, ...], actor: str, now_us: int
    ) -> tuple[Conversation, StoredMessage | None]: ...

    async def add_participant(
        self, conversation_id: str, participant: str, actor: str, now_us: int
    ) -> tuple[Conversation, StoredMessage | None]: ...

    async def set_assignee(
        self, conversation_id: str, agent_id: str, activity_id: str, now_us: int
    ) -> StoredMessage | None: ...

    async def set_opt_out(self, channel: int, contact: ContactPoint, opted_out: bool) -> None: ...

    async def record_language(self, message_id: str, language: str, fallback: bool) -> StoredMessage | None: ...

    async def record_translation(self, message_id: str, language: str, text: str) -> StoredMessage | None: ...

    async def mark_translation_pending(self, message_id: str) -> StoredMessage | None: ...

    async def wake_snoozed(self, now_us: int) -> list[tuple[Conversation, StoredMessage]]: ...

    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    async def list_conversations(
        self,
        *,
        assignee_agent_id: str = "",
        statuses: tuple[ConversationStatus, ...] = (),
        team: str = "",
        channels: tuple[int, ...] = (),
        language: str = "",
        tag: str = "",
        customer_id: str = "",
        limit: int = 50,
        cursor: str = "",
    ) -> tuple[list[Conversation], str]: ...

    async def list_messages(self, conversation_id: str, limit: int, after_sequence: int) -> list[StoredMessage]: ...

    async def timeline(
        self, customer_id: str, limit: int, cursor: str, exclude_notes: bool
    ) -> tuple[list[StoredMessage], str]: ...

    async def profile(self, customer_id: str) -> CustomerFacts | None: ...

    async def update_attributes(
        self, customer_id: str, changes: dict[str, str], actor: str, now_us: int
    ) -> tuple[tuple[str, str], ...]: ...

    async def search(self, query: str, viewer: Viewer, limit: int, offset: int) -> list[StoredMessage]: ...

    async def export(
        self, customer_id: str
    ) -> tuple[list[Conversation], list[StoredMessage], list[dict[str, object]]]: ...

    async def record_audit(
        self, actor: str, action: str, customer_id: str, details: dict[str, object], now_us: int
    ) -> None: ...

    async def erase_customer(self, customer_id: str, actor: str, reason: str, now_us: int) -> ErasureReceipt: ...

    async def erasure(self, customer_id: str) -> dict[str, object] | None: ...

    async def merge_customers(self, a: str, b: str, actor: str, reason: str, now_us: int) -> MergeReceipt:
        """Two records of one person become one (the older keeps all); audited."""
        ...

    async def split_customer(
        self, customer_id: str, contacts: tuple[ContactPoint, ...], actor: str, reason: str, now_us: int
    ) -> tuple[str, list[str]]: ...

    async def merge_suggestions(self, customer_id: str) -> list[MergeSuggestion]: ...

    async def decide_suggestion(
        self, suggestion_id: str, accept: bool, actor: str, now_us: int
    ) -> tuple[MergeSuggestion, MergeReceipt | None]: ...

    async def close(self) -> None: ...
