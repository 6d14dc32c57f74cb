"""Page tokens: opaque to callers, the same for every store implementation."""

from __future__ import annotations

import base64
import json

from inbox_threading.domain import InvalidInput


def encode_cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()


def decode_cursor(cursor: str, arity: int) -> list[object]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("page_token is not one this service issued") from exc
    if not isinstance(parts, list) or len(parts) != arity:
        raise InvalidInput("page_token is not one this service issued")
    return parts
