"""Erasure over the real suite: a customer who wrote on chat (in Spanish, translated for an English agent)
and by email (with an attachment), merged into one record, is erased; once every service has handled the
erasure, no file the suite wrote holds their words or their address: no service's store (database,
write-ahead log, free pages, search index), no adapter's files, no translation cache, no JetStream
stream, no log."""

from __future__ import annotations

import asyncio
import smtplib
from contextlib import asynccontextmanager
from email.message import EmailMessage

import pytest
from inbox.conversations.v1 import conversation_service_pb2 as conv
from inbox.conversations.v1 import conversation_service_pb2_grpc as conv_grpc
from inbox_devstack.suite import LocalSuite
from inbox_devstack.traces import files_holding
from inbox_devstack.waiting import eventually
from inbox_events import EventBus
from inbox_runtime.grpc_client import authenticated_channel

from .conftest import make_agent
from .test_live_notices import customer_chat

MARKER = b"quokkamarmalade"
ADDRESS = b"grace.quokka@example.org"
# Every consumer of the erasure notice, and of the merge before it.
ERASURE_CONSUMERS = (
    "routing-on-customer-erased",
    "translation-on-customer-erased",
    "channels-chat-on-customer-erased",
    "channels-email-on-customer-erased",
    "threading-on-customer-erased",
    "routing-on-customers-merged",
    "translation-on-customers-merged",
)


@pytest.fixture
def suite_env() -> dict[str, str]:
    return {"TRANSLATION_PROVIDERS": "apertium"}


def send_mail(port: int) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"] = f"Grace <{ADDRESS.decode()}>", "support@inbox.localhost"
    mail["Subject"], mail["Message-ID"] = "Still waiting", "<still-waiting@example.org>"
    mail.set_content("Following up on my chat about the parcel.")
    mail.add_attachment(b"receipt for order " + MARKER, maintype="application", subtype="pdf", filename="r.pdf")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(mail)


@pytest.mark.timeout(180)
async def test_an_erased_customer_leaves_no_trace_in_any_file_the_suite_wrote(
    local_suite: LocalSuite, api_key: str
) -> None:
    ports = local_suite.ports
    await make_agent(local_suite, api_key, "ada", web_login=False, languages=("en",))
    async with authenticated_channel(f"127.0.0.1:{ports.conversations_grpc}", api_key) as conv_channel:
        conversations = conv_grpc.ConversationServiceStub(conv_channel)
        async with asynccontextmanager(customer_chat)(local_suite) as grace_says:
            await grace_says(f"Hola, mi pedido {MARKER.decode().title()} no ha llegado todavía.")
        await asyncio.to_thread(send_mail, ports.smtp)

        async def both_stored() -> list[conv.SearchMessagesResponse] | None:
            chat = await conversations.SearchMessages(conv.SearchMessagesRequest(query=MARKER.decode()))
            mail = await conversations.SearchMessages(conv.SearchMessagesRequest(query="parcel"))
            return [chat, mail] if chat.messages and mail.messages else None

        chat, mail = await eventually(both_stored, what="the chat message and the mail are stored")
        chat_customer, mail_customer = chat.messages[0].customer_id, mail.messages[0].customer_id

        async def translated() -> bool:
            listed = await conversations.ListMessages(
                conv.ListMessagesRequest(conversation_id=chat.messages[0].conversation_id)
            )
            return any(m.translations.get("en") for m in listed.messages)

        await eventually(translated, what="the chat message is translated for Ada")
        merged = await conversations.MergeCustomers(
            conv.MergeCustomersRequest(customer_id=chat_customer, other_customer_id=mail_customer, reason="same person")
        )
        # Before: the words and the address are in stores, files and streams.
        before = await asyncio.to_thread(files_holding, local_suite.base_dir, MARKER, ADDRESS)
        assert any(f.startswith("nats/") for f in before) and any("email-attachments" in f for f in before)
        await conversations.EraseCustomer(
            conv.EraseCustomerRequest(customer_id=merged.surviving_customer_id, reason="asked to")
        )

    async with EventBus.connect(local_suite.nats_url, service="test") as bus:

        async def every_service_erased() -> bool:
            for durable in ERASURE_CONSUMERS:
                info = await bus._js.consumer_info("CONVERSATIONS", durable)
                if info.num_pending or info.num_ack_pending:
                    return False
            return True

        await eventually(every_service_erased, timeout=60, what="every service handled the erasure")
    assert await asyncio.to_thread(files_holding, local_suite.base_dir, MARKER, ADDRESS) == []
