"""The chat WebSocket fuzzed (hypothesis) against a real channels runtime: whatever a visitor's browser
sends, a bad hello gets an error frame before the close, any other bad frame gets an error frame and the
session goes on, and what is stored is exactly what was accepted."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inbox.channels.v1 import events_pb2
from inbox_channels.app import RunningChannels
from inbox_devstack.events import stored_events
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

FUZZ = settings(
    max_examples=120, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
# A frame the server always answers with an error: after it, every answer to the fuzzed frame has come.
SENTINEL = json.dumps({"type": "sentinel"})

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
# Text with lone surrogates too: json.dumps sends them as "\\udxxx" escapes.
any_text = st.text(st.characters(codec=None), max_size=30)
near_frames = st.fixed_dictionaries(
    {"type": st.sampled_from(["hello", "message", "identify", "typing", "read", "other"])},
    optional={
        "client_message_id": st.sampled_from(["m1", "m-2"]) | any_text | json_values,
        "text": any_text | json_values,
        "attachments": st.lists(any_text, max_size=2) | json_values,
        "visitor_token": any_text,
        "name": any_text | json_values,
        "user_id": any_text,
        "email": st.sampled_from(["grace@example.org"]) | any_text,
        "signature": any_text,
        "active": st.booleans() | json_values,
        "message_id": any_text,
    },
)
frames = (
    near_frames.map(json.dumps)
    | json_values.map(json.dumps)
    | st.integers(1, 20_000).map(lambda depth: "[" * depth + "]" * depth)
    | st.text(max_size=50)
    | st.binary(max_size=50)
)


def answers_until_sentinel(ws: ClientConnection) -> list[dict[str, object]]:
    ws.send(SENTINEL)
    answers: list[dict[str, object]] = []
    while True:
        answer = json.loads(ws.recv(timeout=10))
        assert isinstance(answer, dict) and isinstance(answer.get("type"), str), answer
        if answer.get("detail") == "unknown frame type 'sentinel'":
            return answers
        answers.append(answer)


async def test_fuzzed_frames_get_an_answer_and_only_accepted_messages_are_stored(channels: RunningChannels) -> None:
    url = f"ws://127.0.0.1:{channels.http_port}/chat/ws"
    accepted: set[str] = set()

    def fuzz() -> None:
        with connect(url) as ws:
            ws.send(json.dumps({"type": "hello", "name": "Grace"}))
            assert json.loads(ws.recv(timeout=10))["type"] == "welcome"

            @FUZZ
            @given(frame=frames)
            def session_goes_on(frame: str | bytes) -> None:
                ws.send(frame)
                for answer in answers_until_sentinel(ws):  # raises if the connection was dropped
                    if answer["type"] == "accepted":
                        accepted.add(str(answer["message_id"]))
                    else:
                        assert answer["type"] in ("error", "identified"), answer

            session_goes_on()

    await asyncio.to_thread(fuzz)
    stored = await stored_events(channels.nats_url, "inbound.chat.*", events_pb2.InboundMessage, at_least=len(accepted))
    assert {event.message_id for event in stored} == accepted


async def test_a_fuzzed_hello_is_welcomed_or_refused_with_an_error_frame_first(channels: RunningChannels) -> None:
    url = f"ws://127.0.0.1:{channels.http_port}/chat/ws"

    def fuzz() -> None:
        @FUZZ
        @given(frame=frames)
        def answered(frame: str | bytes) -> None:
            with connect(url) as ws:
                ws.send(frame)
                answer = json.loads(ws.recv(timeout=10))
                if answer["type"] != "welcome":
                    assert answer["type"] == "error" and answer["code"] == "bad_hello", answer
                    try:
                        ws.recv(timeout=10)
                    except ConnectionClosed as closed:
                        assert closed.rcvd is not None and closed.rcvd.code == 4400
                    else:
                        raise AssertionError("a refused hello closes the session")

        answered()

    await asyncio.to_thread(fuzz)
