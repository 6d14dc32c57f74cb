"""The suite's one service credential: a bearer token, compared in constant time; and the constant-time
comparison every signature and token check uses."""

from __future__ import annotations

import hmac


def same_secret(presented: str, expected: str) -> bool:
    """Constant-time equality of a presented secret (a signature, a token) with the expected one, whatever
    characters the caller sent: `hmac.compare_digest` raises on non-ASCII text, which made a stray byte
    in a header an error 500 instead of a refusal."""
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def bearer_matches(authorization: str | bytes | None, token: str) -> bool:
    """True when an Authorization value is exactly `Bearer <token>`."""
    if not authorization or not token:
        return False
    presented = authorization.encode() if isinstance(authorization, str) else authorization
    return hmac.compare_digest(presented, f"Bearer {token}".encode())
