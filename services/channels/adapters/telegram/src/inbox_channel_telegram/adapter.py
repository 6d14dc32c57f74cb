"""Telegram, through its Bot API (https://core.telegram.org/bots/api): a channel this package adds alone.

In:  POST /webhooks/telegram  an Update, as Telegram posts it to the URL given to `setWebhook`, carrying the
     `secret_token` given there in `X-Telegram-Bot-Api-Secret-Token`. A text message in a private chat
     becomes an inbound item; any other update is answered 200 and dropped (Telegram resends what it is
     not answered 2xx for).
Out: POST <CHANNELS_TELEGRAM_API_URL>/bot<token>/sendMessage {"chat_id", "text"}. The Bot API takes no
     idempotency key: the adapter keeps its own record of what it sent, and sends once per message.

A customer is a channel account: their chat id, scoped to `telegram` (the same number on another channel
is another customer until an agent merges them). The bot token is a secret: it never reaches a log line.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_sdk import AdapterHost, Capabilities, DeliveryResult, HealthReport
from inbox_channel_sdk.webhooks import WebhookRejected, read_body, webhook
from inbox_runtime.auth import same_secret
from inbox_runtime.config import env, secret
from inbox_runtime.errors import InvalidInput
from inbox_runtime.sqlite import SqliteDatabase
from inbox_runtime.timestamps import now_us, stamp_now
from inbox_runtime.untrusted import parse_json
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

CHANNEL = "telegram"
# sendMessage's limit, in characters.
MAX_TEXT_LENGTH = 4096
SECRET_HEADER = "x-telegram-bot-api-secret-token"
ACCOUNT = message_pb2.CONTACT_POINT_KIND_CHANNEL_ACCOUNT
SCHEMA = """
CREATE TABLE IF NOT EXISTS telegram_sent (
    message_id TEXT PRIMARY KEY,
    telegram_message_id INTEGER NOT NULL,
    sent_at_us INTEGER NOT NULL
);
"""


class TelegramUnavailable(Exception):
    """The Bot API did not answer, or answered that it cannot now: the bus retries with backoff. Says what
    happened without the request's URL, which holds the bot's token."""


class DeliveryRefused(Exception):
    """Telegram will not take this message whatever the retries (the customer blocked the bot, say)."""


def telegram_message_id(chat_id: int, message_id: int) -> str:
    """Ours, from Telegram's: a message id is unique within its chat."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"telegram:{chat_id}:{message_id}"))


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 1 << 62 else None


def _name(sender: Any) -> str:
    if not isinstance(sender, dict):
        return ""
    parts = [sender.get("first_name"), sender.get("last_name")]
    return " ".join(p for p in parts if isinstance(p, str) and p.strip())[:200]


class TelegramAdapter:
    name = "telegram"
    channel = CHANNEL
    display_name = "Telegram"
    capabilities = Capabilities(max_text_length=MAX_TEXT_LENGTH)

    def __init__(self) -> None:
        self._token = secret("CHANNELS_TELEGRAM_BOT_TOKEN", min_length=16)
        self._webhook_secret = secret("CHANNELS_TELEGRAM_WEBHOOK_SECRET", min_length=16)
        self._api_url = env("CHANNELS_TELEGRAM_API_URL", str, "https://api.telegram.org").rstrip("/")
        self._inbox_id = env("CHANNELS_TELEGRAM_INBOX_ID", str, "telegram")
        self._host: AdapterHost | None = None
        self._db: SqliteDatabase | None = None
        self._client: httpx.AsyncClient | None = None

    def routes(self) -> Sequence[BaseRoute]:
        return [Route("/webhooks/telegram", webhook(self._update), methods=["POST"])]

    async def start(self, host: AdapterHost) -> None:
        self._host = host
        self._db = SqliteDatabase(host.data_dir / "telegram.sqlite3")
        await self._db.open(SCHEMA)
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0))

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self._db is not None:
            await self._db.close()

    async def health(self) -> HealthReport:
        return HealthReport(self._db is not None, f"Bot API at {self._api_url}")

    async def _update(self, request: Request) -> Response:
        assert self._host is not None
        if not same_secret(request.headers.get(SECRET_HEADER, ""), self._webhook_secret):
            raise WebhookRejected(403, "missing or invalid X-Telegram-Bot-Api-Secret-Token")
        try:
            update = parse_json(await read_body(request))
        except InvalidInput as exc:
            raise WebhookRejected(400, str(exc)) from None
        if not isinstance(update, dict):
            raise WebhookRejected(400, "an update is a JSON object")
        message = update.get("message")
        if not isinstance(message, dict):
            return JSONResponse({"ok": True, "ignored": "not a new message"})
        chat: dict[str, Any] = message["chat"] if isinstance(message.get("chat"), dict) else {}
        chat_id, message_id = _integer(chat.get("id")), _integer(message.get("message_id"))
        if chat_id is None or message_id is None:
            raise WebhookRejected(400, "message.chat.id and message.message_id must be integers")
        text = message.get("text")
        if chat.get("type") != "private" or not isinstance(text, str) or not text.strip():
            # Groups, and stickers, photos and the like: not carried by this adapter.
            return JSONResponse({"ok": True, "ignored": "not a text message in a private chat"})
        item = events_pb2.InboundMessage(
            message_id=telegram_message_id(chat_id, message_id),
            inbox_id=self._inbox_id,
            provider_message_id=f"{chat_id}:{message_id}",
            sender=message_pb2.ContactPoint(kind=ACCOUNT, value=str(chat_id), channel=CHANNEL),
            sender_name=_name(message.get("from")),
            text=text[:MAX_TEXT_LENGTH],
            kind=message_pb2.MESSAGE_KIND_TEXT,
        )
        if (sent_at := _integer(message.get("date"))) is not None and sent_at > 0:
            item.sent_at.FromSeconds(sent_at)
        stamp_now(item.received_at)
        await self._host.publish_inbound(item)
        return JSONResponse({"ok": True})

    async def deliver(self, message: events_pb2.OutboundMessage) -> DeliveryResult:
        assert self._db is not None and self._client is not None
        recipient = message.recipient
        chat_id = recipient.value
        if recipient.kind != ACCOUNT or recipient.channel != CHANNEL or not chat_id.lstrip("-").isdigit():
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, "the recipient is not a Telegram chat")
        already = await self._db.read(
            lambda conn: conn.execute(
                "SELECT telegram_message_id FROM telegram_sent WHERE message_id = ?", (message.message_id,)
            ).fetchone()
        )
        if already:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_SENT, f"already sent as Telegram message {already[0]}")
        try:
            sent = await self._send_message(int(chat_id), message.text)
        except DeliveryRefused as refused:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, str(refused))
        values = (message.message_id, sent, now_us())
        await self._db.write(lambda conn: conn.execute("INSERT OR IGNORE INTO telegram_sent VALUES (?, ?, ?)", values))
        return DeliveryResult(events_pb2.DELIVERY_STATUS_SENT, f"sent as Telegram message {sent}")

    async def _send_message(self, chat_id: int, text: str) -> int:
        """Telegram's id of the message sent; DeliveryRefused for what retrying cannot change (a blocked
        bot, an unknown chat), TelegramUnavailable for what it may."""
        assert self._client is not None
        try:
            response = await self._client.post(
                f"{self._api_url}/bot{self._token}/sendMessage", json={"chat_id": chat_id, "text": text}
            )
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TelegramUnavailable(f"the Bot API did not answer: {type(exc).__name__}") from None
        if not isinstance(answer, dict):
            raise TelegramUnavailable(f"the Bot API answered {response.status_code} without a JSON object")
        if answer.get("ok") is True and isinstance(answer.get("result"), dict):
            return _integer(answer["result"].get("message_id")) or 0
        description = str(answer.get("description", ""))[:300]
        if response.status_code == 429 or response.status_code >= 500:
            raise TelegramUnavailable(f"the Bot API answered {response.status_code}: {description}")
        raise DeliveryRefused(f"Telegram refused it ({response.status_code}): {description}")
