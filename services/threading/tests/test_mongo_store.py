"""MongoDB only: what a store without transactions must handle that SQLite never sees."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from inbox_runtime.errors import InvalidInput
from inbox_runtime.mongo import MongoTarget
from inbox_threading.changes import CustomerGuard, NewConversation, NewItem, ThreadChange
from inbox_threading.domain import ContactPoint, Direction
from inbox_threading.store.mongo import MongoConversationStore
from inbox_threading.store.mongo.indexes import CUSTOMERS

PHONE = ContactPoint(2, "+14155550100")


@pytest.fixture
async def store(mongo: MongoTarget) -> AsyncIterator[MongoConversationStore]:
    opened = await MongoConversationStore.open(mongo)
    yield opened
    await opened.close()


async def test_a_document_the_server_refuses_is_the_callers_input_not_an_outage(store: MongoConversationStore) -> None:
    await store.commit(
        [
            ThreadChange(
                guard=CustomerGuard("c1", 0, "conv-1", created_at_us=1, contact=PHONE),
                conversations=(NewConversation("conv-1", "c1", "sms", "main", 1),),
            )
        ]
    )
    huge = NewItem("m1", "conv-1", "c1", Direction.INBOUND, "sms", "main", "", PHONE, "x" * 17_000_000, 1, 1, 1)
    with pytest.raises(InvalidInput, match="the store refused the document"):
        await store.commit([ThreadChange(items=(huge,))])


async def test_a_customer_whose_record_was_not_written_yet_is_found_by_their_contact(
    store: MongoConversationStore,
) -> None:
    """The contact point is written first; a process dying before the customer leaves this."""
    await store.commit([ThreadChange(guard=CustomerGuard("c1", 0, "conv-1", created_at_us=7, contact=PHONE))])
    await store._db[CUSTOMERS].delete_one({"_id": "c1"})  # as if the second write never happened
    found = await store.customer_by_contact(PHONE)
    assert found is not None and (found.customer_id, found.version, found.active_conversation_id) == ("c1", 1, "conv-1")
    [finished] = await store.commit([ThreadChange(guard=CustomerGuard("c1", 1, None, created_at_us=7))])
    assert finished.applied and await store.customer("c1") is not None
