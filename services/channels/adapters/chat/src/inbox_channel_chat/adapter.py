"""The chat adapter: WebSocket sessions in, agent replies out (held until the visitor is back)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_sdk import AdapterHost, Capabilities, DeliveryResult, HealthReport
from inbox_runtime.config import env, secret
from inbox_runtime.errors import InvalidInput
from inbox_runtime.sqlite import SqliteDatabase
from inbox_runtime.timestamps import now_us
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from inbox_channel_chat.protocol import (
    MAX_TEXT_LENGTH,
    ChatText,
    Hello,
    inbound_message_id,
    issue_visitor_token,
    parse_frame,
    verify_visitor_token,
)

log = structlog.get_logger(__name__)

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    visitor_id TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at_us INTEGER NOT NULL,
    delivered_at_us INTEGER
);
CREATE INDEX IF NOT EXISTS chat_outbox_pending ON chat_outbox(visitor_id, seq) WHERE delivered_at_us IS NULL;
"""

HELLO_TIMEOUT_SECONDS = 10.0


class ChatAdapter:
    name = "chat"
    channel = message_pb2.CHANNEL_CHAT
    capabilities = Capabilities(max_text_length=MAX_TEXT_LENGTH, typing_indicators=True, read_receipts=True)

    def __init__(self) -> None:
        self._secret = secret("CHANNELS_CHAT_SECRET")
        self._inbox_id = env("CHANNELS_CHAT_INBOX_ID", str, "chat")
        self._host: AdapterHost | None = None
        self._outbox: SqliteDatabase | None = None
        self._sockets: dict[str, set[WebSocket]] = defaultdict(set)
        # One flush at a time per visitor, so a reply is never sent twice by racing flushes.
        self._flush_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def routes(self) -> Sequence[BaseRoute]:
        return [WebSocketRoute("/chat/ws", self._session)]

    async def start(self, host: AdapterHost) -> None:
        self._host = host
        self._outbox = SqliteDatabase(host.data_dir / "chat-outbox.sqlite3")
        await self._outbox.open(OUTBOX_SCHEMA)

    async def stop(self) -> None:
        for sockets in list(self._sockets.values()):
            for socket in list(sockets):
                with contextlib.suppress(Exception):
                    await socket.close(code=1001)
        if self._outbox is not None:
            await self._outbox.close()

    async def health(self) -> HealthReport:
        visitors = sum(1 for s in self._sockets.values() if s)
        return HealthReport(healthy=self._outbox is not None, detail=f"{visitors} visitors connected")

    async def deliver(self, message: events_pb2.OutboundMessage) -> DeliveryResult:
        if message.recipient.kind != message_pb2.CONTACT_POINT_KIND_CHAT_VISITOR:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, "recipient is not a chat visitor")
        assert self._outbox is not None
        row = (
            message.message_id,
            message.conversation_id,
            message.recipient.value,
            message.text,
            now_us(),
        )
        # Keyed by message id: a redelivered outbound event adds nothing.
        await self._outbox.write(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO chat_outbox (message_id, conversation_id, visitor_id, text, created_at_us) "
                "VALUES (?, ?, ?, ?, ?)",
                row,
            )
        )
        await self._flush(message.recipient.value)
        return DeliveryResult(events_pb2.DELIVERY_STATUS_SENT, "stored for the visitor's session")

    async def _flush(self, visitor_id: str) -> None:
        """Send the visitor every reply not yet delivered, in order, if they are connected here."""
        assert self._outbox is not None and self._host is not None
        async with self._flush_locks[visitor_id]:
            if not self._sockets.get(visitor_id):
                return

            def pending(conn: sqlite3.Connection) -> list[sqlite3.Row]:
                return conn.execute(
                    "SELECT message_id, conversation_id, text, created_at_us FROM chat_outbox "
                    "WHERE visitor_id = ? AND delivered_at_us IS NULL ORDER BY seq",
                    (visitor_id,),
                ).fetchall()

            for row in await self._outbox.read(pending):
                frame = {
                    "type": "message",
                    "message_id": row["message_id"],
                    "text": row["text"],
                    "sent_at": datetime.fromtimestamp(row["created_at_us"] / 1e6, tz=UTC).isoformat(),
                    "author": "agent",
                }
                if not await self._send_to_visitor(visitor_id, frame):
                    return
                values = (now_us(), row["message_id"])
                await self._outbox.write(
                    lambda conn, values=values: conn.execute(  # type: ignore[misc]
                        "UPDATE chat_outbox SET delivered_at_us = ? WHERE message_id = ? AND delivered_at_us IS NULL",
                        values,
                    )
                )
                await self._host.report_delivery(
                    self.channel, row["message_id"], row["conversation_id"], events_pb2.DELIVERY_STATUS_DELIVERED
                )

    async def _send_to_visitor(self, visitor_id: str, frame: dict[str, str]) -> bool:
        sent = False
        for socket in list(self._sockets.get(visitor_id, ())):
            try:
                await socket.send_json(frame)
                sent = True
            except Exception:
                self._sockets[visitor_id].discard(socket)
        return sent

    async def _session(self, websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            hello = parse_frame(await asyncio.wait_for(websocket.receive_text(), HELLO_TIMEOUT_SECONDS))
        except (InvalidInput, TimeoutError, WebSocketDisconnect) as exc:
            with contextlib.suppress(Exception):
                await websocket.send_json({"type": "error", "code": "bad_hello", "detail": str(exc) or "no hello"})
                await websocket.close(code=4400)
            return
        if not isinstance(hello, Hello):
            await websocket.send_json({"type": "error", "code": "bad_hello", "detail": "send hello first"})
            await websocket.close(code=4400)
            return
        visitor_id = verify_visitor_token(self._secret, hello.visitor_token) if hello.visitor_token else None
        if visitor_id is None:
            if hello.visitor_token:
                log.warning("chat_visitor_token_rejected")
            visitor_id, token = issue_visitor_token(self._secret)
        else:
            token = hello.visitor_token
        await websocket.send_json({"type": "welcome", "visitor_id": visitor_id, "visitor_token": token})
        self._sockets[visitor_id].add(websocket)
        log.info("chat_session_opened", visitor_id=visitor_id)
        try:
            await self._flush(visitor_id)
            while True:
                raw = await websocket.receive_text()
                try:
                    frame = parse_frame(raw)
                except InvalidInput as exc:
                    await websocket.send_json({"type": "error", "code": "invalid_frame", "detail": str(exc)})
                    continue
                if isinstance(frame, ChatText):
                    await self._accept(websocket, visitor_id, hello.name, frame)
        except WebSocketDisconnect:
            pass
        finally:
            self._sockets[visitor_id].discard(websocket)
            if not self._sockets[visitor_id]:
                del self._sockets[visitor_id]
            log.info("chat_session_closed", visitor_id=visitor_id)

    async def _accept(self, websocket: WebSocket, visitor_id: str, name: str, frame: ChatText) -> None:
        assert self._host is not None
        message_id = inbound_message_id(visitor_id, frame.client_message_id)
        inbound = events_pb2.InboundMessage(
            message_id=message_id,
            channel=message_pb2.CHANNEL_CHAT,
            inbox_id=self._inbox_id,
            provider_message_id=f"{visitor_id}:{frame.client_message_id}",
            sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_CHAT_VISITOR, value=visitor_id),
            sender_name=name,
            text=frame.text,
        )
        inbound.received_at.GetCurrentTime()
        inbound.sent_at.CopyFrom(inbound.received_at)
        await self._host.publish_inbound(inbound)
        await websocket.send_json(
            {"type": "accepted", "client_message_id": frame.client_message_id, "message_id": message_id}
        )
