"""Request signing both ways, pure: HMAC-SHA256 over "<unix timestamp>.<body>", fresh within 5 minutes. The API
channel verifies integrators' webhooks with it, and signs its callbacks; threading signs outbound webhooks.

Headers: `X-Inbox-Timestamp: 1795420000` and `X-Inbox-Signature: sha256=<hex>`.
"""

from __future__ import annotations

import hashlib
import hmac

from inbox_runtime.auth import same_secret

MAX_SKEW_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp_header: str, signature_header: str, body: bytes, now: int) -> str | None:
    """None when the request is authentic and fresh; otherwise why not."""
    if not signature_header:
        return "missing X-Inbox-Signature"
    if not (timestamp_header.isascii() and timestamp_header.isdigit()):
        return "missing or invalid X-Inbox-Timestamp"
    timestamp = int(timestamp_header)
    if abs(now - timestamp) > MAX_SKEW_SECONDS:
        return "X-Inbox-Timestamp is too old or in the future"
    if not same_secret(signature_header, sign(secret, timestamp, body)):
        return "invalid X-Inbox-Signature"
    return None
