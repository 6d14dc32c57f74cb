"""The chat WebSocket protocol, pure: parse and validate frames, sign and verify visitor tokens and
identities.

Client -> server (JSON text frames):
  {"type": "hello", "visitor_token": "<optional, from an earlier welcome>", "name": "<optional>"}
  {"type": "identify", "user_id": "...", "email": "...", "name": "...", "signature": "<hex, optional>"}
  {"type": "message", "client_message_id": "<unique per message>", "text": "...", "attachments": ["<id>"]}
  {"type": "typing", "active": true}
  {"type": "read", "message_id": "..."}
  {"type": "rating", "survey_id": "<a survey message's id>", "score": 1-5, "comment": "<optional>"}
Server -> client:
  {"type": "welcome", "visitor_id": "...", "visitor_token": "..."}
  {"type": "identified", "verified": true}
  {"type": "accepted", "client_message_id": "...", "message_id": "..."}   stored durably
  {"type": "message", "message_id": "...", "text": "...", "sent_at": "<ISO 8601>", "author": "agent"}
      with "survey": {"scale": 5} when it asks how we did (the widget shows rating buttons under it)
  {"type": "rated", "survey_id": "..."}                                   the rating is stored
  {"type": "typing", "author": "agent", "active": true}
  {"type": "error", "code": "...", "detail": "..."}

Identity: the host site may sign who its logged-in user is: signature = hex(HMAC-SHA256(identity secret,
"<user_id>|<email>")). Only a signed identity is trusted; an unsigned one is a claim.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from inbox_runtime.auth import same_secret
from inbox_runtime.errors import InvalidInput
from inbox_runtime.untrusted import parse_json

MAX_TEXT_LENGTH = 10_000
MAX_NAME_LENGTH = 200
MAX_ATTACHMENTS = 5
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_USER_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")
_ATTACHMENT_ID = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Hello:
    visitor_token: str
    name: str


@dataclass(frozen=True)
class Identify:
    user_id: str
    email: str
    name: str
    signature: str


@dataclass(frozen=True)
class ChatText:
    client_message_id: str
    text: str
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Typing:
    active: bool


@dataclass(frozen=True)
class Read:
    message_id: str


@dataclass(frozen=True)
class Rating:
    survey_id: str
    score: int
    comment: str


SURVEY_SCALE = 5
MAX_COMMENT_LENGTH = 2000

Frame = Hello | Identify | ChatText | Typing | Read | Rating


def _string(frame: dict[str, object], name: str) -> str:
    value = frame.get(name) or ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    return value.strip()


def parse_frame(raw: str) -> Frame:
    """Parse one client frame or raise InvalidInput with what is wrong."""
    try:
        frame = parse_json(raw)
    except InvalidInput as exc:
        raise InvalidInput(str(exc).replace("body", "frame")) from None
    if not isinstance(frame, dict):
        raise InvalidInput("frame must be a JSON object")
    kind = frame.get("type")
    if kind == "hello":
        return Hello(_string(frame, "visitor_token"), _string(frame, "name")[:MAX_NAME_LENGTH])
    if kind == "message":
        client_id = frame.get("client_message_id")
        text = frame.get("text")
        if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
            raise InvalidInput("client_message_id must be 1-64 characters of letters, digits, '-' or '_'")
        attachments = frame.get("attachments") or []
        if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
            raise InvalidInput(f"attachments must be a list of at most {MAX_ATTACHMENTS} upload ids")
        if not all(isinstance(a, str) and _ATTACHMENT_ID.match(a) for a in attachments):
            raise InvalidInput("attachments must be ids returned by the upload endpoint")
        if not isinstance(text, str) or (not text.strip() and not attachments):
            raise InvalidInput("text must be a non-empty string")
        if len(text) > MAX_TEXT_LENGTH:
            raise InvalidInput(f"text is longer than {MAX_TEXT_LENGTH} characters")
        return ChatText(client_id, text, tuple(attachments))
    if kind == "identify":
        user_id, email = _string(frame, "user_id"), _string(frame, "email").lower()
        if not user_id and not email:
            raise InvalidInput("identify needs a user_id or an email")
        if user_id and not _USER_ID.match(user_id):
            raise InvalidInput("user_id is not valid")
        if email and not _EMAIL.match(email):
            raise InvalidInput("email is not valid")
        return Identify(user_id, email, _string(frame, "name")[:MAX_NAME_LENGTH], _string(frame, "signature"))
    if kind == "typing":
        active = frame.get("active")
        if not isinstance(active, bool):
            raise InvalidInput("active must be true or false")
        return Typing(active)
    if kind == "read":
        message_id = _string(frame, "message_id")
        if not message_id or len(message_id) > 128:
            raise InvalidInput("message_id is required")
        return Read(message_id)
    if kind == "rating":
        survey_id = _string(frame, "survey_id")
        score = frame.get("score")
        if not survey_id or len(survey_id) > 128:
            raise InvalidInput("survey_id is required")
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= SURVEY_SCALE:
            raise InvalidInput(f"score must be a whole number from 1 to {SURVEY_SCALE}")
        comment = _string(frame, "comment")
        if len(comment) > MAX_COMMENT_LENGTH:
            raise InvalidInput(f"comment is longer than {MAX_COMMENT_LENGTH} characters")
        return Rating(survey_id, score, comment)
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
    if same_secret(signature, _signature(secret, visitor_id)):
        return visitor_id
    return None


def identity_signature(secret: str, user_id: str, email: str) -> str:
    """What the host site's server computes to vouch for its logged-in user."""
    return hmac.new(secret.encode(), f"{user_id}|{email}".encode(), hashlib.sha256).hexdigest()


def identity_verified(secret: str, identify: Identify) -> bool:
    if not secret or not identify.signature:
        return False
    return same_secret(identify.signature, identity_signature(secret, identify.user_id, identify.email))


def inbound_message_id(visitor_id: str, client_message_id: str) -> str:
    """Deterministic: a client resending the same message maps to the same id (deduplicated downstream)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chat:{visitor_id}:{client_message_id}"))
