"""One customer writes by SMS, then by email, then chats, then leaves a voicemail: every item reaches the
pipeline and is stored with its channel's metadata. Real processes; Twilio's API replaced at the network
boundary by a local server speaking it."""

from __future__ import annotations

import asyncio
import json
import smtplib
from email.message import EmailMessage

import pytest
import websockets
from inbox.channels.v1 import channel_service_pb2, channel_service_pb2_grpc
from inbox.conversations.v1 import conversation_pb2, conversation_service_pb2, conversation_service_pb2_grpc
from inbox.message.v1 import message_pb2
from inbox_devstack.suite import LocalSuite
from inbox_runtime.grpc_client import authenticated_channel

from .conftest import OUR_NUMBER, twilio_post

# Every service on SQLite files, then every service on MongoDB (FerretDB in the tests).
pytestmark = pytest.mark.parametrize("suite_store", ["sqlite", "mongo"], indirect=True)

CUSTOMER_PHONE = "+14155550199"
CUSTOMER_EMAIL = "grace@example.org"


@pytest.fixture
def suite_env(twilio_env: dict[str, str]) -> dict[str, str]:
    return {**twilio_env, "CHANNELS_EMAIL_INBOXES": "support@inbox.example.com=support"}


def send_mail(port: int) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = f"Grace <{CUSTOMER_EMAIL}>", "support@inbox.example.com", "Order 4411"
    mail["Message-ID"] = "<order-4411@mail.example.org>"
    mail.set_content("Following up on my text: the parcel is still missing.")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(mail)


async def chat(suite: LocalSuite) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{suite.ports.channels_http}/chat/ws") as ws:
        await ws.send(json.dumps({"type": "hello", "name": "Grace"}))
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "client_message_id": "c1", "text": "Anyone on chat?"}))
        assert json.loads(await ws.recv())["type"] == "accepted"


async def all_messages(suite: LocalSuite, token: str, expected: int) -> list[conversation_pb2.Message]:
    async with authenticated_channel(f"127.0.0.1:{suite.ports.conversations_grpc}", token) as channel:
        stub = conversation_service_pb2_grpc.ConversationServiceStub(channel)
        for _ in range(150):
            found: list[conversation_pb2.Message] = []
            listed = await stub.ListConversations(conversation_service_pb2.ListConversationsRequest())
            for conversation in listed.conversations:
                messages = await stub.ListMessages(
                    conversation_service_pb2.ListMessagesRequest(conversation_id=conversation.conversation_id)
                )
                # The customer's items only (waiting customers are also told their place in the queue).
                found.extend(m for m in messages.messages if m.direction == message_pb2.DIRECTION_INBOUND)
            if len(found) >= expected:
                return sorted(found, key=lambda m: (m.received_at.seconds, m.received_at.nanos))
            await asyncio.sleep(0.1)
    raise AssertionError(f"only {len(found)} of {expected} items were stored")


async def test_sms_email_chat_and_voicemail_all_reach_the_pipeline(local_suite: LocalSuite, api_key: str) -> None:
    await twilio_post(
        local_suite,
        "/webhooks/sms",
        {"MessageSid": "SM" + "9" * 32, "From": CUSTOMER_PHONE, "To": OUR_NUMBER, "Body": "My parcel is missing"},
    )
    await asyncio.to_thread(send_mail, local_suite.ports.smtp)
    await chat(local_suite)
    call = {"CallSid": "CA" + "9" * 32, "From": CUSTOMER_PHONE, "To": OUR_NUMBER}
    await twilio_post(
        local_suite,
        "/webhooks/voice/transcription",
        {
            **call,
            "RecordingSid": "RE9",
            "RecordingUrl": "https://api.twilio.com/recordings/RE9",
            "TranscriptionStatus": "completed",
            "TranscriptionText": "Please call me back about my parcel.",
        },
    )

    sms, email, chat_message, voicemail = await all_messages(local_suite, api_key, expected=4)
    assert (sms.channel, sms.text, sms.metadata["to"]) == (message_pb2.CHANNEL_SMS, "My parcel is missing", OUR_NUMBER)
    assert email.channel == message_pb2.CHANNEL_EMAIL
    assert email.metadata["subject"] == "Order 4411"
    assert email.metadata["email_message_id"] == "order-4411@mail.example.org"
    assert (chat_message.channel, chat_message.text) == (message_pb2.CHANNEL_CHAT, "Anyone on chat?")
    assert voicemail.channel == message_pb2.CHANNEL_VOICE and voicemail.kind == message_pb2.MESSAGE_KIND_VOICEMAIL
    assert voicemail.text == "Please call me back about my parcel."
    assert [a.url for a in voicemail.attachments] == ["https://api.twilio.com/recordings/RE9.mp3"]
    # The same phone number is the same customer on SMS and on the phone, in one conversation.
    assert sms.customer_id == voicemail.customer_id and sms.conversation_id == voicemail.conversation_id
    async with authenticated_channel(f"127.0.0.1:{local_suite.ports.conversations_grpc}", api_key) as channel:
        stub = conversation_service_pb2_grpc.ConversationServiceStub(channel)
        got = await stub.GetConversation(
            conversation_service_pb2.GetConversationRequest(conversation_id=email.conversation_id)
        )
    # What the deployment runs, and where an agent's text reply can go (inbox-web's reply picker offers those).
    async with authenticated_channel(f"127.0.0.1:{local_suite.ports.channels_grpc}", api_key) as channel:
        listed = await channel_service_pb2_grpc.ChannelServiceStub(channel).ListChannels(
            channel_service_pb2.ListChannelsRequest()
        )
    replies = {message_pb2.Channel.Name(c.channel): c.capabilities.text_replies for c in listed.channels}
    assert replies == {"CHANNEL_CHAT": True, "CHANNEL_EMAIL": True, "CHANNEL_SMS": True, "CHANNEL_VOICE": False}
    # The mail (from an address nobody has linked to the phone yet) opened a conversation named by its subject.
    assert (got.conversation.subject, got.conversation.unanswered_count) == ("Order 4411", 1)
