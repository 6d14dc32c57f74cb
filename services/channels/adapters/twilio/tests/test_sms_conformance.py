"""The SMS adapter passes the channel adapter conformance kit."""

from __future__ import annotations

import httpx
import pytest
from inbox.message.v1 import message_pb2
from inbox_channel_twilio.sms import STATUS_MAP
from inbox_channels.app import RunningChannels
from inbox_channels.conformance import AdapterConformance, ConformanceCase, InboundSample
from twilio.request_validator import RequestValidator

from .conftest import AUTH_TOKEN, OUR_NUMBER, PUBLIC_BASE, TwilioApi

PHONE = message_pb2.CONTACT_POINT_KIND_PHONE


async def post(runtime: RunningChannels, path: str, params: dict[str, str], token: str = AUTH_TOKEN) -> httpx.Response:
    signature = RequestValidator(token).compute_signature(PUBLIC_BASE + path, params)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.http_port}") as client:
        return await client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def sample(sid: str, sender: str) -> InboundSample:
    params = {"MessageSid": sid, "From": sender, "To": OUR_NUMBER, "Body": f"text of {sid}", "NumMedia": "0"}

    async def send(runtime: RunningChannels) -> bool:
        return (await post(runtime, "/webhooks/sms", params)).status_code == 200

    return InboundSample(sid, send, sid, message_pb2.ContactPoint(kind=PHONE, value=sender))


async def forged(runtime: RunningChannels) -> bool:
    params = {"MessageSid": "SMforged", "From": "+14155550111", "To": OUR_NUMBER, "Body": "hi"}
    return (await post(runtime, "/webhooks/sms", params, token="not-the-auth-token-000")).status_code == 200


class TestConformance(AdapterConformance):
    @pytest.fixture
    def case(self, twilio_env: None, twilio_api: TwilioApi) -> ConformanceCase:
        from inbox_channel_twilio.sms import SmsAdapter

        async def send_status(runtime: RunningChannels, message_id: str, status: str) -> None:
            [sent] = [m for m in twilio_api.messages if m["token"] == f"key-{message_id}"]
            params = {"MessageSid": sent["sid"], "MessageStatus": status, "To": sent["To"], "From": OUR_NUMBER}
            assert (await post(runtime, "/webhooks/sms/status", params)).status_code == 200

        return ConformanceCase(
            make_adapter=SmsAdapter,
            samples=[sample("SM" + "1" * 32, "+14155550111"), sample("SM" + "2" * 32, "+447700900123")],
            forged=[forged],
            recipient=message_pb2.ContactPoint(kind=PHONE, value="+14155550111"),
            provider_received=lambda: list(twilio_api.message_requests),
            statuses={s: STATUS_MAP[s] for s in ("sent", "delivered", "undelivered", "failed")},
            send_status=send_status,
        )
