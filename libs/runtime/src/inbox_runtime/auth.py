"""The suite's one service credential: a bearer token, compared in constant time."""

from __future__ import annotations

import hmac


def bearer_matches(authorization: str | bytes | None, token: str) -> bool:
    """True when an Authorization value is exactly `Bearer <token>`."""
    if not authorization or not token:
        return False
    presented = authorization.encode() if isinstance(authorization, str) else authorization
    return hmac.compare_digest(presented, f"Bearer {token}".encode())
