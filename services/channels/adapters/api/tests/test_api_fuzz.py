"""The API channel's webhooks fuzzed (hypothesis) against a real channels runtime and nats-server: whatever
is sent, signed or not, the answer is never a 5xx, every refusal gives its reason in one line, and what is
stored is exactly what was accepted."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inbox.channels.v1 import events_pb2
from inbox_channels.app import RunningChannels
from inbox_channels.testing import running_channels
from inbox_devstack.events import stored_events
from inbox_devstack.nats_server import NatsServer
from inbox_runtime.signing import sign

SECRET = "api-channel-shared-secret-0123"
FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
# Messages that come close to valid ones: the fields the channel reads, each sometimes of the wrong shape.
near_messages = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=12) | json_values,
        "from": st.text(max_size=12) | json_values,
        "text": st.text(max_size=40) | json_values,
        "name": st.text(max_size=12) | json_values,
        "message_id": st.text(max_size=12),
        "status": st.sampled_from(["delivered", "read", "failed", "sent", ""]) | st.text(max_size=8),
    },
)
# Lone surrogates survive json.dumps as "\\udxxx" escapes: the receiving side must refuse them.
texts_with_surrogates = st.text(st.characters(codec=None, categories=["Cs", "L", "Zs"]), min_size=1, max_size=10)
bodies = (
    near_messages.map(lambda m: json.dumps(m).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | texts_with_surrogates.map(lambda t: json.dumps({"id": "s1", "from": "u1", "text": t}).encode())
    | st.integers(1, 50_000).map(lambda depth: b"[" * depth + b"]" * depth)
    | st.binary(max_size=200)
)
# What an HTTP client can put in a header: Latin-1 text, no control characters, no outer spaces.
latin1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40).map(
    str.strip
)


@pytest.fixture
async def runtime(
    nats_server: NatsServer, tmp_path: Path, nats_api_key: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningChannels]:
    monkeypatch.setenv("CHANNELS_API_SECRET", SECRET)
    monkeypatch.setenv("CHANNELS_API_CALLBACK_URL", "http://127.0.0.1:9/replies")
    from inbox_channel_api.adapter import ApiChannelAdapter

    async with running_channels(nats_server.url, tmp_path, [ApiChannelAdapter()]) as running:
        yield running


def refused_clearly(response: httpx.Response) -> bool:
    """A 4xx with a one-line reason, or a success."""
    if response.is_success:
        return True
    reason = response.text.strip()
    return 400 <= response.status_code < 500 and bool(reason) and "\n" not in reason


async def test_fuzzed_webhooks_are_answered_clearly_and_only_accepted_ones_are_stored(
    runtime: RunningChannels,
) -> None:
    accepted: set[str] = set()

    def fuzz() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{runtime.http_port}") as client:

            @FUZZ
            @given(
                path=st.sampled_from(["/webhooks/api/messages", "/webhooks/api/status"]),
                body=bodies,
                signing=st.sampled_from(["signed", "forged", "unsigned"]),
                timestamp=st.none() | latin1,
                signature=latin1,
            )
            def check(path: str, body: bytes, signing: str, timestamp: str | None, signature: str) -> None:
                now = int(time.time())
                stamp = str(now) if timestamp is None else timestamp
                headers: dict[str, bytes] = {"x-inbox-timestamp": stamp.encode("latin-1")}
                if signing == "signed" and timestamp is None:
                    headers["x-inbox-signature"] = sign(SECRET, now, body).encode()
                elif signing != "unsigned":
                    headers["x-inbox-signature"] = signature.encode("latin-1")
                response = client.post(path, content=body, headers=headers)
                assert refused_clearly(response), (response.status_code, response.text)
                if path.endswith("/messages") and response.status_code == 202:
                    accepted.add(response.json()["message_id"])

            check()

    await asyncio.to_thread(fuzz)
    stored = await stored_events(runtime.nats_url, "inbound.api.*", events_pb2.InboundMessage, at_least=len(accepted))
    assert {event.message_id for event in stored} == accepted
