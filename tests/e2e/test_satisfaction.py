"""Feedback after every resolution, over real processes: by SMS the customer replies with a number; by email
they follow a one-click link to the signed page on the channels service. Either way the answer lands in the
thread once, counts for the agent who had the conversation, and a low one opens a follow-up."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import pytest
from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import conversation_service_pb2 as conv_pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as conv_grpc
from inbox.message.v1 import message_pb2
from inbox_devstack.providers import SmtpRelay, TwilioApi
from inbox_devstack.suite import LocalSuite
from inbox_devstack.waiting import eventually
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for, authenticated_channel

from .conftest import OUR_NUMBER, PUBLIC_BASE, make_agent, twilio_post

CUSTOMER = "+14155550123"


@pytest.fixture
def relay() -> Iterator[SmtpRelay]:
    with SmtpRelay.running() as running:
        yield running


@pytest.fixture
def suite_env(twilio_env: dict[str, str], relay: SmtpRelay) -> dict[str, str]:
    return {**twilio_env, "CHANNELS_EMAIL_RELAY_HOST": "127.0.0.1", "CHANNELS_EMAIL_RELAY_PORT": str(relay.port)}


async def sms(suite: LocalSuite, sid: str, body: str) -> None:
    await twilio_post(suite, "/webhooks/sms", {"MessageSid": sid, "From": CUSTOMER, "To": OUR_NUMBER, "Body": body})


def send_mail(port: int, body: str) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Grace <grace@example.org>", "support@inbox.localhost", "Refund"
    mail["Message-ID"] = "<refund-1@mail.example.org>"
    mail.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(mail)


@pytest.mark.timeout(120)
async def test_answers_by_sms_and_by_the_email_page_are_kept_once_and_scored(
    local_suite: LocalSuite, api_key: str, twilio_api: TwilioApi, relay: SmtpRelay
) -> None:
    await make_agent(local_suite, api_key, "ada", web_login=False)
    async with authenticated_channel(f"127.0.0.1:{local_suite.ports.conversations_grpc}", api_key) as channel:
        conversations = conv_grpc.ConversationServiceStub(channel)

        async def assigned(channel_name: str) -> conversation_pb2.Conversation | None:
            listed = await conversations.ListConversations(
                conv_pb.ListConversationsRequest(assignee_agent_id="ada", channel_names=[channel_name])
            )
            return listed.conversations[0] if listed.conversations else None

        async def resolve(conversation_id: str) -> None:
            with acting_for(Agent("ada")):
                await conversations.SetStatus(
                    conv_pb.SetStatusRequest(
                        conversation_id=conversation_id, status=conversation_pb2.CONVERSATION_STATUS_RESOLVED
                    )
                )

        async def answered(conversation_id: str) -> conversation_pb2.Conversation | None:
            got = await conversations.GetConversation(conv_pb.GetConversationRequest(conversation_id=conversation_id))
            return got.conversation if got.conversation.satisfaction.score else None

        # By SMS: the question, then "2 ..." is the answer.
        await sms(local_suite, "SM" + "5" * 32, "My bill is wrong again")
        by_sms = await eventually(lambda: assigned("sms"), what="the SMS conversation with ada")
        await resolve(by_sms.conversation_id)
        asked = await eventually(lambda: twilio_api.messages, what="the survey by SMS")
        assert asked[-1]["To"] == CUSTOMER and "Reply with a number from 1 (poor) to 5 (great)" in asked[-1]["Body"]
        await sms(local_suite, "SM" + "6" * 32, "2 still not fixed")
        scored = await eventually(lambda: answered(by_sms.conversation_id), what="the SMS answer")
        assert scored.status == conversation_pb2.CONVERSATION_STATUS_RESOLVED  # nothing reopened
        assert (scored.satisfaction.score, scored.satisfaction.comment, scored.satisfaction.agent_id) == (
            2,
            "still not fixed",
            "ada",
        )
        assert "follow-up" in scored.tags
        listed = await conversations.ListMessages(conv_pb.ListMessagesRequest(conversation_id=by_sms.conversation_id))
        [feedback] = [m for m in listed.messages if m.kind == message_pb2.MESSAGE_KIND_FEEDBACK]
        assert (feedback.text, feedback.metadata["satisfaction_score"]) == ("still not fixed", "2")

        # By email: one-click links to a signed page; the link chooses, the page's form records.
        await asyncio.to_thread(send_mail, local_suite.ports.smtp, "Please refund order 4411.")
        by_mail = await eventually(lambda: assigned("email"), what="the email conversation with ada")
        await resolve(by_mail.conversation_id)
        await eventually(lambda: relay.received, what="the survey mail")
        mail = email.message_from_bytes(relay.received[-1].original_content or b"", policy=email.policy.default)
        body = mail.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert "Reply with a number from 1 (poor) to 5 (great)" in text
        links = re.findall(r"(\d)(?: \(\w+\))?: (https://\S+)", text)
        assert [score for score, _ in links] == ["1", "2", "3", "4", "5"], text
        # The public address (CHANNELS_PUBLIC_BASE_URL) fronts the channels service, reached here directly.
        five = links[4][1].replace(PUBLIC_BASE, f"http://127.0.0.1:{local_suite.ports.channels_http}")
        async with httpx.AsyncClient() as http:
            opened = await http.get(five)
            assert opened.status_code == 200 and 'value="5" checked' in opened.text
            assert opened.headers["content-security-policy"].startswith("default-src 'none'")
            # Opening the link records nothing (mail scanners open every link); sending the form does.
            assert (await answered(by_mail.conversation_id)) is None
            action = five.split("?")[0]
            forged = await http.post(action[:-3] + "xyz", data={"score": "1"})
            assert forged.status_code == 404
            bad = await http.post(action, data={"score": "9"})
            assert bad.status_code == 400
            sent = await http.post(action, data={"score": "5", "comment": "Quick refund, thank you"})
            assert sent.status_code == 200 and "Thank you" in sent.text
            again = await http.post(action, data={"score": "1", "comment": "changed my mind"})
            assert again.status_code == 200  # taken, and dropped: one answer per survey
        mailed = await eventually(lambda: answered(by_mail.conversation_id), what="the email answer")
        assert (mailed.satisfaction.score, mailed.satisfaction.comment) == (5, "Quick refund, thank you")
        assert "follow-up" not in mailed.tags

        # Scores for the period: ada, one low and one great.
        scores = await conversations.GetSatisfactionScores(conv_pb.GetSatisfactionScoresRequest())
        assert (scores.overall.responses, scores.overall.average, scores.overall.satisfied_percent) == (2, 3.5, 50.0)
        assert [(a.key, a.responses, a.low) for a in scores.agents] == [("ada", 2, 1)]
        with acting_for(Agent("ada")), pytest.raises(Exception, match="for supervisors"):
            await conversations.GetSatisfactionScores(conv_pb.GetSatisfactionScoresRequest())
        listed = await conversations.ListMessages(conv_pb.ListMessagesRequest(conversation_id=by_mail.conversation_id))
        assert len([m for m in listed.messages if m.kind == message_pb2.MESSAGE_KIND_FEEDBACK]) == 1
