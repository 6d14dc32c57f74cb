"""The chat WebSocket protocol, pure: parse and validate frames, sign and verify visitor tokens.

Client -> server (JSON text frames):
  {"type": "hello", "visitor_token": "<optional, from an earlier welcome>", "name": "<optional>"}
  {"type": "message", "client_message_id": "<unique per message>", "text": "..."}
Server -> client:
  {"type": "welcome", "visitor_id": "...", "visitor_token": "..."}
  {"type": "accepted", "client_message_id": "...", "message_id": "..."}   stored durably
  {"type": "message", "message_id": "...", "text": "...", "sent_at": "<ISO 8601>", "author": "agent"}
  {"type": "error", "code": "...", "detail": "..."}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from dataclasses import dataclass

from inbox_runtime.errors import InvalidInput

MAX_TEXT_LENGTH = 10_000
MAX_NAME_LENGTH = 200
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Hello:
    visitor_token: str
    name: str


@dataclass(frozen=True)
class ChatText:
    client_message_id: str
    text: str


def parse_frame(raw: str) -> Hello | ChatText:
    """Parse one client frame or raise InvalidInput with what is wrong."""
    try:
        frame = json.loads(raw)
    except json.JSONDecodeError:
        raise InvalidInput("frame is not JSON") from None
    if not isinstance(frame, dict):
        raise InvalidInput("frame must be a JSON object")
    kind = frame.get("type")
    if kind == "hello":
        token = frame.get("visitor_token") or ""
        name = frame.get("name") or ""
        if not isinstance(token, str) or not isinstance(name, str):
            raise InvalidInput("visitor_token and name must be strings")
        return Hello(token, name.strip()[:MAX_NAME_LENGTH])
    if kind == "message":
        client_id = frame.get("client_message_id")
        text = frame.get("text")
        if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
            raise InvalidInput("client_message_id must be 1-64 characters of letters, digits, '-' or '_'")
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("text must be a non-empty string")
        if len(text) > MAX_TEXT_LENGTH:
            raise InvalidInput(f"text is longer than {MAX_TEXT_LENGTH} characters")
        return ChatText(client_id, text)
    raise InvalidInput(f"unknown frame type {kind!r}")


def _signature(secret: str, visitor_id: str) -> str:
    digest = hmac.new(secret.encode(), visitor_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue_visitor_token(secret: str) -> tuple[str, str]:
    """A new visitor id and the token that lets only that browser resume it."""
    visitor_id = secrets.token_urlsafe(18)
    return visitor_id, f"{visitor_id}.{_signature(secret, visitor_id)}"


def verify_visitor_token(secret: str, token: str) -> str | None:
    """The visitor id if the token is one we signed, else None."""
    visitor_id, _, signature = token.partition(".")
    if not visitor_id or not signature:
        return None
    if hmac.compare_digest(signature, _signature(secret, visitor_id)):
        return visitor_id
    return None


def inbound_message_id(visitor_id: str, client_message_id: str) -> str:
    """Deterministic: a client resending the same message maps to the same id (deduplicated downstream)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chat:{visitor_id}:{client_message_id}"))
