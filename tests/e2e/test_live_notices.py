"""inbox-web's live notices (Server-Sent Events) over the real suite: only the agent who may see a
conversation hears of it, no content travels in a notice, a reconnect catches up or is told to reload,
and an open stream does not hold up a clean stop."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import websockets
from inbox_devstack.suite import SERVICES, LocalSuite

from .conftest import PASSWORD, log_in, make_agent


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


def number_of(frame: dict[str, str]) -> int:
    return int(frame["id"].rpartition("-")[2])


async def customer_chat(suite: LocalSuite) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """A visitor on the chat WebSocket; each call sends a message and waits until it is accepted."""
    async with websockets.connect(f"ws://127.0.0.1:{suite.ports.channels_http}/chat/ws") as ws:
        await ws.send(json.dumps({"type": "hello"}))
        await ws.recv()

        async def say(text: str) -> None:
            await ws.send(json.dumps({"type": "message", "client_message_id": uuid.uuid4().hex, "text": text}))
            await ws.recv()

        yield say


async def test_notices_reach_only_the_assignee_carry_no_content_and_survive_reconnects(
    local_suite: LocalSuite, api_key: str
) -> None:
    await make_agent(local_suite, api_key, "ada")
    await asyncio.to_thread(local_suite.set_web_login, "bob", "bob", PASSWORD)  # not yet an available agent
    base = f"http://127.0.0.1:{local_suite.ports.web_http}"
    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as ada,
        httpx.AsyncClient(base_url=base, timeout=30) as bob,
        asynccontextmanager(customer_chat)(local_suite) as grace_says,
    ):
        assert (await log_in(ada, "ada", PASSWORD)).status_code == 303
        assert (await log_in(bob, "bob", PASSWORD)).status_code == 303
        async with ada.stream("GET", "/events") as first, bob.stream("GET", "/events") as bob_events:
            assert first.headers["content-type"].startswith("text/event-stream")
            bob_stream = frames(bob_events)
            await grace_says("secret words")
            notice = await next_event(frames(first))
            assert notice["event"] == "conversation"
            assert "secret" not in notice["data"]  # ids and a kind, never content
            conversation_id = json.loads(notice["data"])["conversation_id"]
            page = await ada.get(f"/conversations/{conversation_id}/partials/timeline")
            assert page.status_code == 200 and "secret words" in page.text
            # Bob may not see it: the page answers 404, and the first notice he gets is about the next
            # conversation, routed to him once he is available (the less busy agent), not about Ada's.
            assert (await bob.get(f"/conversations/{conversation_id}/partials/timeline")).status_code == 404
            await make_agent(local_suite, api_key, "bob", web_login=False)  # signed in already
            async with asynccontextmanager(customer_chat)(local_suite) as linus_says:
                await linus_says("hi")
                bobs = json.loads((await next_event(bob_stream))["data"])
            assert bobs["conversation_id"] != conversation_id
            assert (await bob.get(f"/conversations/{bobs['conversation_id']}/partials/timeline")).status_code == 200
            # Search shows each of them their own conversations only.
            assert "secret words" in (await ada.get("/search", params={"q": "secret"})).text
            assert "Nothing found" in (await bob.get("/search", params={"q": "secret"})).text
        seen_id = notice["id"]
        # Ada's page is gone; Grace writes again (another page of Ada's witnesses the notice); Ada's page
        # comes back with the last id it saw and gets what it missed.
        async with ada.stream("GET", "/events") as witness:
            await grace_says("are you there?")
            missed = await next_event(frames(witness))
        async with ada.stream("GET", "/events", headers={"last-event-id": seen_id}) as back:
            replay = frames(back)
            numbers = []
            while not numbers or numbers[-1] < number_of(missed):
                numbers.append(number_of(await next_event(replay)))
            # Everything after the last id seen, in order, up to what the witness saw.
            assert (
                numbers == sorted(set(numbers)) and numbers[0] > number_of(notice) and numbers[-1] == number_of(missed)
            )
            # A stop with a page still listening is a clean stop (the fixture checks every exit code).
            assert local_suite.stop_service("inbox-web") == 0
        # An id from another process (or too old) asks the page to reload instead.
        local_suite.start_service(next(s for s in SERVICES if s.name == "inbox-web"))
        await asyncio.to_thread(local_suite.wait_ready, next(s for s in SERVICES if s.name == "inbox-web"))
        assert (await log_in(ada, "ada", PASSWORD)).status_code == 303
        async with ada.stream("GET", "/events", headers={"last-event-id": seen_id}) as elsewhere:
            assert (await next_event(frames(elsewhere)))["event"] == "reload"
