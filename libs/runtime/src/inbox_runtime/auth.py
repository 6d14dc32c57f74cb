"""The constant-time comparison every signature and token check uses."""

from __future__ import annotations

import hmac


def same_secret(presented: str, expected: str) -> bool:
    """Constant-time equality of a presented secret (a signature, a token) with the expected one, whatever
    characters the caller sent: `hmac.compare_digest` raises on non-ASCII text, which made a stray byte
    in a header an error 500 instead of a refusal."""
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))
