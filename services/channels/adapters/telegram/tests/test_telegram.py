"""The Telegram adapter against a local server speaking the Bot API: the conformance kit, what it ignores
and refuses, and, over the whole suite, a Telegram customer routed to an agent who answers in the web inbox.

Nothing outside this package names Telegram: the suite finds the adapter through its entry point, and
routing, threading and inbox-web know its channel by the name it declares."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import routing_service_pb2 as routing_pb
from inbox.routing.v1 import routing_service_pb2_grpc as routing_grpc
from inbox_channels.app import RunningChannels
from inbox_channels.conformance import AdapterConformance, ConformanceCase, InboundSample
from inbox_devstack.suite import LocalSuite
from inbox_devstack.waiting import eventually
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for, authenticated_channel
from inbox_runtime.http_server import http_server
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN = "123456:test-bot-token-of-the-suite"
WEBHOOK_SECRET = "telegram-webhook-secret-0123"
ACCOUNT = message_pb2.CONTACT_POINT_KIND_CHANNEL_ACCOUNT
BLOCKED_CHAT = 666


@dataclass
class BotApi:
    """Telegram's Bot API, its sendMessage: every call kept, the bot's token checked, a chat that blocked
    the bot refused as Telegram refuses it."""

    port: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def send_message(request: Request) -> JSONResponse:
            if request.path_params["token"] != TOKEN:
                return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401)
            sent = await request.json()
            self.calls.append(sent)
            if sent.get("chat_id") == BLOCKED_CHAT:
                refusal = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
                return JSONResponse(refusal, status_code=403)
            result = {"message_id": len(self.calls), "chat": {"id": sent["chat_id"]}, "text": sent["text"]}
            return JSONResponse({"ok": True, "result": result})

        return Starlette(routes=[Route("/bot{token}/sendMessage", send_message, methods=["POST"])])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def bot_api() -> AsyncIterator[BotApi]:
    api = BotApi()
    async with http_server(api.app(), host="127.0.0.1", port=0) as port:
        api.port = port
        yield api


def settings(bot_api: BotApi) -> dict[str, str]:
    return {
        "CHANNELS_TELEGRAM_BOT_TOKEN": TOKEN,
        "CHANNELS_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CHANNELS_TELEGRAM_API_URL": bot_api.url,
    }


def update(
    chat_id: int, message_id: int, text: str = "Where is my parcel?", chat_type: str = "private"
) -> dict[str, Any]:
    sender = {"id": chat_id, "is_bot": False, "first_name": "Grace", "last_name": "Hopper"}
    chat = {"id": chat_id, "type": chat_type, "first_name": "Grace"}
    message = {"message_id": message_id, "from": sender, "chat": chat, "date": 1_800_000_000, "text": text}
    return {"update_id": 10_000 + message_id, "message": message}


async def post_update(port: int, payload: object, secret: str | None = WEBHOOK_SECRET) -> httpx.Response:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        return await client.post("/webhooks/telegram", json=payload, headers=headers)


def sample(chat_id: int, message_id: int) -> InboundSample:
    async def send(runtime: RunningChannels) -> bool:
        return (await post_update(runtime.http_port, update(chat_id, message_id))).status_code == 200

    contact = message_pb2.ContactPoint(kind=ACCOUNT, value=str(chat_id), channel="telegram")
    return InboundSample(f"chat {chat_id}", send, f"{chat_id}:{message_id}", contact)


async def forged_secret(runtime: RunningChannels) -> bool:
    return (await post_update(runtime.http_port, update(1, 1), secret="not-the-webhook-secret")).is_success


async def no_secret(runtime: RunningChannels) -> bool:
    return (await post_update(runtime.http_port, update(1, 2), secret=None)).is_success


class TestConformance(AdapterConformance):
    @pytest.fixture
    def case(self, bot_api: BotApi, monkeypatch: pytest.MonkeyPatch) -> ConformanceCase:
        for key, value in settings(bot_api).items():
            monkeypatch.setenv(key, value)
        from inbox_channel_telegram.adapter import TelegramAdapter

        return ConformanceCase(
            make_adapter=TelegramAdapter,
            samples=[sample(5551234, 1), sample(5559876, 1)],
            forged=[forged_secret, no_secret],
            recipient=message_pb2.ContactPoint(kind=ACCOUNT, value="5551234", channel="telegram"),
            # The Bot API takes no idempotency key: each call counts.
            provider_received=lambda: ["" for _ in bot_api.calls],
            provider_deduplicates=False,
        )

    async def test_other_updates_are_answered_and_dropped_bad_ones_refused(self, runtime: RunningChannels) -> None:
        port = runtime.http_port
        edited = {"update_id": 1, "edited_message": update(5551234, 3)["message"]}
        for dropped in (edited, update(5551234, 4, chat_type="group"), update(5551234, 5, text="")):
            answered = await post_update(port, dropped)
            assert answered.status_code == 200 and answered.json()["ok"] is True
        malformed = await post_update(port, {"message": {"chat": {"id": "x"}, "message_id": 1, "text": "hi"}})
        assert (malformed.status_code, malformed.text) == (
            400,
            "message.chat.id and message.message_id must be integers",
        )
        assert (await post_update(port, ["not", "an", "object"])).status_code == 400
        assert await self.inbound(runtime) == []

    async def test_a_chat_that_blocked_the_bot_fails_with_telegrams_reason(
        self, runtime: RunningChannels, bot_api: BotApi
    ) -> None:
        [adapter] = runtime.actions.adapters
        blocked = events_pb2.OutboundMessage(
            message_id="to-blocked",
            recipient=message_pb2.ContactPoint(kind=ACCOUNT, value=str(BLOCKED_CHAT), channel="telegram"),
            text="hello",
        )
        result = await adapter.deliver(blocked)
        assert result.status == events_pb2.DELIVERY_STATUS_FAILED
        assert result.detail == "Telegram refused it (403): Forbidden: bot was blocked by the user"
        elsewhere = message_pb2.ContactPoint(kind=ACCOUNT, value="5551234", channel="whatsapp")
        assert (await adapter.deliver(events_pb2.OutboundMessage(message_id="x", recipient=elsewhere))).status == (
            events_pb2.DELIVERY_STATUS_FAILED
        )


async def test_an_unreachable_bot_api_is_retried_and_never_logs_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from inbox_channel_telegram.adapter import TelegramAdapter, TelegramUnavailable

    for key, value in settings(BotApi(port=9)).items():  # port 9: nothing listens
        monkeypatch.setenv(key, value)
    adapter = TelegramAdapter()
    adapter._client = httpx.AsyncClient()
    try:
        with pytest.raises(TelegramUnavailable) as failed:
            await adapter._send_message(5551234, "hi")
    finally:
        await adapter._client.aclose()
    assert TOKEN not in str(failed.value) and "ConnectError" in str(failed.value)


# --- the whole suite ---------------------------------------------------------------------------


@pytest.fixture
def suite_env(bot_api: BotApi) -> dict[str, str]:
    """The channels service of `local_suite` hosts the adapter, talking to `bot_api`."""
    return settings(bot_api)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def test_a_telegram_customer_is_routed_to_an_agent_who_answers_in_the_web_inbox(
    local_suite: LocalSuite, api_key: str, bot_api: BotApi
) -> None:
    # An agent who takes one Telegram conversation at a time, and routing's rules know the channel.
    async with authenticated_channel(f"127.0.0.1:{local_suite.ports.routing_grpc}", api_key) as channel:
        routing = routing_grpc.RoutingServiceStub(channel)
        await routing.UpsertAgent(
            routing_pb.UpsertAgentRequest(
                agent_id="ada",
                display_name="Ada",
                capacities=[routing_pb.ChannelCapacity(channel_name="telegram", capacity=1)],
            )
        )
        await routing.SetPresence(routing_pb.SetPresenceRequest(agent_id="ada", presence=routing_pb.PRESENCE_AVAILABLE))
        rules = {"rules": [{"id": "messengers", "match": {"channels": ["telegram"]}, "priority": 5}]}
        with acting_for(Agent("ops", supervisor=True)):
            await routing.UpdateRules(routing_pb.UpdateRulesRequest(document=json.dumps(rules), agent_id="ops"))
    await asyncio.to_thread(local_suite.set_web_login, "ada", "ada", "correct horse battery")

    answered = await post_update(local_suite.ports.channels_http, update(5551234, 1))
    assert answered.status_code == 200, answered.text

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{local_suite.ports.web_http}") as web:
        form = await web.get("/login")
        logged_in = await web.post(
            "/login", data={"username": "ada", "password": "correct horse battery", "csrf": csrf_of(form.text)}
        )
        assert logged_in.status_code == 303

        async def conversation_link() -> str | None:
            found = re.search(r'href="(/conversations/[0-9a-f-]+)"', (await web.get("/")).text)
            return found.group(1) if found else None

        link = await eventually(conversation_link, 30, what="the Telegram conversation in ada's inbox")
        # Her list narrows to the channel like to any other.
        narrowed = await web.get("/", params={"channel": "telegram"})
        assert narrowed.status_code == 200 and link in narrowed.text
        assert '<option value="telegram" selected>' in narrowed.text
        page = await web.get(link)
        assert "Grace Hopper" in page.text and "Where is my parcel?" in page.text and "telegram" in page.text
        picker = re.search(r'<select id="reply-channel" name="channel">(.*?)</select>', page.text, re.S)
        assert picker is not None and "telegram" in picker.group(1)
        reply_id = re.search(r'name="client_reply_id" value="([^"]+)"', page.text)
        assert reply_id
        sent = await web.post(
            link + "/reply",
            data={"text": "It left today.", "client_reply_id": reply_id.group(1), "csrf": csrf_of(page.text)},
        )
        assert sent.status_code == 303

    async def delivered() -> list[dict[str, Any]]:
        return list(bot_api.calls)

    assert await eventually(delivered, 30, what="the reply at the Bot API") == [
        {"chat_id": 5551234, "text": "It left today."}
    ]
