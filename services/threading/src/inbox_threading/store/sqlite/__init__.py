"""SQLite implementation of ConversationStore: the embedded default.

Each `commit` is one immediate transaction (serialised across processes on the file), holding every
change of the batch, each under its own savepoint so a failed guard undoes only that change.
"""

from __future__ import annotations

from collections.abc import Sequence

from inbox_runtime.sqlite import SqliteStore

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
from inbox_threading.store.sqlite import queries, writes
from inbox_threading.store.sqlite.schema import INDEX_NEW_ITEMS, MIGRATIONS


class SqliteConversationStore(SqliteStore):
    MIGRATIONS = MIGRATIONS
    BEFORE_COMMIT = INDEX_NEW_ITEMS

    # --- writes -------------------------------------------------------------------------------

    async def commit(self, changes: Sequence[ThreadChange]) -> list[Committed]:
        return await self._db.write(lambda conn: writes.apply_changes(conn, changes))

    async def merge_customers(self, surviving: str, merged: str, active_conversation_id: str) -> None:
        await self._db.write(lambda conn: writes.merge_customers(conn, surviving, merged, active_conversation_id))

    async def move_to_customer(
        self, new_customer: CustomerRecord, contacts: Sequence[ContactPoint], conversation_ids: Sequence[str]
    ) -> None:
        await self._db.write(lambda conn: writes.move_to_customer(conn, new_customer, contacts, conversation_ids))

    async def set_opt_out(self, channel: str, contact: ContactPoint, opted_out: bool) -> None:
        await self._db.write(lambda conn: writes.set_opt_out(conn, channel, contact, opted_out))

    async def erase_customer(self, tombstone: Tombstone) -> ErasureReceipt:
        receipt = await self._db.write(lambda conn: writes.erase_customer(conn, tombstone))
        # The search index keeps a deleted row's words in its older segments until they are merged.
        await self._db.write(writes.merge_search_index)
        await self._db.scrub()
        return receipt

    # --- reads for decisions (lookups by key: no thread hop) ----------------------------------------

    async def customer(self, customer_id: str) -> CustomerRecord | None:
        return self._db.lookup(lambda conn: queries.customer(conn, customer_id))

    async def customer_by_contact(self, contact: ContactPoint) -> CustomerRecord | None:
        return self._db.lookup(lambda conn: queries.customer_by_contact(conn, contact))

    async def contacts_of(self, customer_id: str) -> tuple[ContactPoint, ...]:
        return self._db.lookup(lambda conn: queries.contacts_of(conn, customer_id))

    async def item(self, message_id: str) -> StoredMessage | None:
        return self._db.lookup(lambda conn: queries.item(conn, message_id))

    async def message_id_for(self, provider_key: str) -> str | None:
        return self._db.lookup(lambda conn: queries.message_id_for(conn, provider_key))

    async def item_route(self, message_id: str) -> ReplyRoute | None:
        return self._db.lookup(lambda conn: queries.item_route(conn, message_id))

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return self._db.lookup(lambda conn: queries.conversation(conn, conversation_id))

    async def conversation_state(self, conversation_id: str) -> Conversation | None:
        return self._db.lookup(lambda conn: queries.conversation_state(conn, conversation_id))

    async def latest_resolved(self, customer_id: str) -> Conversation | None:
        return self._db.lookup(lambda conn: queries.latest_resolved(conn, customer_id))

    async def outreach_sent(self, customer_id: str, since_us: int) -> list[SentOutreach]:
        return self._db.lookup(lambda conn: queries.outreach_sent(conn, customer_id, since_us))

    async def satisfaction_answers(self, since_us: int, until_us: int) -> list[Satisfaction]:
        return self._db.lookup(lambda conn: queries.satisfaction_answers(conn, since_us, until_us))

    async def conversation_for_refs(self, refs: Sequence[str]) -> Conversation | None:
        if not refs:
            return None
        return self._db.lookup(lambda conn: queries.conversation_for_refs(conn, refs))

    async def last_inbound(self, conversation_id: str, channel: str) -> ReplySource | None:
        return self._db.lookup(lambda conn: queries.last_inbound(conn, conversation_id, channel))

    async def latest_contact(self, customer_id: str, kind: int) -> str | None:
        return self._db.lookup(lambda conn: queries.latest_contact(conn, customer_id, kind))

    async def is_opted_out(self, channel: str, contact: ContactPoint) -> bool:
        return self._db.lookup(lambda conn: queries.is_opted_out(conn, channel, contact))

    async def due_snoozed(self, now_us: int, limit: int) -> list[Conversation]:
        return await self._db.read(lambda conn: queries.due_snoozed(conn, now_us, limit))

    async def inbound_writers(self, customer_id: str) -> dict[str, frozenset[ContactPoint]]:
        return await self._db.read(lambda conn: queries.inbound_writers(conn, customer_id))

    async def merge_suggestion(self, suggestion_id: str) -> MergeSuggestion | None:
        return self._db.lookup(lambda conn: queries.merge_suggestion(conn, suggestion_id))

    # --- queries ---------------------------------------------------------------------------------

    async def list_conversations(self, query: ConversationQuery) -> tuple[list[Conversation], str]:
        return await self._db.read(lambda conn: queries.list_conversations(conn, query))

    async def list_messages(self, conversation_id: str, limit: int, after_sequence: int) -> list[StoredMessage]:
        return await self._db.read(lambda conn: queries.list_messages(conn, conversation_id, limit, after_sequence))

    async def timeline(
        self, customer_id: str, limit: int, cursor: str, exclude_notes: bool
    ) -> tuple[list[StoredMessage], str]:
        return await self._db.read(lambda conn: queries.timeline(conn, customer_id, limit, cursor, exclude_notes))

    async def profile(self, customer_id: str) -> CustomerFacts | None:
        return await self._db.read(lambda conn: queries.profile(conn, customer_id))

    async def search(self, query: SearchQuery, viewer: Viewer, limit: int, offset: int) -> list[StoredMessage]:
        return await self._db.read(lambda conn: queries.search(conn, query, viewer, limit, offset))

    async def export(self, customer_id: str) -> tuple[list[Conversation], list[StoredMessage], list[dict[str, object]]]:
        return await self._db.read(lambda conn: queries.export(conn, customer_id))

    async def merge_suggestions(self, customer_id: str) -> list[MergeSuggestion]:
        return await self._db.read(lambda conn: queries.merge_suggestions(conn, customer_id))

    async def erasure(self, customer_id: str) -> dict[str, object] | None:
        return await self._db.read(lambda conn: queries.erasure(conn, customer_id))
