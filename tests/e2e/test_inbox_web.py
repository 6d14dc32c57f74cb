"""The agents' web app over the real suite: login, my conversations, inert customer text, reply, CSRF."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import websockets
from inbox.conversations.v1 import conversation_service_pb2 as conv_pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as conv_grpc
from inbox.message.v1 import message_pb2
from inbox_devstack.suite import LocalSuite
from inbox_runtime.grpc_client import authenticated_channel

from .conftest import PASSWORD, csrf_of, log_in, make_agent

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> invoice\u202egnp.exe'


async def test_pages_need_a_login_and_wrong_passwords_are_refused(web: httpx.AsyncClient) -> None:
    assert (await web.get("/")).headers["location"] == "/login"
    wrong = await log_in(web, "ada", "not the password")
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    unknown = await log_in(web, "nobody", PASSWORD)
    assert unknown.status_code == 401
    no_csrf = await web.post("/login", data={"username": "ada", "password": PASSWORD})
    assert no_csrf.status_code == 403


async def test_a_login_routing_has_no_agent_for_gets_its_inbox_with_no_offers(
    local_suite: LocalSuite, web: httpx.AsyncClient
) -> None:
    # A supervisor who takes no conversations: routing answers NOT_FOUND for their offers.
    await asyncio.to_thread(local_suite.set_web_login, "lead", "lead", PASSWORD, supervisor=True)
    assert (await log_in(web, "lead", PASSWORD)).status_code == 303
    inbox = await web.get("/")
    assert inbox.status_code == 200 and "Offered to you" not in inbox.text


async def test_agent_reads_inert_customer_text_and_replies(
    local_suite: LocalSuite, api_key: str, web: httpx.AsyncClient
) -> None:
    ok = await log_in(web, "ada", PASSWORD)
    assert ok.status_code == 303 and ok.headers["location"] == "/"

    async with websockets.connect(f"ws://127.0.0.1:{local_suite.ports.channels_http}/chat/ws") as ws:
        await ws.send(json.dumps({"type": "hello"}))
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "client_message_id": "m1", "text": HOSTILE}))
        await ws.recv()

        link = None
        for _ in range(150):
            inbox = await web.get("/")
            link = re.search(r'href="(/conversations/[0-9a-f-]+)"', inbox.text)
            if link:
                break
            await asyncio.sleep(0.1)
        assert link, inbox.text
        page = await web.get(link.group(1))
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
        # A bidi override is shown as what it is, never obeyed.
        assert "\u202e" not in page.text and "[U+202E]gnp.exe" in page.text
        policy = page.headers["content-security-policy"]
        # Scripts only from our own origin: never inline, never an event handler attribute, never eval.
        assert "script-src 'self';" in policy and "unsafe" not in policy
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        # The reply picker offers what this deployment runs and can carry a text reply: chat (the customer's
        # latest, the default) and email here; no SMS or phone, which are not configured.
        picker = re.search(r'<select id="reply-channel" name="channel">(.*?)</select>', page.text, re.S)
        assert picker is not None
        assert re.findall(r'<option value="([a-z]*)">', picker.group(1)) == ["", "email"]

        reply_url = link.group(1) + "/reply"
        forged = await web.post(reply_url, data={"text": "hi", "client_reply_id": "r1", "csrf": "forged"})
        assert forged.status_code == 403
        reply_id = re.search(r'name="client_reply_id" value="([^"]+)"', page.text)
        assert reply_id
        form = {"text": "Thanks, looking into it.", "client_reply_id": reply_id.group(1), "csrf": csrf_of(page.text)}
        sent = await web.post(reply_url, data=form)
        assert sent.status_code == 303
        # A double submit of the same form sends nothing more.
        assert (await web.post(reply_url, data=form)).status_code == 303
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
        assert frame["text"] == "Thanks, looking into it."
        # The thread holds the reply once: both submits were answered after threading took them.
        conversation_id = link.group(1).rsplit("/", 1)[1]
        async with authenticated_channel(f"127.0.0.1:{local_suite.ports.conversations_grpc}", api_key) as channel:
            listed = await conv_grpc.ConversationServiceStub(channel).ListMessages(
                conv_pb.ListMessagesRequest(conversation_id=conversation_id)
            )
        replies = [m.text for m in listed.messages if m.direction == message_pb2.DIRECTION_OUTBOUND]
        assert replies == ["Thanks, looking into it."]

        empty = await web.post(reply_url, data={**form, "client_reply_id": "r2", "text": "   "})
        assert empty.status_code == 400 and "text must not be empty" in empty.text

    await make_agent(local_suite, api_key, "bob")
    async with httpx.AsyncClient(base_url=str(web.base_url)) as bob:
        await log_in(bob, "bob", PASSWORD)
        assert (await bob.get(link.group(1))).status_code == 404
        assert (await bob.get("/conversations/not-a-uuid")).status_code == 404
