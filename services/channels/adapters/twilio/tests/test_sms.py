"""The SMS adapter over HTTP, signed by the official twilio package, against a real nats-server and a
local server speaking Twilio's Messages API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channels.app import RunningChannels
from inbox_devstack.events import stored_events
from inbox_devstack.traces import files_holding
from twilio.request_validator import RequestValidator

from .conftest import AUTH_TOKEN, OUR_NUMBER, PUBLIC_BASE, TwilioApi

CUSTOMER = "+14155550199"


def signed(path: str, params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(PUBLIC_BASE + path, params)}


def sms(body: str, sid: str = "SM" + "a" * 32, **extra: str) -> dict[str, str]:
    return {"MessageSid": sid, "AccountSid": "AC1", "From": "(415) 555-0199", "To": OUR_NUMBER, "Body": body, **extra}


@pytest.fixture
async def http(channels: RunningChannels) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{channels.http_port}") as client:
        yield client  # type: ignore[misc]


async def inbound(channels: RunningChannels, at_least: int = 0) -> list[events_pb2.InboundMessage]:
    url = channels.nats_url
    return await stored_events(url, "inbound.sms.*", events_pb2.InboundMessage, at_least=at_least, timeout=3)


async def test_a_signed_sms_becomes_one_inbound_message(channels: RunningChannels, http: httpx.AsyncClient) -> None:
    params = sms(
        "Where is my parcel?", NumMedia="1", MediaUrl0="https://media.example/1", MediaContentType0="image/png"
    )
    response = await http.post("/webhooks/sms", data=params, headers=signed("/webhooks/sms", params))
    assert response.status_code == 200 and "<Response/>" in response.text
    [event] = await inbound(channels, at_least=1)
    assert event.channel == message_pb2.CHANNEL_SMS
    assert event.sender == message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_PHONE, value=CUSTOMER)
    assert (event.provider_message_id, event.inbox_id, event.text) == (params["MessageSid"], "support", params["Body"])
    assert event.metadata["to"] == OUR_NUMBER
    assert [(a.url, a.content_type) for a in event.attachments] == [("https://media.example/1", "image/png")]


async def test_a_retried_webhook_is_answered_and_adds_nothing(
    channels: RunningChannels, http: httpx.AsyncClient
) -> None:
    params = sms("Hello")
    for _ in range(3):
        response = await http.post("/webhooks/sms", data=params, headers=signed("/webhooks/sms", params))
        assert response.status_code == 200
    assert len(await inbound(channels, at_least=1)) == 1


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({}, 403, "missing X-Twilio-Signature"),
        ({"X-Twilio-Signature": "Zm9yZ2Vk"}, 403, "invalid X-Twilio-Signature"),
        (signed("/webhooks/sms", sms("Hello"), token="another-auth-token-000"), 403, "invalid X-Twilio-Signature"),
    ],
)
async def test_unsigned_or_forged_webhooks_are_refused(
    channels: RunningChannels, http: httpx.AsyncClient, headers: dict[str, str], status: int, reason: str
) -> None:
    response = await http.post("/webhooks/sms", data=sms("Hello"), headers=headers)
    assert (response.status_code, response.text) == (status, reason)
    assert await inbound(channels) == []


async def test_a_tampered_body_is_refused(channels: RunningChannels, http: httpx.AsyncClient) -> None:
    headers = signed("/webhooks/sms", sms("Hello"))
    response = await http.post("/webhooks/sms", data=sms("Send me the admin password"), headers=headers)
    assert response.status_code == 403
    assert await inbound(channels) == []


async def test_oversize_and_malformed_webhooks_get_clear_errors(
    channels: RunningChannels, http: httpx.AsyncClient
) -> None:
    big = sms("x" * (1 << 20))
    assert (await http.post("/webhooks/sms", data=big, headers=signed("/webhooks/sms", big))).status_code == 413
    no_from = {k: v for k, v in sms("Hello").items() if k != "From"}
    response = await http.post("/webhooks/sms", data=no_from, headers=signed("/webhooks/sms", no_from))
    assert (response.status_code, response.text) == (400, "missing fields: From")
    bad_number = sms("Hello", From="not-a-number")
    response = await http.post("/webhooks/sms", data=bad_number, headers=signed("/webhooks/sms", bad_number))
    assert response.status_code == 400
    as_json = await http.post("/webhooks/sms", json=sms("Hello"), headers=signed("/webhooks/sms", {}))
    assert as_json.status_code == 400
    assert await inbound(channels) == []


def outbound(text: str, message_id: str = "reply-1") -> events_pb2.OutboundMessage:
    return events_pb2.OutboundMessage(
        message_id=message_id,
        conversation_id="conv-1",
        channel=message_pb2.CHANNEL_SMS,
        inbox_id="support",
        recipient=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_PHONE, value=CUSTOMER),
        text=text,
        idempotency_key=message_id,
    )


async def wait_for_status(
    channels: RunningChannels, message_id: str, status: int
) -> events_pb2.DeliveryStatus.ValueType:
    import asyncio

    for _ in range(100):
        delivery = await channels.actions.delivery(message_id)
        if delivery is not None and delivery.status == status:
            return delivery.status
        await asyncio.sleep(0.05)
    raise AssertionError(f"delivery of {message_id} never reached {status}: {delivery}")


async def test_replies_are_sent_once_with_an_idempotency_token_and_statuses_recorded(
    channels: RunningChannels, http: httpx.AsyncClient, twilio_api: TwilioApi
) -> None:
    reply = outbound("Your parcel arrives today.")
    await channels.bus.publish(reply, event_id="outbound-1")
    await channels.bus.publish(reply, event_id="outbound-1-redelivered")  # as after a crash before the ack
    await wait_for_status(channels, "reply-1", events_pb2.DELIVERY_STATUS_QUEUED)
    [sent] = twilio_api.messages
    assert (sent["To"], sent["From"], sent["Body"]) == (CUSTOMER, OUR_NUMBER, "Your parcel arrives today.")
    assert sent["token"] == "reply-1"
    assert sent["StatusCallback"] == PUBLIC_BASE + "/webhooks/sms/status"
    delivery = await channels.actions.delivery("reply-1")
    assert delivery is not None and delivery.detail == "1 segment(s), GSM-7"

    callback = {"MessageSid": sent["sid"], "MessageStatus": "delivered", "To": CUSTOMER, "From": OUR_NUMBER}
    response = await http.post("/webhooks/sms/status", data=callback, headers=signed("/webhooks/sms/status", callback))
    assert response.status_code == 200
    await wait_for_status(channels, "reply-1", events_pb2.DELIVERY_STATUS_DELIVERED)
    late = {**callback, "MessageStatus": "sent"}  # out of order: must not move the status back
    await http.post("/webhooks/sms/status", data=late, headers=signed("/webhooks/sms/status", late))
    bogus = {**callback, "MessageStatus": "teleported"}
    response = await http.post("/webhooks/sms/status", data=bogus, headers=signed("/webhooks/sms/status", bogus))
    assert response.status_code == 400
    assert (await channels.actions.delivery("reply-1")).status == events_pb2.DELIVERY_STATUS_DELIVERED  # type: ignore[union-attr]


async def test_stop_opts_out_until_start_and_help_answers(
    channels: RunningChannels, http: httpx.AsyncClient, twilio_api: TwilioApi
) -> None:
    stop = sms("Stop", sid="SM" + "b" * 32)
    assert (await http.post("/webhooks/sms", data=stop, headers=signed("/webhooks/sms", stop))).status_code == 200
    await channels.bus.publish(outbound("Special offer!", "offer-1"), event_id="o1")
    await wait_for_status(channels, "offer-1", events_pb2.DELIVERY_STATUS_FAILED)
    failed = await channels.actions.delivery("offer-1")
    assert failed is not None and "opted out" in failed.detail
    assert twilio_api.messages == []

    help_ = sms("help", sid="SM" + "c" * 32)
    answer = await http.post("/webhooks/sms", data=help_, headers=signed("/webhooks/sms", help_))
    assert "<Message>Reply with your question" in answer.text

    start = sms("START", sid="SM" + "d" * 32)
    await http.post("/webhooks/sms", data=start, headers=signed("/webhooks/sms", start))
    await channels.bus.publish(outbound("Welcome back", "welcome-1"), event_id="w1")
    await wait_for_status(channels, "welcome-1", events_pb2.DELIVERY_STATUS_QUEUED)
    assert [m["Body"] for m in twilio_api.messages] == ["Welcome back"]

    url = channels.nats_url
    changes = await stored_events(url, "delivery.opt_out_changed", events_pb2.OptOutChanged, at_least=2)
    assert [(c.contact.value, c.opted_out, c.keyword) for c in changes] == [
        (CUSTOMER, True, "STOP"),
        (CUSTOMER, False, "START"),
    ]
    # Keywords are consent, not conversation: nothing reached the pipeline.
    assert await inbound(channels) == []


async def test_proactive_messages_honour_opt_outs_and_limits(
    channels: RunningChannels, http: httpx.AsyncClient, twilio_api: TwilioApi, nats_api_key: str
) -> None:
    import grpc
    from inbox.channels.v1 import channel_service_pb2 as pb
    from inbox.channels.v1 import channel_service_pb2_grpc as pb_grpc
    from inbox_runtime.grpc_client import authenticated_channel

    phone = message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_PHONE, value="(415) 555-0199")
    request = pb.SendMessageRequest(
        channel=message_pb2.CHANNEL_SMS,
        recipient=phone,
        text="Your refund is on its way.",
        client_message_id="notice-1",
    )
    async with authenticated_channel(f"127.0.0.1:{channels.grpc.port}", nats_api_key) as channel:
        stub = pb_grpc.ChannelServiceStub(channel)
        sent = await stub.SendMessage(request)
        again = await stub.SendMessage(request)
        assert sent.message_id == again.message_id and sent.status == events_pb2.DELIVERY_STATUS_QUEUED
        assert [m["To"] for m in twilio_api.messages] == [CUSTOMER]

        with pytest.raises(grpc.aio.AioRpcError) as too_long:
            await stub.SendMessage(
                pb.SendMessageRequest(
                    channel=message_pb2.CHANNEL_SMS,
                    recipient=phone,
                    text="x" * 1601,
                    client_message_id="n2",
                )
            )
        assert too_long.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "1600" in (too_long.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as no_channel:
            await stub.SendMessage(
                pb.SendMessageRequest(
                    channel=message_pb2.CHANNEL_EMAIL,
                    recipient=phone,
                    text="hi",
                    client_message_id="n3",
                )
            )
        assert no_channel.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        stop = sms("STOP", sid="SM" + "e" * 32)
        await http.post("/webhooks/sms", data=stop, headers=signed("/webhooks/sms", stop))
        with pytest.raises(grpc.aio.AioRpcError) as opted_out:
            await stub.SendMessage(
                pb.SendMessageRequest(
                    channel=message_pb2.CHANNEL_SMS, recipient=phone, text="hi", client_message_id="n4"
                )
            )
        assert opted_out.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert opted_out.value.details() == "the customer opted out of sms"
    assert len(twilio_api.messages) == 1
    [recorded] = await stored_events(
        channels.nats_url, "delivery.proactive_sent", events_pb2.ProactiveMessageSent, at_least=1
    )
    assert (
        recorded.message.agent_id == "key:test-integrator" and recorded.message.recipient.value == CUSTOMER
    )  # the key that sent it; normalised


async def test_an_erased_customer_s_number_leaves_the_sms_adapter(
    channels: RunningChannels, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    from inbox.conversations.v1 import events_pb2 as conversation_events
    from inbox_channels.subscribers import erasure_consumer
    from inbox_devstack.waiting import eventually

    stop = sms("STOP", sid="SM" + "e" * 32)
    assert (await http.post("/webhooks/sms", data=stop, headers=signed("/webhooks/sms", stop))).status_code == 200
    [adapter] = [a for a in channels.actions.adapters if a.name == "sms"]

    def files_with_number() -> list[str]:
        return files_holding(tmp_path, CUSTOMER.encode(), skip=(tmp_path / "nats",))  # streams: threading's

    assert files_with_number()
    number = message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_PHONE, value=CUSTOMER)
    await channels.bus.publish(
        conversation_events.CustomerErased(customer_id="cust-sms", contact_points=[number]), event_id="erased-sms"
    )

    async def handled() -> bool:
        return await channels.bus.settled(erasure_consumer(adapter))

    await eventually(handled, what="the SMS adapter handled the erasure")
    assert files_with_number() == []
