"""X-Twilio-Signature: HMAC-SHA1 over the full URL followed by every POST parameter, sorted by name.

Pure functions; the tests check them against the official `twilio` package's RequestValidator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from inbox_runtime.auth import same_secret


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    payload = url
    by_name: dict[str, set[str]] = {}
    for name, value in params:
        by_name.setdefault(name, set()).add(value)
    for name in sorted(by_name):
        for value in sorted(by_name[name]):
            payload += name + value
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """Twilio signs the URL as configured, which may or may not carry the default port."""
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    with_port = parts._replace(netloc=f"{host}:{parts.port or default_port}")
    without_port = parts._replace(netloc=host) if parts.port in (None, default_port) else parts
    return list(dict.fromkeys([url, urlunsplit(with_port), urlunsplit(without_port)]))


def is_valid_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str) -> bool:
    if not signature:
        return False
    items = list(params)
    return any(
        same_secret(signature, compute_signature(auth_token, candidate, items)) for candidate in _url_variants(url)
    )
