"""A customer writes Spanish by SMS; the agent reads English and answers in English; the customer
receives Spanish; the thread keeps both originals and both translations. Real processes, Apertium's APY
with Debian's English-Spanish data; Twilio's API replaced at the network boundary."""

from __future__ import annotations

import asyncio

import pytest
from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import conversation_service_pb2 as conv_pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as conv_grpc
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import routing_service_pb2 as routing_pb
from inbox.routing.v1 import routing_service_pb2_grpc as routing_grpc
from inbox_devstack.providers import TwilioApi
from inbox_devstack.suite import LocalSuite
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for, authenticated_channel

from .conftest import OUR_NUMBER, twilio_post

CUSTOMER = "+34600123456"
SPANISH = "Hola, mi pedido ORD-4411 no ha llegado todavía. ¿Pueden ayudarme?"
ENGLISH_REPLY = "Your order ORD-4411 has been sent today."


@pytest.fixture
def suite_env(twilio_env: dict[str, str]) -> dict[str, str]:
    return {**twilio_env, "TRANSLATION_PROVIDERS": "apertium"}


async def thread_items(stub: conv_grpc.ConversationServiceStub, conversation_id: str) -> list[conversation_pb2.Message]:
    listed = await stub.ListMessages(conv_pb.ListMessagesRequest(conversation_id=conversation_id))
    return [m for m in listed.messages if m.kind == message_pb2.MESSAGE_KIND_TEXT]


@pytest.mark.timeout(120)
async def test_spanish_customer_and_english_agent(local_suite: LocalSuite, api_key: str, twilio_api: TwilioApi) -> None:
    ports = local_suite.ports
    async with (
        authenticated_channel(f"127.0.0.1:{ports.routing_grpc}", api_key) as routing_channel,
        authenticated_channel(f"127.0.0.1:{ports.conversations_grpc}", api_key) as conv_channel,
    ):
        routing = routing_grpc.RoutingServiceStub(routing_channel)
        conversations = conv_grpc.ConversationServiceStub(conv_channel)
        await routing.UpsertAgent(routing_pb.UpsertAgentRequest(agent_id="ada", display_name="Ada", languages=["en"]))
        await routing.SetPresence(routing_pb.SetPresenceRequest(agent_id="ada", presence=routing_pb.PRESENCE_AVAILABLE))

        params = {"MessageSid": "SM" + "4" * 32, "From": CUSTOMER, "To": OUR_NUMBER, "Body": SPANISH}
        await twilio_post(local_suite, "/webhooks/sms", params)

        # The agent sees the original at once and the English translation beside it when ready.
        for _ in range(300):
            listed = await conversations.ListConversations(conv_pb.ListConversationsRequest(assignee_agent_id="ada"))
            if listed.conversations:
                items = await thread_items(conversations, listed.conversations[0].conversation_id)
                if items and items[0].translations.get("en"):
                    break
            await asyncio.sleep(0.1)
        conversation = listed.conversations[0]
        [customer_message] = items
        assert customer_message.text == SPANISH and customer_message.language == "es"
        english = customer_message.translations["en"]
        assert "ORD-4411" in english and "arrived" in english
        assert conversation.language == "es"

        with acting_for(Agent("ada")):
            reply = await conversations.SendReply(
                conv_pb.SendReplyRequest(
                    conversation_id=conversation.conversation_id, text=ENGLISH_REPLY, client_reply_id="r1"
                )
            )
        for _ in range(300):
            if twilio_api.messages:
                break
            await asyncio.sleep(0.1)
        [sent] = twilio_api.messages
        assert sent["To"] == CUSTOMER and "ORD-4411" in sent["Body"]
        # Apertium's Spanish: "Vuestro orden ORD-4411 ha sido enviado hoy."
        assert "enviado hoy" in sent["Body"] and "sent today" not in sent["Body"]

        for _ in range(100):
            items = await thread_items(conversations, conversation.conversation_id)
            if len(items) == 2 and items[1].translations.get("es"):
                break
            await asyncio.sleep(0.1)
        agent_message = items[1]
        assert agent_message.message_id == reply.message.message_id
        assert agent_message.text == ENGLISH_REPLY  # the agent's original stays in the thread
        assert agent_message.translations["es"] == sent["Body"]  # and what the customer received beside it
