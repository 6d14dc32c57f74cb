"""Outbound webhooks, pure: the endpoint record, what one attempt changes, the request's body and when an
endpoint is given up on. The delivery itself is in webhook_dispatch.py."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from inbox_threading.domain import InvalidInput

MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 200
# The attempts an endpoint's record keeps, newest first.
MAX_LOGGED_ATTEMPTS = 50
HOUR_US = 3600 * 1_000_000


@dataclass(frozen=True)
class WebhookPolicy:
    # Waits before the next try of the same event, by failures so far; the last repeats.
    retry_delays_seconds: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)
    # An endpoint is disabled once it failed this many times in a row, or for this long.
    disable_after_failures: int = 50
    disable_after_us: int = 24 * HOUR_US
    # How long one POST may take.
    timeout_seconds: float = 10.0

    def retry_delay(self, failures: int) -> float:
        return self.retry_delays_seconds[min(max(failures, 1), len(self.retry_delays_seconds)) - 1]


@dataclass(frozen=True)
class DeliveryAttempt:
    event_id: str
    subject: str
    attempted_at_us: int
    attempt: int
    status_code: int
    error: str
    delivered: bool
    duration_ms: int


@dataclass(frozen=True)
class WebhookRecord:
    webhook_id: str
    url: str
    description: str
    secret: str
    created_at_us: int
    # The feed cursor after the last event the endpoint took.
    cursor: str
    enabled: bool = True
    disabled_reason: str = ""
    consecutive_failures: int = 0
    failing_since_us: int = 0
    deliveries: tuple[DeliveryAttempt, ...] = ()

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> WebhookRecord:
        fields: dict[str, Any] = json.loads(data)
        fields["deliveries"] = tuple(DeliveryAttempt(**d) for d in fields.get("deliveries", ()))
        return cls(**fields)


def validate_url(url: str) -> str:
    """An endpoint the integrator owns: https, or http to this host (development); no credentials in it."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"url is required, at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput("url must be an https:// address")
    if parts.username or parts.password:
        raise InvalidInput("url must not carry credentials: the requests are signed instead")
    if parts.scheme == "http" and not _is_this_host(parts.hostname):
        raise InvalidInput("url must be https:// (http:// only for an address on this host)")
    return url


def _is_this_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_description(description: str) -> str:
    description = description.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(f"description is at most {MAX_DESCRIPTION_LENGTH} characters")
    return description


def after_attempt(
    record: WebhookRecord, attempt: DeliveryAttempt, cursor_after: str, policy: WebhookPolicy
) -> WebhookRecord:
    """The record once an attempt is over: a delivery moves the cursor on and clears the failures; a failure
    counts, and past the policy's limits disables the endpoint (with why)."""
    logged = (attempt, *record.deliveries)[:MAX_LOGGED_ATTEMPTS]
    if attempt.delivered:
        return replace(record, cursor=cursor_after, consecutive_failures=0, failing_since_us=0, deliveries=logged)
    failures = record.consecutive_failures + 1
    since = record.failing_since_us or attempt.attempted_at_us
    hours = (attempt.attempted_at_us - since) / HOUR_US
    give_up = failures >= policy.disable_after_failures or attempt.attempted_at_us - since >= policy.disable_after_us
    reason = f"{failures} failed attempts in a row over {hours:.1f} h; the last: {attempt.error}" if give_up else ""
    return replace(
        record,
        consecutive_failures=failures,
        failing_since_us=since,
        enabled=record.enabled and not give_up,
        disabled_reason=reason or record.disabled_reason,
        deliveries=logged,
    )


def enabled_again(record: WebhookRecord) -> WebhookRecord:
    """Back on, from the first event it did not take, with a clean slate of failures."""
    return replace(record, enabled=True, disabled_reason="", consecutive_failures=0, failing_since_us=0)


def request_body(
    event_id: str, subject: str, conversation_id: str, cursor: str, stored_at: str, event: Message | None
) -> bytes:
    """What an endpoint receives: the event in protobuf's JSON mapping, with what the feed knows of it."""
    payload = MessageToDict(event, preserving_proto_field_name=True) if event is not None else {}
    body = {
        "event_id": event_id,
        "subject": subject,
        "conversation_id": conversation_id,
        "cursor": cursor,
        "stored_at": stored_at,
        "event": payload,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
