"""inbox-web's live notices (Server-Sent Events) over the real suite: only the agent who may see a
conversation hears of it, no content travels in a notice, a reconnect catches up or is told to reload,
and an open stream does not hold up a clean stop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import websockets
from inbox_devstack.suite import LocalSuite

from .test_inbox_web import PASSWORD, log_in, make_agent


async def frames(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Server-Sent Events as {field: value}, comments left out."""
    frame: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if frame:
                yield frame
            frame = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            frame[field] = value


async def next_event(stream: AsyncIterator[dict[str, str]], timeout: float = 15.0) -> dict[str, str]:
    async def first() -> dict[str, str]:
        async for frame in stream:
            if "event" in frame:
                return frame
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(first(), timeout)


async def test_notices_reach_only_the_assignee_carry_no_content_and_survive_reconnects(
    local_suite: LocalSuite, api_token: str
) -> None:
    await make_agent(local_suite, api_token, "ada")
    await asyncio.to_thread(local_suite.set_web_login, "bob", "bob", PASSWORD)  # not yet an available agent
    base = f"http://127.0.0.1:{local_suite.ports.web_http}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as ada, httpx.AsyncClient(base_url=base, timeout=30) as bob:
        assert (await log_in(ada, "ada", PASSWORD)).status_code == 303
        assert (await log_in(bob, "bob", PASSWORD)).status_code == 303
        async with (
            ada.stream("GET", "/events") as ada_events,
            bob.stream("GET", "/events") as bob_events,
        ):
            assert ada_events.headers["content-type"].startswith("text/event-stream")
            ada_stream, bob_stream = frames(ada_events), frames(bob_events)
            async with websockets.connect(f"ws://127.0.0.1:{local_suite.ports.channels_http}/chat/ws") as ws:
                await ws.send(json.dumps({"type": "hello"}))
                await ws.recv()
                await ws.send(json.dumps({"type": "message", "client_message_id": "m1", "text": "secret words"}))
                await ws.recv()
                notice = await next_event(ada_stream)
            assert notice["event"] == "conversation"
            assert "secret" not in notice["data"]  # ids and a kind, never content
            body = json.loads(notice["data"])
            page = await ada.get(f"/conversations/{body['conversation_id']}/partials/timeline")
            assert page.status_code == 200 and "secret words" in page.text
            # Bob may not see it: the page answers 404, and the first notice he gets is about the next
            # conversation, routed to him once he is available (the less busy agent), not about Ada's.
            assert (await bob.get(f"/conversations/{body['conversation_id']}/partials/timeline")).status_code == 404
            await make_agent(local_suite, api_token, "bob")
            async with websockets.connect(f"ws://127.0.0.1:{local_suite.ports.channels_http}/chat/ws") as other:
                await other.send(json.dumps({"type": "hello"}))
                await other.recv()
                await other.send(json.dumps({"type": "message", "client_message_id": "b1", "text": "hi"}))
                await other.recv()
                bobs = json.loads((await next_event(bob_stream))["data"])
            assert bobs["conversation_id"] != body["conversation_id"]
            assert (await bob.get(f"/conversations/{bobs['conversation_id']}/partials/timeline")).status_code == 200
            seen_id = notice["id"]
        # The same process replays what a reconnecting page missed; an unknown id means "reload".
        async with ada.stream("GET", "/events", headers={"last-event-id": "elsewhere-7"}) as again:
            assert (await next_event(frames(again)))["event"] == "reload"
        async with ada.stream("GET", "/events", headers={"last-event-id": seen_id}) as caught_up:
            missed = frames(caught_up)
            async with websockets.connect(f"ws://127.0.0.1:{local_suite.ports.channels_http}/chat/ws") as ws:
                await ws.send(json.dumps({"type": "hello"}))
                await ws.recv()
                await ws.send(json.dumps({"type": "message", "client_message_id": "m2", "text": "more"}))
                await ws.recv()
                later = await next_event(missed)
            assert later["event"] == "conversation" and later["id"] != seen_id
            # A stop with a page still listening is a clean stop (the fixture checks every exit code).
            assert local_suite.stop_service("inbox-web") == 0
