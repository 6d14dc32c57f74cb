"""How the customer feels, end to end over real processes: an English message scored as it is stored, a
Spanish one scored on Apertium's English translation; both stored on the message, rolled up on the
conversation, and matched by a routing rule that sends upset customers to the care team."""

from __future__ import annotations

import json

import pytest
from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import conversation_service_pb2 as conv_pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as conv_grpc
from inbox.routing.v1 import routing_service_pb2 as routing_pb
from inbox.routing.v1 import routing_service_pb2_grpc as routing_grpc
from inbox_devstack.suite import LocalSuite
from inbox_devstack.waiting import eventually
from inbox_runtime.grpc_client import authenticated_channel

from .conftest import OUR_NUMBER, twilio_post

ANGRY_ENGLISH = "This is the third time my order is late. I am furious, this is unacceptable!"
# Read as English it says nothing (0.0); Apertium's English, "I am raging. It is unacceptable that anybody
# answer me.", reads -0.75.
ANGRY_SPANISH = "Estoy furioso. Es inaceptable que nadie me conteste."
CALM = "Hi, could you tell me where my order is?"
THANKS = "Thanks, that solved it, great service!"
UPSET_RULES = {
    "rules": [
        {"id": "upset", "match": {"sentiment_at_most": -0.6}, "target": {"team": "care", "priority": 20}},
    ]
}


@pytest.fixture
def suite_env(twilio_env: dict[str, str]) -> dict[str, str]:
    return {**twilio_env, "TRANSLATION_PROVIDERS": "apertium"}


async def sms(suite: LocalSuite, sid: str, sender: str, body: str) -> None:
    await twilio_post(suite, "/webhooks/sms", {"MessageSid": sid, "From": sender, "To": OUR_NUMBER, "Body": body})


@pytest.mark.timeout(120)
async def test_upset_customers_are_known_in_any_language_and_routed_to_care(
    local_suite: LocalSuite, api_key: str
) -> None:
    ports = local_suite.ports
    async with (
        authenticated_channel(f"127.0.0.1:{ports.routing_grpc}", api_key) as routing_channel,
        authenticated_channel(f"127.0.0.1:{ports.conversations_grpc}", api_key) as conv_channel,
    ):
        routing = routing_grpc.RoutingServiceStub(routing_channel)
        conversations = conv_grpc.ConversationServiceStub(conv_channel)
        await routing.UpsertAgent(
            routing_pb.UpsertAgentRequest(agent_id="grace", display_name="Grace", languages=["en"], teams=["care"])
        )
        await routing.UpdateRules(routing_pb.UpdateRulesRequest(document=json.dumps(UPSET_RULES)))

        # Nobody is available yet: each conversation waits, so a score that comes later still counts.
        await sms(local_suite, "SM" + "a" * 32, "+14155550001", ANGRY_ENGLISH)
        await sms(local_suite, "SM" + "b" * 32, "+34600123001", ANGRY_SPANISH)
        await sms(local_suite, "SM" + "c" * 32, "+14155550003", CALM)

        async def scored() -> dict[str, conversation_pb2.Conversation]:
            listed = await conversations.ListConversations(conv_pb.ListConversationsRequest())
            by_customer = {c.customer_label: c for c in listed.conversations if c.HasField("mood")}
            return by_customer if len(by_customer) == 3 else {}

        moods = await eventually(scored, timeout=60, what="three conversations with a mood")
        english, spanish, calm = moods["+14155550001"], moods["+34600123001"], moods["+14155550003"]
        assert english.mood.label == "very_negative" and english.mood.score == pytest.approx(-0.79, abs=0.01)
        assert spanish.mood.label == "very_negative" and spanish.mood.score == pytest.approx(-0.751, abs=0.01)
        assert calm.mood.label == "neutral"

        async def first_message(conversation_id: str) -> conversation_pb2.Message:
            listed = await conversations.ListMessages(conv_pb.ListMessagesRequest(conversation_id=conversation_id))
            return listed.messages[0]

        english_message = await first_message(english.conversation_id)
        assert (english_message.sentiment.label, english_message.sentiment.translated_from) == ("very_negative", "")
        spanish_message = await first_message(spanish.conversation_id)
        assert (spanish_message.sentiment.label, spanish_message.sentiment.translated_from) == ("very_negative", "es")

        # The rule: the English customer's conversation was placed with its score; the Spanish one's moved
        # to care when translation's score arrived, while it waited. The calm one waits for anyone.
        async def placed(conversation_id: str, team: str) -> routing_pb.GetAssignmentResponse | None:
            got = await routing.GetAssignment(routing_pb.GetAssignmentRequest(conversation_id=conversation_id))
            return got if got.team == team else None

        upset = await eventually(lambda: placed(english.conversation_id, "care"), what="english to care")
        assert upset.priority == 20 and upset.state == routing_pb.ASSIGNMENT_STATE_QUEUED
        await eventually(lambda: placed(spanish.conversation_id, "care"), what="spanish to care")
        await eventually(lambda: placed(calm.conversation_id, ""), what="calm to anyone")
        explained = await routing.ExplainAssignment(
            routing_pb.ExplainAssignmentRequest(conversation_id=spanish.conversation_id)
        )
        assert explained.rule_id == "upset"

        await routing.SetPresence(
            routing_pb.SetPresenceRequest(agent_id="grace", presence=routing_pb.PRESENCE_AVAILABLE)
        )
        for conversation in (english, spanish):
            await eventually(
                lambda c=conversation: placed_with(routing, c.conversation_id, "grace"), what="grace takes it"
            )

        # The customer is helped: the mood rises, and says so.
        await sms(local_suite, "SM" + "d" * 32, "+14155550001", THANKS)

        async def improved() -> conversation_pb2.Conversation | None:
            got = await conversations.GetConversation(
                conv_pb.GetConversationRequest(conversation_id=english.conversation_id)
            )
            return got.conversation if got.conversation.mood.scored_messages == 2 else None

        better = await eventually(improved, what="a second scored message")
        assert better.mood.trend == "improving" and better.mood.lowest_score == pytest.approx(-0.79, abs=0.01)
        assert better.mood.latest_score > 0.6


async def placed_with(routing: routing_grpc.RoutingServiceStub, conversation_id: str, agent_id: str) -> bool:
    got = await routing.GetAssignment(routing_pb.GetAssignmentRequest(conversation_id=conversation_id))
    return got.agent_id == agent_id
