"""Contact pressure and nudges, over real processes: a customer with an open complaint gets no promotion
(but does get the delivery update they asked for), a calm one is nudged after an abandoned checkout on the
channel they use, never twice for one event and no more than the tenant's rules allow; their answer
reopens the thread with the nudge and the reason it was sent, in front of an agent."""

from __future__ import annotations

import json

import grpc
import pytest
from inbox.channels.v1 import channel_service_pb2 as channel_pb
from inbox.channels.v1 import channel_service_pb2_grpc as channel_grpc
from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import conversation_service_pb2 as conv_pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as conv_grpc
from inbox.conversations.v1 import outreach_service_pb2 as outreach_pb
from inbox.conversations.v1 import outreach_service_pb2_grpc as outreach_grpc
from inbox.message.v1 import message_pb2
from inbox_devstack.providers import TwilioApi
from inbox_devstack.suite import LocalSuite
from inbox_devstack.waiting import eventually
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for, authenticated_channel

from .conftest import OUR_NUMBER, make_agent, twilio_post

UPSET = "+14155550161"
CALM = "+14155550162"
POLICY = {
    "contact_pressure": {"max_messages": 2, "window_hours": 24},
    "nudges": [
        {
            "id": "basket",
            "event": "checkout_abandoned",
            "channels": ["sms", "email"],
            "text": "Hi {first_name}, your {item} is still in your basket. Reply here if anything is in the way.",
            "cooldown_hours": 24,
        }
    ],
}


@pytest.fixture
def suite_env(twilio_env: dict[str, str]) -> dict[str, str]:
    return twilio_env


def phone(number: str) -> message_pb2.ContactPoint:
    return message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_PHONE, value=number)


@pytest.mark.timeout(120)
async def test_contact_pressure_holds_back_and_nudges_go_where_the_customer_is(
    local_suite: LocalSuite, api_key: str, twilio_api: TwilioApi
) -> None:
    ports = local_suite.ports
    await make_agent(local_suite, api_key, "ada", web_login=False)
    async with (
        authenticated_channel(f"127.0.0.1:{ports.conversations_grpc}", api_key) as threading_channel,
        authenticated_channel(f"127.0.0.1:{ports.channels_grpc}", api_key) as channels_channel,
    ):
        conversations = conv_grpc.ConversationServiceStub(threading_channel)
        outreach = outreach_grpc.OutreachServiceStub(threading_channel)
        channels = channel_grpc.ChannelServiceStub(channels_channel)
        await outreach.UpdateOutreachPolicy(outreach_pb.UpdateOutreachPolicyRequest(document=json.dumps(POLICY)))
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await outreach.UpdateOutreachPolicy(
                outreach_pb.UpdateOutreachPolicyRequest(document='{"nudges": [{"id": "x"}]}')
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "event" in (bad.value.details() or "")

        async def sms(sid: str, sender: str, body: str) -> None:
            await twilio_post(
                local_suite, "/webhooks/sms", {"MessageSid": sid, "From": sender, "To": OUR_NUMBER, "Body": body}
            )

        async def conversation_of(number: str, status: int = 0) -> conversation_pb2.Conversation | None:
            listed = await conversations.ListConversations(conv_pb.ListConversationsRequest())
            found = [
                c for c in listed.conversations if c.customer_label == number and (not status or c.status == status)
            ]
            return found[0] if found else None

        async def send(number: str, text: str, client_id: str, kind: int = 0) -> channel_pb.SendMessageResponse:
            return await channels.SendMessage(
                channel_pb.SendMessageRequest(
                    channel_name="sms",
                    recipient=phone(number),
                    text=text,
                    client_message_id=client_id,
                    kind=kind,  # type: ignore[arg-type]
                )
            )

        # An upset customer with a conversation still open: no promotion, but the update they asked for.
        await sms("SM" + "a" * 32, UPSET, "I am furious, this is unacceptable! Where is my refund?")

        async def upset() -> conversation_pb2.Conversation | None:
            found = await conversation_of(UPSET)
            return found if found is not None and found.HasField("mood") else None

        await eventually(upset, what="the upset customer's mood")
        with pytest.raises(grpc.aio.AioRpcError) as held:
            await send(UPSET, "20% off everything this weekend!", "promo-1")
        assert held.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "open_complaint" in (held.value.details() or "")
        update = await send(UPSET, "Your refund was sent today.", "update-1", message_pb2.OUTREACH_KIND_SERVICE)
        assert update.message_id
        with pytest.raises(grpc.aio.AioRpcError) as nudge_held:
            await outreach.RecordEngagement(
                outreach_pb.RecordEngagementRequest(
                    event_id="ev-upset",
                    event_type="checkout_abandoned",
                    contact=phone(UPSET),
                    attributes={"item": "kettle"},
                )
            )
        assert nudge_held.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "open_complaint" in (nudge_held.value.details() or "")

        # A calm customer, their conversation resolved: nudged by SMS, the channel they write on.
        await sms("SM" + "b" * 32, CALM, "Do you have the kettle in blue?")

        async def with_ada() -> conversation_pb2.Conversation | None:
            found = await conversation_of(CALM)
            return found if found is not None and found.assignee_agent_id == "ada" else None

        calm = await eventually(with_ada, what="the calm customer's conversation, with ada")
        with acting_for(Agent("ada")):
            await conversations.SetStatus(
                conv_pb.SetStatusRequest(
                    conversation_id=calm.conversation_id, status=conversation_pb2.CONVERSATION_STATUS_RESOLVED
                )
            )
        engagement = outreach_pb.RecordEngagementRequest(
            event_id="ev-1", event_type="checkout_abandoned", contact=phone(CALM), attributes={"item": "blue kettle"}
        )
        nudged = await outreach.RecordEngagement(engagement)
        [nudge] = nudged.nudges
        assert (nudge.rule_id, nudge.channel_name) == ("basket", "sms")
        text = "Hi there, your blue kettle is still in your basket. Reply here if anything is in the way."
        assert nudge.text == text
        await eventually(lambda: [m for m in twilio_api.messages if m["Body"] == text], what="the nudge by SMS")
        # The same event again nudges nobody twice; another one within the rule's cooldown is held.
        again = await outreach.RecordEngagement(engagement)
        assert [n.message_id for n in again.nudges] == [nudge.message_id]
        with pytest.raises(grpc.aio.AioRpcError) as cooling:
            await outreach.RecordEngagement(
                outreach_pb.RecordEngagementRequest(
                    event_id="ev-2", event_type="checkout_abandoned", contact=phone(CALM), attributes={"item": "mug"}
                )
            )
        assert "cooldown" in (cooling.value.details() or "")
        # No event the rules know: nothing is sent, and that is not an error.
        unknown = await outreach.RecordEngagement(
            outreach_pb.RecordEngagementRequest(event_id="ev-3", event_type="no_login_30_days", contact=phone(CALM))
        )
        assert list(unknown.nudges) == []

        # The customer answers the nudge: the thread reopens, with why they got it, and goes to an agent.
        await sms("SM" + "c" * 32, CALM, "Is delivery free over 50 euros?")

        async def answered() -> list[conversation_pb2.Message]:
            listed = await conversations.ListMessages(
                conv_pb.ListMessagesRequest(conversation_id=nudge.conversation_id)
            )
            got = await conversations.GetConversation(
                conv_pb.GetConversationRequest(conversation_id=nudge.conversation_id)
            )
            done = got.conversation.assignee_agent_id == "ada" and any(
                m.text == "Is delivery free over 50 euros?" for m in listed.messages
            )
            return list(listed.messages) if done else []

        thread = await eventually(answered, what="the answer to the nudge, with ada")
        texts = [m.text for m in thread]
        why = "Nudged by SMS after checkout abandoned (rule basket)"
        assert texts.index(why) < texts.index(text) < texts.index("Is delivery free over 50 euros?")
        [sent_nudge] = [m for m in thread if m.message_id == nudge.message_id]
        assert (sent_nudge.metadata["outreach"], sent_nudge.metadata["engagement"]) == ("nudge", "checkout_abandoned")

        # Two proactive messages a day at most: the nudge and one promotion; the next is held.
        await send(CALM, "New colours this week.", "promo-2")
        with pytest.raises(grpc.aio.AioRpcError) as too_many:
            await send(CALM, "Last chance!", "promo-3")
        assert "too_many_messages" in (too_many.value.details() or "")
        proactive = [m["Body"] for m in twilio_api.messages if m["To"] == CALM and "How did we do" not in m["Body"]]
        assert proactive == [text, "New colours this week."]  # the survey is a service message: not counted
        check = await outreach.CheckOutreach(
            outreach_pb.CheckOutreachRequest(recipient=phone(CALM), channel_name="sms")
        )
        assert (check.allowed, check.rule) == (False, "too_many_messages")
