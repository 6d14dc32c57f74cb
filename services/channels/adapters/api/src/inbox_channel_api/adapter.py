"""Generic API channel.

In:  POST /webhooks/api/messages   {"id": "...", "from": "<user id>", "name": "...", "text": "..."}
     POST /webhooks/api/status     {"message_id": "...", "status": "delivered" | "read" | "failed", "detail": "..."}
Out: POST <CHANNELS_API_CALLBACK_URL>  {"message_id", "conversation_id", "to", "text"} with `Idempotency-Key`.
Every request, both ways, is signed with the shared secret (see signing.py).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_sdk import AdapterHost, Capabilities, DeliveryResult, HealthReport
from inbox_channel_sdk.webhooks import WebhookRejected, read_body, webhook
from inbox_runtime.config import env, secret
from inbox_runtime.errors import InvalidInput
from inbox_runtime.signing import sign, verify
from inbox_runtime.sqlite import SqliteDatabase
from inbox_runtime.timestamps import now_us, stamp_now
from inbox_runtime.untrusted import parse_json
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

MAX_TEXT_LENGTH = 20_000
_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
STATUS_MAP = {
    "delivered": events_pb2.DELIVERY_STATUS_DELIVERED,
    "read": events_pb2.DELIVERY_STATUS_READ,
    "failed": events_pb2.DELIVERY_STATUS_FAILED,
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS api_sent (
    message_id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    sent_at_us INTEGER NOT NULL
);
"""


def api_message_id(external_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"api:{external_id}"))


def _field(payload: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None, limit: int = 200) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        raise WebhookRejected(400, f"{name} must be a non-empty string")
    if len(value) > limit or (pattern is not None and not pattern.match(value)):
        raise WebhookRejected(400, f"{name} is not valid")
    return value


class ApiChannelAdapter:
    name = "api"
    channel = "api"
    display_name = "API"
    capabilities = Capabilities(max_text_length=MAX_TEXT_LENGTH, read_receipts=True)

    def __init__(self) -> None:
        self._secret = secret("CHANNELS_API_SECRET", min_length=24)
        self._callback_url = env("CHANNELS_API_CALLBACK_URL")
        self._inbox_id = env("CHANNELS_API_INBOX_ID", str, "api")
        self._host: AdapterHost | None = None
        self._db: SqliteDatabase | None = None
        self._client: httpx.AsyncClient | None = None

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route("/webhooks/api/messages", webhook(self._inbound), methods=["POST"]),
            Route("/webhooks/api/status", webhook(self._status), methods=["POST"]),
        ]

    async def start(self, host: AdapterHost) -> None:
        self._host = host
        self._db = SqliteDatabase(host.data_dir / "api.sqlite3")
        await self._db.open(SCHEMA)
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0))

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self._db is not None:
            await self._db.close()

    async def health(self) -> HealthReport:
        return HealthReport(self._db is not None, f"callback {self._callback_url}")

    async def _signed_json(self, request: Request) -> dict[str, Any]:
        body = await read_body(request)
        problem = verify(
            self._secret,
            request.headers.get("x-inbox-timestamp", ""),
            request.headers.get("x-inbox-signature", ""),
            body,
            int(time.time()),
        )
        if problem:
            raise WebhookRejected(403, problem)
        try:
            payload = parse_json(body)
        except InvalidInput as exc:
            raise WebhookRejected(400, str(exc)) from None
        if not isinstance(payload, dict):
            raise WebhookRejected(400, "body must be a JSON object")
        return payload

    async def _inbound(self, request: Request) -> Response:
        assert self._host is not None
        payload = await self._signed_json(request)
        external_id = _field(payload, "id", _ID)
        sender = _field(payload, "from", _ID)
        text = _field(payload, "text", limit=MAX_TEXT_LENGTH)
        name = payload.get("name") if isinstance(payload.get("name"), str) else ""
        item = events_pb2.InboundMessage(
            message_id=api_message_id(external_id),
            inbox_id=self._inbox_id,
            provider_message_id=external_id,
            # Signed by a trusted system: its user ids are verified identities.
            sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_EXTERNAL_USER, value=sender),
            sender_name=str(name)[:200],
            text=text,
            kind=message_pb2.MESSAGE_KIND_TEXT,
        )
        stamp_now(item.received_at)
        await self._host.publish_inbound(item)
        return JSONResponse({"message_id": item.message_id}, status_code=202)

    async def _status(self, request: Request) -> Response:
        assert self._host is not None and self._db is not None
        payload = await self._signed_json(request)
        message_id = _field(payload, "message_id", _ID)
        status = STATUS_MAP.get(str(payload.get("status")))
        if status is None:
            raise WebhookRejected(400, f"status must be one of {sorted(STATUS_MAP)}")
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT conversation_id FROM api_sent WHERE message_id = ?", (message_id,)
            ).fetchone()
        )
        if row is None:
            raise WebhookRejected(404, "no such message")
        detail = payload.get("detail") if isinstance(payload.get("detail"), str) else ""
        await self._host.report_delivery(message_id, row[0], status, str(detail)[:500])
        return JSONResponse({"ok": True})

    async def deliver(self, message: events_pb2.OutboundMessage) -> DeliveryResult:
        assert self._db is not None and self._client is not None
        if message.recipient.kind != message_pb2.CONTACT_POINT_KIND_EXTERNAL_USER:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, "recipient is not an API user")
        already = await self._db.read(
            lambda conn: conn.execute("SELECT 1 FROM api_sent WHERE message_id = ?", (message.message_id,)).fetchone()
        )
        if already:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_SENT, "already delivered to the callback")
        body = json.dumps(
            {
                "message_id": message.message_id,
                "conversation_id": message.conversation_id,
                "to": message.recipient.value,
                "text": message.text,
            }
        ).encode()
        timestamp = int(time.time())
        response = await self._client.post(
            self._callback_url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": message.idempotency_key or message.message_id,
                "X-Inbox-Timestamp": str(timestamp),
                "X-Inbox-Signature": sign(self._secret, timestamp, body),
            },
        )
        if 400 <= response.status_code < 500:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, f"callback refused it ({response.status_code})")
        response.raise_for_status()  # 5xx: the bus retries with backoff
        values = (message.message_id, message.conversation_id, now_us())
        await self._db.write(lambda conn: conn.execute("INSERT OR IGNORE INTO api_sent VALUES (?, ?, ?)", values))
        return DeliveryResult(events_pb2.DELIVERY_STATUS_SENT, "accepted by the callback")
