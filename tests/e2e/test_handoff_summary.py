"""Summaries on every handoff, over real processes: a transfer to a team's queue and a reopening each leave a
summary note for the next agent, and `SummarizeConversation` gives the same on demand, every point linked to
the messages it quotes."""

from __future__ import annotations

import grpc
import pytest
from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import conversation_service_pb2 as conv_pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as conv_grpc
from inbox.routing.v1 import routing_service_pb2 as routing_pb
from inbox.routing.v1 import routing_service_pb2_grpc as routing_grpc
from inbox_devstack.suite import LocalSuite
from inbox_devstack.waiting import eventually
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for, authenticated_channel

from .conftest import OUR_NUMBER, make_agent, twilio_post

CUSTOMER = "+14155550199"
PROBLEM = "My router keeps dropping the connection every evening. I already restarted it twice."
ANSWER = "I have reset your line from our side. I will call you tomorrow at 10."
QUESTION = "Thanks. Will the engineer need access to my flat?"


@pytest.fixture
def suite_env(twilio_env: dict[str, str]) -> dict[str, str]:
    return twilio_env


async def sms(suite: LocalSuite, sid: str, body: str) -> None:
    await twilio_post(suite, "/webhooks/sms", {"MessageSid": sid, "From": CUSTOMER, "To": OUR_NUMBER, "Body": body})


def summary_notes(messages: list[conversation_pb2.Message]) -> list[conversation_pb2.Message]:
    return [m for m in messages if "summary" in m.metadata]


@pytest.mark.timeout(120)
async def test_every_handoff_leaves_a_summary_and_one_is_there_on_demand(local_suite: LocalSuite, api_key: str) -> None:
    ports = local_suite.ports
    await make_agent(local_suite, api_key, "ada", web_login=False)
    async with (
        authenticated_channel(f"127.0.0.1:{ports.routing_grpc}", api_key) as routing_channel,
        authenticated_channel(f"127.0.0.1:{ports.conversations_grpc}", api_key) as conv_channel,
    ):
        routing = routing_grpc.RoutingServiceStub(routing_channel)
        conversations = conv_grpc.ConversationServiceStub(conv_channel)
        await sms(local_suite, "SM" + "1" * 32, PROBLEM)

        async def assigned() -> conversation_pb2.Conversation | None:
            listed = await conversations.ListConversations(conv_pb.ListConversationsRequest(assignee_agent_id="ada"))
            return listed.conversations[0] if listed.conversations else None

        conversation = await eventually(assigned, what="the conversation assigned to ada")
        conversation_id = conversation.conversation_id
        with acting_for(Agent("ada")):
            await conversations.SendReply(
                conv_pb.SendReplyRequest(conversation_id=conversation_id, text=ANSWER, client_reply_id="r1")
            )
        await sms(local_suite, "SM" + "2" * 32, QUESTION)

        async def timeline() -> list[conversation_pb2.Message]:
            listed = await conversations.ListMessages(conv_pb.ListMessagesRequest(conversation_id=conversation_id))
            return list(listed.messages)

        async def with_question() -> list[conversation_pb2.Message]:
            items = await timeline()
            return items if any(m.text == QUESTION for m in items) else []

        items = await eventually(with_question, what="the customer's question stored")
        ids = {m.text: m.message_id for m in items}

        # On demand: who, what they want, what was done or promised, and the question still open.
        got = await conversations.SummarizeConversation(
            conv_pb.SummarizeConversationRequest(conversation_id=conversation_id)
        )
        summary = got.summary
        assert summary.who.startswith(f"{CUSTOMER} · phone {CUSTOMER} · customer for 0 days, 1 conversation · on sms")
        assert [(p.text, list(p.message_ids)) for p in summary.wants] == [
            ("My router keeps dropping the connection every evening.", [ids[PROBLEM]]),
            ("I already restarted it twice.", [ids[PROBLEM]]),
        ]
        assert [(p.text, list(p.message_ids)) for p in summary.tried_or_promised] == [
            ("I have reset your line from our side.", [ids[ANSWER]]),
            ("I will call you tomorrow at 10.", [ids[ANSWER]]),
        ]
        assert [(p.text, list(p.message_ids)) for p in summary.open_questions] == [
            ("Will the engineer need access to my flat?", [ids[QUESTION]])
        ]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await conversations.SummarizeConversation(
                conv_pb.SummarizeConversationRequest(conversation_id=conversation_id, language="English")
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await conversations.SummarizeConversation(conv_pb.SummarizeConversationRequest(conversation_id="nope"))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND

        # Handed to another team's queue: the note the next agent reads first is written at once.
        with acting_for(Agent("ada")):
            await routing.TransferConversation(
                routing_pb.TransferConversationRequest(conversation_id=conversation_id, to_team="field")
            )

        async def summaries(count: int) -> list[conversation_pb2.Message]:
            found = summary_notes(await timeline())
            return found if len(found) == count else []

        [transferred] = await eventually(lambda: summaries(1), what="a summary after the transfer")
        assert transferred.metadata["summary"] == "transferred to team field"
        assert transferred.metadata["sources"].split() == [ids[PROBLEM], ids[ANSWER], ids[QUESTION]]
        assert "Open questions:\n- Will the engineer need access to my flat?" in transferred.text

        # Resolved (by the integration: ada no longer has it), then the customer writes again: whoever
        # takes it reads a fresh summary.
        await conversations.SetStatus(
            conv_pb.SetStatusRequest(
                conversation_id=conversation_id, status=conversation_pb2.CONVERSATION_STATUS_RESOLVED
            )
        )
        await sms(local_suite, "SM" + "3" * 32, "It dropped again tonight. Nobody called me.")
        reopened = (await eventually(lambda: summaries(2), what="a summary after the reopening"))[1]
        assert reopened.metadata["summary"] == "reopened: the customer wrote again"
        assert "- It dropped again tonight." in reopened.text

        # A bot (here, the integration) escalates with its transcript: the summary reads the customer's lines.
        transcript = "Bot: Hello! What can I do?\nCustomer: I need an engineer visit on Friday morning."
        await routing.TransferConversation(
            routing_pb.TransferConversationRequest(
                conversation_id=conversation_id, to_team="field", transcript=transcript
            )
        )
        escalated = (await eventually(lambda: summaries(3), what="a summary after the escalation"))[2]
        assert escalated.metadata["summary"] == "handed over with a transcript, to team field"
        assert "- I need an engineer visit on Friday morning." in escalated.text
