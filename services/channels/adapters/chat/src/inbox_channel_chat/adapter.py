"""The chat adapter: WebSocket sessions in, agent replies out (held until the visitor is back).

A reply is kept in an outbox until a socket of its visitor took it; every replica is nudged through a
signal, so whichever one holds the visitor's socket sends it, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import structlog
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_sdk import AdapterHost, Capabilities, DeliveryResult, HealthReport, InboundUnavailable
from inbox_channel_sdk.limits import SenderRateLimited
from inbox_runtime.config import env, secret
from inbox_runtime.errors import InvalidInput
from inbox_runtime.timestamps import now_us, stamp_now
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from inbox_channel_chat.protocol import (
    MAX_TEXT_LENGTH,
    SURVEY_SCALE,
    ChatText,
    Frame,
    Hello,
    Identify,
    Rating,
    Read,
    Typing,
    identity_verified,
    inbound_message_id,
    issue_visitor_token,
    parse_frame,
    verify_visitor_token,
)
from inbox_channel_chat.store import ChatStore, VisitorIdentity

log = structlog.get_logger(__name__)

HELLO_TIMEOUT_SECONDS = 10.0
STATIC = Path(__file__).parent / "static"
UPLOAD_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
UPLOAD_PATH = "/chat/uploads"


class ChatAdapter:
    name = "chat"
    channel = "chat"
    display_name = "Chat"
    capabilities = Capabilities(
        max_text_length=MAX_TEXT_LENGTH, attachments=True, typing_indicators=True, read_receipts=True
    )

    def __init__(self) -> None:
        self._secret = secret("CHANNELS_CHAT_SECRET")
        # Shared with the host site's server, which signs who its logged-in user is; empty: none trusted.
        self._identity_secret = env("CHANNELS_CHAT_IDENTITY_SECRET", str, "")
        self._inbox_id = env("CHANNELS_CHAT_INBOX_ID", str, "chat")
        self._max_upload = env("CHANNELS_CHAT_MAX_UPLOAD_BYTES", int, 10 * 1024 * 1024)
        self._host: AdapterHost | None = None
        self._store: ChatStore | None = None
        self._sockets: dict[str, set[WebSocket]] = defaultdict(set)
        # One flush at a time per visitor, so a reply is never sent twice by racing flushes.
        self._flush_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def routes(self) -> Sequence[BaseRoute]:
        return [
            WebSocketRoute("/chat/ws", self._session),
            Route(UPLOAD_PATH, self._upload, methods=["POST"]),
            Route(UPLOAD_PATH + "/{attachment_id}", self._download, methods=["GET"]),
            Route("/chat/widget.js", self._widget, methods=["GET"]),
            Route("/chat/demo", self._demo, methods=["GET"]),
        ]

    async def start(self, host: AdapterHost) -> None:
        self._host = host
        self._store = await ChatStore.open(host)

    async def stop(self) -> None:
        for sockets in list(self._sockets.values()):
            for socket in list(sockets):
                with contextlib.suppress(Exception):
                    await socket.close(code=1001)
        if self._store is not None:
            await self._store.close()

    async def health(self) -> HealthReport:
        visitors = sum(1 for s in self._sockets.values() if s)
        return HealthReport(healthy=self._store is not None, detail=f"{visitors} visitors connected here")

    async def erase(self, contacts: Sequence[message_pb2.ContactPoint]) -> int:
        assert self._store is not None
        visitors = [c.value for c in contacts if c.kind == message_pb2.CONTACT_POINT_KIND_CHAT_VISITOR]
        return await self._store.erase_visitors(visitors) if visitors else 0

    # --- outbound ------------------------------------------------------------------------

    async def deliver(self, message: events_pb2.OutboundMessage) -> DeliveryResult:
        if message.recipient.kind != message_pb2.CONTACT_POINT_KIND_CHAT_VISITOR:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, "recipient is not a chat visitor")
        assert self._store is not None and self._host is not None
        visitor_id = message.recipient.value
        survey = message.metadata.get("survey") == "satisfaction"
        await self._store.records.hold(
            message.message_id, message.conversation_id, visitor_id, message.text, now_us(), survey=survey
        )
        await self._flush(visitor_id)
        await self._host.signal("flush", visitor_id.encode())
        return DeliveryResult(events_pb2.DELIVERY_STATUS_SENT, "held for the visitor's session")

    async def send_typing(self, contact: message_pb2.ContactPoint, agent_id: str, active: bool) -> None:
        assert self._host is not None
        payload = {"visitor_id": contact.value, "active": active}
        await self._host.signal("agent_typing", json.dumps(payload).encode())

    async def on_signal(self, topic: str, data: bytes) -> None:
        if topic == "flush":
            await self._flush(data.decode())
        elif topic == "agent_typing":
            signal = json.loads(data)
            frame = {"type": "typing", "author": "agent", "active": bool(signal["active"])}
            await self._send_to_visitor(str(signal["visitor_id"]), frame)

    async def _flush(self, visitor_id: str) -> None:
        """Send the visitor every reply not yet delivered, in order, if they are connected here."""
        assert self._store is not None and self._host is not None
        async with self._flush_locks[visitor_id]:
            if not self._sockets.get(visitor_id):
                return
            for reply in await self._store.records.pending(visitor_id):
                frame: dict[str, object] = {
                    "type": "message",
                    "message_id": reply.message_id,
                    "text": reply.text,
                    "sent_at": datetime.fromtimestamp(reply.created_at_us / 1e6, tz=UTC).isoformat(),
                    "author": "agent",
                }
                if reply.survey:
                    frame["survey"] = {"scale": SURVEY_SCALE}
                if not await self._send_to_visitor(visitor_id, frame):
                    return
                if await self._store.records.mark_delivered(reply.message_id, now_us()):
                    await self._host.report_delivery(
                        reply.message_id, reply.conversation_id, events_pb2.DELIVERY_STATUS_DELIVERED
                    )

    async def _send_to_visitor(self, visitor_id: str, frame: Mapping[str, object]) -> bool:
        sent = False
        for socket in list(self._sockets.get(visitor_id, ())):
            try:
                await socket.send_json(frame)
                sent = True
            except Exception:
                self._sockets[visitor_id].discard(socket)
        return sent

    # --- sessions ------------------------------------------------------------------------
    # Every frame a visitor sends that breaks the protocol gets an error frame with the reason, and the
    # session goes on; only a bad hello closes it (4400).

    async def _session(self, websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            hello = parse_frame(await asyncio.wait_for(_text_frame(websocket), HELLO_TIMEOUT_SECONDS))
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
                try:
                    await self._handle(websocket, visitor_id, hello.name, parse_frame(await _text_frame(websocket)))
                except InvalidInput as exc:
                    await websocket.send_json({"type": "error", "code": "invalid_frame", "detail": str(exc)})
                except (SenderRateLimited, InboundUnavailable) as refused:
                    # Not stored, and the visitor is told so: the widget shows it and sends again after the wait.
                    code = "rate_limited" if isinstance(refused, SenderRateLimited) else "unavailable"
                    await websocket.send_json(
                        {
                            "type": "error",
                            "code": code,
                            "detail": str(refused),
                            "retry_after": refused.retry_after_seconds,
                        }
                    )
        except WebSocketDisconnect:
            pass
        finally:
            self._sockets[visitor_id].discard(websocket)
            if not self._sockets[visitor_id]:
                del self._sockets[visitor_id]
            log.info("chat_session_closed", visitor_id=visitor_id)

    async def _handle(self, websocket: WebSocket, visitor_id: str, name: str, frame: Frame) -> None:
        assert self._store is not None and self._host is not None
        if isinstance(frame, ChatText):
            await self._accept(websocket, visitor_id, name, frame)
        elif isinstance(frame, Identify):
            verified = identity_verified(self._identity_secret, frame)
            if frame.signature and not verified:
                log.warning("chat_identity_signature_rejected", visitor_id=visitor_id)
            await self._store.records.set_identity(
                visitor_id, VisitorIdentity(frame.user_id, frame.email, frame.name, verified)
            )
            await websocket.send_json({"type": "identified", "verified": verified})
        elif isinstance(frame, Typing):
            payload = {"visitor_id": visitor_id, "active": frame.active}
            await self._host.signal("visitor_typing", json.dumps(payload).encode())
        elif isinstance(frame, Read):
            conversation_id = await self._store.records.conversation_of(frame.message_id, visitor_id)
            if conversation_id is None:
                raise InvalidInput("no such message for this visitor")
            await self._host.report_delivery(frame.message_id, conversation_id, events_pb2.DELIVERY_STATUS_READ)
        elif isinstance(frame, Rating):
            await self._rate(websocket, visitor_id, name, frame)
        else:
            raise InvalidInput("hello was already sent")

    async def _rate(self, websocket: WebSocket, visitor_id: str, name: str, frame: Rating) -> None:
        """The visitor's answer to a survey sent to them: to threading as a survey answer naming it (one per
        survey: a second click is the same message)."""
        assert self._host is not None and self._store is not None
        if await self._store.records.conversation_of(frame.survey_id, visitor_id) is None:
            raise InvalidInput("no such survey for this visitor")
        inbound = events_pb2.InboundMessage(
            message_id=inbound_message_id(visitor_id, f"rating-{frame.survey_id}"),
            inbox_id=self._inbox_id,
            provider_message_id=f"{visitor_id}:rating:{frame.survey_id}",
            sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_CHAT_VISITOR, value=visitor_id),
            sender_name=name,
            text=frame.comment,
            kind=message_pb2.MESSAGE_KIND_FEEDBACK,
        )
        inbound.metadata.update(satisfaction_score=str(frame.score), satisfaction_survey=frame.survey_id)
        stamp_now(inbound.received_at)
        inbound.sent_at.CopyFrom(inbound.received_at)
        await self._host.publish_inbound(inbound)
        await websocket.send_json({"type": "rated", "survey_id": frame.survey_id})

    async def _accept(self, websocket: WebSocket, visitor_id: str, name: str, frame: ChatText) -> None:
        assert self._host is not None and self._store is not None
        message_id = inbound_message_id(visitor_id, frame.client_message_id)
        identity = await self._store.records.identity(visitor_id)
        inbound = events_pb2.InboundMessage(
            message_id=message_id,
            inbox_id=self._inbox_id,
            provider_message_id=f"{visitor_id}:{frame.client_message_id}",
            sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_CHAT_VISITOR, value=visitor_id),
            sender_name=(identity.name if identity and identity.name else name),
            text=frame.text,
            kind=message_pb2.MESSAGE_KIND_TEXT,
        )
        if identity is not None:
            # Threading links verified identities and only suggests links for claimed ones.
            inbound.metadata.update(
                identity_user_id=identity.user_id,
                identity_email=identity.email,
                identity_verified="true" if identity.verified else "false",
            )
        for attachment_id in frame.attachments:
            found = await self._store.upload(attachment_id, visitor_id)
            if found is None:
                raise InvalidInput("attachments must be ids returned by the upload endpoint")
            upload, _ = found
            inbound.attachments.add(
                attachment_id=upload.attachment_id,
                filename=upload.filename,
                content_type=upload.content_type,
                size_bytes=upload.size_bytes,
                url=f"{UPLOAD_PATH}/{upload.attachment_id}",
            )
        stamp_now(inbound.received_at)
        inbound.sent_at.CopyFrom(inbound.received_at)
        await self._host.publish_inbound(inbound)
        await websocket.send_json(
            {"type": "accepted", "client_message_id": frame.client_message_id, "message_id": message_id}
        )

    # --- uploads, widget -----------------------------------------------------------------

    def _visitor_of(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return verify_visitor_token(self._secret, token) if scheme == "Visitor" else None

    async def _is_agent_side(self, request: Request) -> bool:
        """An API key's bearer (not a visitor's token) holding channels:read."""
        assert self._host is not None
        authorization = request.headers.get("authorization", "")
        return authorization.lower().startswith("bearer ") and await self._host.authorized(
            authorization, "channels:read"
        )

    async def _upload(self, request: Request) -> Response:
        assert self._store is not None
        visitor_id = self._visitor_of(request)
        if visitor_id is None:
            return PlainTextResponse("missing or invalid visitor token", status_code=403)
        declared = request.headers.get("content-length", "")
        if not declared.isdigit():
            return PlainTextResponse("Content-Length is required", status_code=411)
        if int(declared) > self._max_upload + 64 * 1024:
            return PlainTextResponse(f"uploads are limited to {self._max_upload} bytes", status_code=413)
        try:
            form = await request.form(max_files=1, max_fields=2)
        except Exception:
            return PlainTextResponse("expected a multipart form with a file field", status_code=400)
        file = form.get("file")
        if not isinstance(file, UploadFile):
            return PlainTextResponse("expected a multipart form with a file field", status_code=400)
        data = await file.read(self._max_upload + 1)
        if len(data) > self._max_upload:
            return PlainTextResponse(f"uploads are limited to {self._max_upload} bytes", status_code=413)
        content_type = (file.content_type or "").split(";", 1)[0].strip().lower()
        if content_type not in UPLOAD_TYPES:
            return PlainTextResponse(f"file type not accepted; send one of {sorted(UPLOAD_TYPES)}", status_code=415)
        filename = (file.filename or "upload").replace("/", "_").replace("\\", "_")[:200]
        upload = await self._store.save_upload(visitor_id, filename, content_type, data)
        return JSONResponse(
            {"attachment_id": upload.attachment_id, "filename": filename, "size_bytes": len(data)}, status_code=201
        )

    async def _download(self, request: Request) -> Response:
        assert self._store is not None
        attachment_id = request.path_params["attachment_id"]
        if await self._is_agent_side(request):
            found = await self._store.upload(attachment_id)
        else:
            visitor_id = self._visitor_of(request)
            if visitor_id is None:
                return PlainTextResponse("missing or invalid token", status_code=401)
            found = await self._store.upload(attachment_id, visitor_id)
        if found is None:
            return PlainTextResponse("no such upload", status_code=404)
        upload, path = found
        # Always a download, never rendered: it is customer content.
        return FileResponse(
            path,
            media_type="application/octet-stream",
            filename=upload.filename,
            headers={"X-Content-Type-Options": "nosniff"},
        )

    async def _widget(self, request: Request) -> Response:
        return FileResponse(STATIC / "widget.js", media_type="text/javascript; charset=utf-8")

    async def _demo(self, request: Request) -> Response:
        return FileResponse(
            STATIC / "demo.html",
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": (
                    "default-src 'none'; script-src 'self'; "
                    "connect-src 'self' ws: wss:; img-src 'self'; base-uri 'none'; form-action 'none'"
                )
            },
        )


async def _text_frame(websocket: WebSocket) -> str:
    """The next text frame; InvalidInput for a binary one, WebSocketDisconnect when the visitor left."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise InvalidInput("frames must be text (JSON), not binary")
    return str(text)
