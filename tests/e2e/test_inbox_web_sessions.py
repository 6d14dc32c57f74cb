"""inbox-web's sessions over the real suite: a logout, a new password or a removed login ends the session
for every copy of its cookie (and an open live feed); failed logins are throttled; pages are not cached."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from inbox.routing.v1 import routing_service_pb2, routing_service_pb2_grpc
from inbox_devstack.suite import LocalSuite
from inbox_runtime.grpc_client import authenticated_channel

from .conftest import PASSWORD, csrf_of, log_in, make_agent


def copy_of(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Another browser holding a replayed copy of the client's cookies."""
    return httpx.AsyncClient(base_url=str(client.base_url), cookies=dict(client.cookies))


async def log_out(client: httpx.AsyncClient) -> None:
    inbox = await client.get("/")
    assert (await client.post("/logout", data={"csrf": csrf_of(inbox.text)})).status_code == 303


async def test_logging_out_ends_every_copy_of_the_session(web: httpx.AsyncClient) -> None:
    assert (await log_in(web, "ada", PASSWORD)).status_code == 303
    async with copy_of(web) as replayed:
        assert (await replayed.get("/")).status_code == 200
        await log_out(web)
        refused = await replayed.get("/")
        assert refused.status_code == 303 and refused.headers["location"] == "/login"
        assert (await replayed.get("/events")).status_code == 303


async def test_a_new_password_or_a_removed_login_signs_the_login_out_everywhere(
    local_suite: LocalSuite, web: httpx.AsyncClient
) -> None:
    await log_in(web, "ada", PASSWORD)
    await asyncio.to_thread(local_suite.set_web_login, "ada", "ada", "a brand new passphrase")
    assert (await web.get("/")).headers["location"] == "/login"
    assert (await log_in(web, "ada", PASSWORD)).status_code == 401
    assert (await log_in(web, "ada", "a brand new passphrase")).status_code == 303
    assert (await web.get("/")).status_code == 200

    removed = await asyncio.to_thread(local_suite.remove_web_login, "ada")
    assert "login 'ada' removed" in removed
    assert (await web.get("/")).headers["location"] == "/login"
    assert (await log_in(web, "ada", "a brand new passphrase")).status_code == 401


async def test_failed_logins_are_throttled_with_a_clear_wait(web: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert (await log_in(web, "ada", "not the password")).status_code == 401
    # Even the right password waits now: a guesser learns nothing more.
    throttled = await log_in(web, "ada", PASSWORD)
    assert throttled.status_code == 429
    assert "Too many failed attempts. Try again in 15 minutes." in throttled.text
    assert 0 < int(throttled.headers["retry-after"]) <= 15 * 60
    async with httpx.AsyncClient(base_url=str(web.base_url)) as other_browser:
        assert (await log_in(other_browser, "ada", PASSWORD)).status_code == 429  # per account, not per cookie


async def test_pages_are_never_cached_static_files_are(web: httpx.AsyncClient) -> None:
    await log_in(web, "ada", PASSWORD)
    for path in ("/", "/login", "/supervisor"):
        assert (await web.get(path)).headers["cache-control"] == "no-store"
    script = await web.get("/static/live.js")
    assert script.status_code == 200 and "no-store" not in script.headers.get("cache-control", "")
    assert "strict-transport-security" not in script.headers  # plain HTTP here (WEB_SECURE_COOKIES off)


async def test_an_open_live_feed_ends_when_its_session_does(
    local_suite: LocalSuite, api_key: str, web: httpx.AsyncClient
) -> None:
    await asyncio.to_thread(local_suite.set_web_login, "lead", "lead", PASSWORD, supervisor=True)
    await make_agent(local_suite, api_key, "bob")
    await log_in(web, "lead", PASSWORD)
    presences = [routing_service_pb2.PRESENCE_AWAY, routing_service_pb2.PRESENCE_AVAILABLE]
    async with (
        web.stream("GET", "/events") as feed,
        authenticated_channel(f"127.0.0.1:{local_suite.ports.routing_grpc}", api_key) as channel,
    ):
        assert feed.status_code == 200
        async with copy_of(web) as elsewhere:
            await log_out(elsewhere)  # the same session, ended from another tab
        routing = routing_service_pb2_grpc.RoutingServiceStub(channel)
        seen: list[str] = []
        ended = asyncio.Event()

        async def read() -> None:
            async for line in feed.aiter_lines():
                seen.append(line)
            ended.set()

        reader = asyncio.create_task(read())
        # Each change of bob's presence is a notice for the supervisor's feed; the feed checks its session
        # as notices pass (at most once a second), says it is signed out and ends.
        for turn in range(60):
            await routing.SetPresence(
                routing_service_pb2.SetPresenceRequest(agent_id="bob", presence=presences[turn % 2])
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), timeout=0.5)
            if ended.is_set():
                break
        reader.cancel()
        assert ended.is_set() and "event: signed-out" in seen
