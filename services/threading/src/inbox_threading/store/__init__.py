"""The threading service's repository: data access only, in domain terms. The actions decide.

Two implementations keep the same contract (`tests/test_store_contract.py` runs against both): SQLite,
the embedded default, and MongoDB, the production store (selected by `MONGODB_URI`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from inbox_threading.changes import (
    Committed,
    ConversationQuery,
    CustomerRecord,
    ReplySource,
    SearchQuery,
    ThreadChange,
    Tombstone,
)
from inbox_threading.domain import (
    ContactPoint,
    Conversation,
    CustomerFacts,
    ErasureReceipt,
    MergeSuggestion,
    ReplyRoute,
    Satisfaction,
    StoredMessage,
    Viewer,
)
from inbox_threading.outreach import SentOutreach


class ConversationStore(Protocol):
    # --- writes -------------------------------------------------------------------------------

    async def commit(self, changes: Sequence[ThreadChange]) -> list[Committed]:
        """Write each change whole or not at all. A change whose guard fails (the customer moved on
        since it was read) writes nothing and comes back `applied=False`; the others are unaffected.
        Items, conversations, refs, suggestions and audit lines already stored are left as they are, so
        writing a change twice is writing it once."""
        ...

    async def merge_customers(self, surviving: str, merged: str, active_conversation_id: str) -> None:
        """Everything of `merged` becomes `surviving`'s; `merged` is deleted. The survivor's active
        conversation becomes `active_conversation_id`. Safe to repeat after an interruption."""
        ...

    async def move_to_customer(
        self, new_customer: CustomerRecord, contacts: Sequence[ContactPoint], conversation_ids: Sequence[str]
    ) -> None:
        """Create `new_customer` and give it these contact points and conversations (with their items)."""
        ...

    async def set_opt_out(self, channel: str, contact: ContactPoint, opted_out: bool) -> None: ...

    async def erase_customer(self, tombstone: Tombstone) -> ErasureReceipt:
        """Delete everything held about the customer; keep the tombstone (who, when, why, how much)."""
        ...

    # --- reads for decisions ---------------------------------------------------------------------

    async def customer(self, customer_id: str) -> CustomerRecord | None: ...

    async def customer_by_contact(self, contact: ContactPoint) -> CustomerRecord | None:
        """The owner of a contact point (version 0 when the owner's record is not written yet)."""
        ...

    async def contacts_of(self, customer_id: str) -> tuple[ContactPoint, ...]:
        """Oldest first."""
        ...

    async def item(self, message_id: str) -> StoredMessage | None: ...

    async def message_id_for(self, provider_key: str) -> str | None:
        """The item stored under a provider's message id ("<channel>:<id>")."""
        ...

    async def item_route(self, message_id: str) -> ReplyRoute | None:
        """Where a stored reply went."""
        ...

    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    async def conversation_state(self, conversation_id: str) -> Conversation | None:
        """The conversation as a change is planned on it: every field but `customer_label`, left "" (only lists
        and views show it, and it costs a read of the customer and their first contact point)."""
        ...

    async def latest_resolved(self, customer_id: str) -> Conversation | None: ...

    async def outreach_sent(self, customer_id: str, since_us: int) -> list[SentOutreach]:
        """The proactive messages and nudges the customer got since then (outbound items marked `outreach`)."""
        ...

    async def satisfaction_answers(self, since_us: int, until_us: int) -> list[Satisfaction]:
        """The survey answers given in [since_us, until_us), for the scores per agent and team."""
        ...

    async def conversation_for_refs(self, refs: Sequence[str]) -> Conversation | None:
        """The conversation of the first of `refs` that is known."""
        ...

    async def last_inbound(self, conversation_id: str, channel: str) -> ReplySource | None:
        """The customer's latest message in the conversation (on `channel` unless 0)."""
        ...

    async def latest_contact(self, customer_id: str, kind: int) -> str | None: ...

    async def is_opted_out(self, channel: str, contact: ContactPoint) -> bool: ...

    async def due_snoozed(self, now_us: int, limit: int) -> list[Conversation]: ...

    async def inbound_writers(self, customer_id: str) -> dict[str, frozenset[ContactPoint]]:
        """Per conversation of the customer, the contact points the customer wrote from."""
        ...

    async def merge_suggestion(self, suggestion_id: str) -> MergeSuggestion | None: ...

    # --- queries ---------------------------------------------------------------------------------

    async def list_conversations(self, query: ConversationQuery) -> tuple[list[Conversation], str]: ...

    async def list_messages(self, conversation_id: str, limit: int, after_sequence: int) -> list[StoredMessage]: ...

    async def timeline(
        self, customer_id: str, limit: int, cursor: str, exclude_notes: bool
    ) -> tuple[list[StoredMessage], str]:
        """Every item of a customer, oldest first: provider time, then arrival, then position."""
        ...

    async def profile(self, customer_id: str) -> CustomerFacts | None: ...

    async def search(self, query: SearchQuery, viewer: Viewer, limit: int, offset: int) -> list[StoredMessage]:
        """Messages and notes matching every term, newest first, in conversations the viewer sees."""
        ...

    async def export(
        self, customer_id: str
    ) -> tuple[list[Conversation], list[StoredMessage], list[dict[str, object]]]: ...

    async def merge_suggestions(self, customer_id: str) -> list[MergeSuggestion]:
        """A customer's suggestions (either side), or every pending one when `customer_id` is empty."""
        ...

    async def erasure(self, customer_id: str) -> dict[str, object] | None: ...

    async def wait_ready(self) -> None:
        """Return once the store answers; retry meanwhile, saying so in the log."""
        ...

    async def close(self) -> None: ...
