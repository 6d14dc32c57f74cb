"""Every Twilio webhook fuzzed (hypothesis), correctly signed, against the SMS and voice adapters in a real
channels runtime: whatever the fields hold, the answer is never a 5xx and a refusal gives its reason in one
line."""

from __future__ import annotations

import asyncio

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inbox_channel_twilio.signature import compute_signature
from inbox_channels.app import RunningChannels

from .conftest import AUTH_TOKEN, OUR_NUMBER, PUBLIC_BASE

FUZZ = settings(
    max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
numbers = st.sampled_from([OUR_NUMBER, "+14155550123", "", "anonymous", "+1"]) | st.text(max_size=16)
counts = st.sampled_from(["0", "3", "-5", "abc", "²", "1e3", "99999999999999999999", ""]) | st.text(max_size=6)
statuses = st.sampled_from(["queued", "sent", "delivered", "failed", "completed", "no-answer", "ringing"]) | st.text(
    max_size=10
)
CALL, SMS_SID, CUSTOMER = "CA" + "b" * 32, "SM" + "a" * 32, "+14155550123"
# A valid request per webhook, which the fuzzer then bends a few fields at a time: deep enough to reach
# what each handler does with a field once the request has passed the easy checks.
VALID = {
    "/webhooks/sms": {"MessageSid": SMS_SID, "From": CUSTOMER, "To": OUR_NUMBER, "Body": "hello", "NumMedia": "0"},
    "/webhooks/sms/status": {"MessageSid": SMS_SID, "MessageStatus": "delivered"},
    "/webhooks/voice": {"CallSid": CALL, "From": CUSTOMER, "To": OUR_NUMBER, "CallStatus": "ringing"},
    "/webhooks/voice/status": {
        "CallSid": CALL,
        "From": CUSTOMER,
        "To": OUR_NUMBER,
        "CallStatus": "completed",
        "CallDuration": "30",
        "Direction": "inbound",
    },
    "/webhooks/voice/recording": {
        "CallSid": CALL,
        "From": CUSTOMER,
        "To": OUR_NUMBER,
        "RecordingSid": "RE" + "c" * 32,
        "RecordingUrl": "https://api.twilio.com/recordings/1",
    },
    "/webhooks/voice/transcription": {
        "CallSid": CALL,
        "From": CUSTOMER,
        "To": OUR_NUMBER,
        "RecordingSid": "RE" + "c" * 32,
        "TranscriptionStatus": "completed",
        "TranscriptionText": "call me back",
    },
    "/webhooks/voice/connect-agent": {"CallSid": CALL, "From": CUSTOMER, "To": OUR_NUMBER},
}
FIELD_VALUES = {
    "MessageSid": st.text(max_size=40),
    "CallSid": st.text(max_size=40),
    "RecordingSid": st.text(max_size=40),
    "From": numbers,
    "To": numbers,
    "Body": st.text(max_size=200),
    "NumMedia": counts,
    "MediaUrl0": st.sampled_from(["https://api.twilio.com/media/1", "javascript:alert(1)"]) | st.text(max_size=30),
    "MediaContentType0": st.text(max_size=30),
    "NumSegments": counts,
    "MessageStatus": statuses,
    "CallStatus": statuses,
    "CallDuration": counts,
    "Direction": st.sampled_from(["inbound", "outbound-api", ""]) | st.text(max_size=10),
    "RecordingUrl": st.text(max_size=40),
    "TranscriptionStatus": statuses,
    "TranscriptionText": st.text(max_size=200),
    "ErrorCode": counts,
}
# A change is a field set to a fuzzed value, or (None) a field left out.
changes = st.lists(
    st.sampled_from(sorted(FIELD_VALUES)).flatmap(
        lambda name: st.tuples(st.just(name), st.none() | FIELD_VALUES[name])
    ),
    max_size=3,
)


def bent(path: str, changed: list[tuple[str, str | None]]) -> dict[str, str]:
    params = dict(VALID[path])
    for name, value in changed:
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return params


async def test_fuzzed_signed_webhooks_are_answered_clearly(channels: RunningChannels) -> None:
    def fuzz() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{channels.http_port}") as client:

            @FUZZ
            @given(path=st.sampled_from(sorted(VALID)), changed=changes)
            def check(path: str, changed: list[tuple[str, str | None]]) -> None:
                params = bent(path, changed)
                signature = compute_signature(AUTH_TOKEN, PUBLIC_BASE + path, params.items())
                response = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
                assert response.status_code < 500, (path, params, response.status_code, response.text)
                if not response.is_success:
                    reason = response.text.strip()
                    assert reason and "\n" not in reason, (path, params, response.text)

            check()

    await asyncio.to_thread(fuzz)
