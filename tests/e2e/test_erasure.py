"""Erasure over the real suite: once every service has handled `conv.customer_erased`, none of the
customer's words is left in any service's SQLite files (the database, its write-ahead log, free pages,
the search index). The JetStream streams are not covered yet (see the README's security section)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

from inbox.conversations.v1 import conversation_service_pb2 as conv
from inbox.conversations.v1 import conversation_service_pb2_grpc as conv_grpc
from inbox_devstack.suite import LocalSuite
from inbox_devstack.waiting import eventually
from inbox_events import EventBus
from inbox_runtime.grpc_client import authenticated_channel

from .test_live_notices import customer_chat

MARKER = b"quokkamarmalade"
ERASURE_CONSUMERS = ("routing-on-customer-erased", "translation-on-customer-erased", "channels-chat-on-customer-erased")


def files_holding(folder: Path, marker: bytes) -> list[str]:
    """Every SQLite file (database, -wal, -shm) under `folder` whose bytes hold `marker`, in any case."""
    found = []
    for path in folder.rglob("*.sqlite3*"):
        if marker in path.read_bytes().lower():
            found.append(str(path.relative_to(folder)))
    return sorted(found)


async def test_an_erased_customer_leaves_no_words_in_any_store(local_suite: LocalSuite, api_key: str) -> None:
    data = local_suite.base_dir / "data"
    async with asynccontextmanager(customer_chat)(local_suite) as grace_says:
        await grace_says(f"My {MARKER.decode().title()} order never came")
    async with authenticated_channel(f"127.0.0.1:{local_suite.ports.conversations_grpc}", api_key) as channel:
        conversations = conv_grpc.ConversationServiceStub(channel)

        async def stored() -> conv.SearchMessagesResponse | None:
            found = await conversations.SearchMessages(conv.SearchMessagesRequest(query=MARKER.decode()))
            return found if found.messages else None

        customer_id = (await eventually(stored)).messages[0].customer_id
        # Before: the words are in threading's store, at least.
        assert await asyncio.to_thread(files_holding, data, MARKER)
        await conversations.EraseCustomer(conv.EraseCustomerRequest(customer_id=customer_id, reason="asked to"))

    async with EventBus.connect(local_suite.nats_url, service="test") as bus:

        async def every_service_erased() -> bool:
            for durable in ERASURE_CONSUMERS:
                info = await bus._js.consumer_info("CONVERSATIONS", durable)
                if info.num_pending or info.num_ack_pending:
                    return False
            return True

        await eventually(every_service_erased, what="every service handled the erasure")
    assert await asyncio.to_thread(files_holding, data, MARKER) == []
