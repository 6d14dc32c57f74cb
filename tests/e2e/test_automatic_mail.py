"""An out-of-office reply over the real suite: kept, flagged, on the customer's conversation, which stays as
it was (status, assignment, the customer's waiting time); one from a stranger is kept nowhere and opens
nothing. Real SMTP into the email adapter, real processes behind it."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import conversation_service_pb2 as conv
from inbox.conversations.v1 import conversation_service_pb2_grpc as conv_grpc
from inbox.message.v1 import message_pb2
from inbox_devstack.suite import LocalSuite
from inbox_devstack.waiting import eventually
from inbox_events import EventBus
from inbox_runtime.grpc_client import authenticated_channel

from .conftest import make_agent


def send(port: int, sender: str, subject: str, text: str, *, automatic: bool = False) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, "support@inbox.localhost", subject
    if automatic:
        mail["Auto-Submitted"] = "auto-replied"
    mail.set_content(text)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(mail)


async def test_an_out_of_office_reply_is_kept_on_the_conversation_and_changes_nothing(
    local_suite: LocalSuite, api_key: str
) -> None:
    await make_agent(local_suite, api_key, "ada", web_login=False)
    port = local_suite.ports.smtp
    await asyncio.to_thread(send, port, "Grace <grace@example.org>", "Order 4411", "Where is my parcel?")
    async with authenticated_channel(f"127.0.0.1:{local_suite.ports.conversations_grpc}", api_key) as channel:
        stub = conv_grpc.ConversationServiceStub(channel)

        async def assigned() -> conversation_pb2.Conversation | None:
            listed = await stub.ListConversations(conv.ListConversationsRequest())
            found = [c for c in listed.conversations if c.assignee_agent_id == "ada"]
            return found[0] if found else None

        before = await eventually(assigned, what="Grace's conversation is Ada's")
        await asyncio.to_thread(
            send, port, "grace@example.org", "Out of office", "I am away until Monday.", automatic=True
        )
        await asyncio.to_thread(send, port, "stranger@example.net", "Auto: away", "Away.", automatic=True)

        async def kept() -> list[conversation_pb2.Message]:
            listed = await stub.ListMessages(conv.ListMessagesRequest(conversation_id=before.conversation_id))
            return [m for m in listed.messages if m.kind == message_pb2.MESSAGE_KIND_AUTOMATIC]

        [automatic] = await eventually(kept, what="the out-of-office reply is on Grace's conversation")
        assert automatic.text == "I am away until Monday." and automatic.direction == message_pb2.DIRECTION_INBOUND
        after = (
            await stub.GetConversation(conv.GetConversationRequest(conversation_id=before.conversation_id))
        ).conversation
        assert (after.status, after.assignee_agent_id) == (before.status, "ada")
        assert after.last_message_preview == before.last_message_preview
        assert after.waiting_since == before.waiting_since
        # Once threading has handled every inbound item, the stranger's opened nothing.
        async with EventBus.connect(local_suite.nats_url, service="test") as bus:

            async def inbound_settled() -> bool:
                info = await bus._js.consumer_info("INBOUND", "threading-on-inbound")
                return not (info.num_pending or info.num_ack_pending)

            await eventually(inbound_settled, what="threading handled every inbound item")
        listed = await stub.ListConversations(conv.ListConversationsRequest())
        assert [c.conversation_id for c in listed.conversations] == [before.conversation_id]
