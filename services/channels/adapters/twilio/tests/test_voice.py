"""The phone adapter: TwiML answers, call progress and voicemail into the pipeline, call-backs through
ChannelService against a local server speaking Twilio's Calls API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from inbox.channels.v1 import channel_service_pb2 as pb
from inbox.channels.v1 import channel_service_pb2_grpc as pb_grpc
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channels.app import RunningChannels
from inbox_devstack.events import stored_events
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for, authenticated_channel
from twilio.request_validator import RequestValidator

from .conftest import AUTH_TOKEN, OUR_NUMBER, PUBLIC_BASE, TwilioApi

CUSTOMER = "+14155550199"
CALL = "CA" + "1" * 32


def signed(path: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE + path, params)}


@pytest.fixture
async def http(channels: RunningChannels) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{channels.http_port}") as client:
        yield client


async def post(http: httpx.AsyncClient, path: str, params: dict[str, str]) -> httpx.Response:
    return await http.post(path, data=params, headers=signed(path, params))


async def voice_items(channels: RunningChannels, at_least: int) -> list[events_pb2.InboundMessage]:
    url = channels.nats_url
    return await stored_events(url, "inbound.voice.*", events_pb2.InboundMessage, at_least=at_least, timeout=3)


async def test_an_incoming_call_is_answered_and_its_progress_lands_in_the_thread(
    channels: RunningChannels, http: httpx.AsyncClient
) -> None:
    call = {"CallSid": CALL, "From": CUSTOMER, "To": OUR_NUMBER, "CallStatus": "ringing", "Direction": "inbound"}
    answer = await post(http, "/webhooks/voice", call)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
    assert "<Say>Thank you for calling." in answer.text and "<Enqueue>support</Enqueue>" in answer.text

    completed = {**call, "CallStatus": "completed", "CallDuration": "65"}
    assert (await post(http, "/webhooks/voice/status", completed)).status_code == 200
    assert (await post(http, "/webhooks/voice/status", completed)).status_code == 200  # provider retry
    items = await voice_items(channels, at_least=2)
    assert [(i.kind, i.text) for i in items] == [
        (message_pb2.MESSAGE_KIND_CALL_EVENT, "Incoming call"),
        (message_pb2.MESSAGE_KIND_CALL_EVENT, "Call completed (1 min 5 s)"),
    ]
    assert items[1].sender.value == CUSTOMER and items[1].inbox_id == "support"
    assert items[1].metadata["duration_seconds"] == "65" and items[1].metadata["call_sid"] == CALL


async def test_a_missed_call_and_a_voicemail(channels: RunningChannels, http: httpx.AsyncClient) -> None:
    missed = {"CallSid": CALL, "From": CUSTOMER, "To": OUR_NUMBER, "CallStatus": "no-answer", "Direction": "inbound"}
    await post(http, "/webhooks/voice/status", missed)
    recording = {"CallSid": CALL, "RecordingSid": "RE1", "RecordingUrl": "https://api.example/RE1", "From": CUSTOMER}
    assert (await post(http, "/webhooks/voice/recording", recording)).status_code == 200
    transcription = {
        **recording,
        "To": OUR_NUMBER,
        "TranscriptionStatus": "completed",
        "TranscriptionText": "Please call me back about invoice 4411.",
    }
    assert (await post(http, "/webhooks/voice/transcription", transcription)).status_code == 200
    missed_item, voicemail = await voice_items(channels, at_least=2)
    assert missed_item.kind == message_pb2.MESSAGE_KIND_MISSED_CALL and missed_item.text == "Missed call (no answer)"
    assert voicemail.kind == message_pb2.MESSAGE_KIND_VOICEMAIL
    assert voicemail.text == "Please call me back about invoice 4411."
    assert [(a.url, a.content_type) for a in voicemail.attachments] == [("https://api.example/RE1.mp3", "audio/mpeg")]


async def test_out_of_hours_calls_go_to_voicemail(
    channels: RunningChannels, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inbox_channel_twilio.hours import parse_hours
    from inbox_channel_twilio.voice import VoiceAdapter

    voice = next(a for a in channels.actions.adapters if isinstance(a, VoiceAdapter))
    monkeypatch.setattr(voice, "_hours", parse_hours("Mon 00:00-00:01", "UTC"))  # closed nearly always
    call = {"CallSid": CALL, "From": CUSTOMER, "To": OUR_NUMBER, "CallStatus": "ringing"}
    answer = await post(http, "/webhooks/voice", call)
    assert (
        "<Record" in answer.text
        and 'transcribeCallback="https://inbox.example.com/webhooks/voice/transcription"' in answer.text
    )
    assert "<Enqueue>" not in answer.text


async def test_bad_voice_webhooks_change_nothing(channels: RunningChannels, http: httpx.AsyncClient) -> None:
    call = {"CallSid": CALL, "From": CUSTOMER, "To": OUR_NUMBER, "CallStatus": "ringing"}
    assert (await http.post("/webhooks/voice", data=call)).status_code == 403
    weird = {**call, "CallStatus": "abducted"}
    assert (await post(http, "/webhooks/voice/status", weird)).status_code == 400
    assert await voice_items(channels, at_least=0) == []


async def test_an_agent_call_back_is_placed_once_and_recorded(
    channels: RunningChannels, http: httpx.AsyncClient, twilio_api: TwilioApi, nats_api_key: str
) -> None:
    target = f"127.0.0.1:{channels.grpc.port}"
    async with grpc.aio.insecure_channel(target) as anonymous:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.ChannelServiceStub(anonymous).StartCallback(pb.StartCallbackRequest())
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    request = pb.StartCallbackRequest(
        customer_number="(415) 555-0199",
        agent_number="+14155550142",
        agent_id="ada",
        conversation_id="conv-1",
        client_request_id="cb-1",
    )
    async with authenticated_channel(target, nats_api_key) as channel:
        stub = pb_grpc.ChannelServiceStub(channel)
        with acting_for(Agent("ada")), pytest.raises(grpc.aio.AioRpcError) as invalid:
            await stub.StartCallback(pb.StartCallbackRequest(customer_number="+14155550199"))
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with acting_for(Agent("ada")):
            started = await stub.StartCallback(request)
            again = await stub.StartCallback(request)
    assert started.call_id == again.call_id
    [call] = twilio_api.calls
    assert (call["To"], call["From"]) == (CUSTOMER, OUR_NUMBER)
    assert call["Url"] == PUBLIC_BASE + "/webhooks/voice/connect-agent?agent=%2B14155550142"
    [item] = await voice_items(channels, at_least=1)
    assert item.text == "Call-back started by ada" and item.sender.value == CUSTOMER
    assert item.metadata["conversation_id"] == "conv-1"

    connect = await http.post(
        "/webhooks/voice/connect-agent?agent=%2B14155550142",
        data={"CallSid": started.call_id, "From": OUR_NUMBER, "To": CUSTOMER},
        headers={
            "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(
                PUBLIC_BASE + "/webhooks/voice/connect-agent?agent=%2B14155550142",
                {"CallSid": started.call_id, "From": OUR_NUMBER, "To": CUSTOMER},
            )
        },
    )
    assert '<Dial callerId="+14155550100"><Number>+14155550142</Number></Dial>' in connect.text

    # The customer's phone rings: the status callback of the outbound call lands in their thread too.
    ringing = {
        "CallSid": started.call_id,
        "From": OUR_NUMBER,
        "To": CUSTOMER,
        "CallStatus": "ringing",
        "Direction": "outbound-api",
    }
    await post(http, "/webhooks/voice/status", ringing)
    items = await voice_items(channels, at_least=2)
    assert items[-1].sender.value == CUSTOMER and items[-1].metadata["direction"] == "outbound"
