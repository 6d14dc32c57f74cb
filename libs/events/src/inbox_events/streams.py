"""Every JetStream stream, in one reviewed table; applied idempotently by each service at start-up."""

from __future__ import annotations

from dataclasses import dataclass

DAY = 24 * 3600.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_seconds: float
    # JetStream drops a second publish with the same Nats-Msg-Id within this window.
    duplicate_window_seconds: float = 300.0


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("INBOUND", ("inbound.>",), max_age_seconds=14 * DAY),
    StreamSpec("OUTBOUND", ("outbound.>",), max_age_seconds=14 * DAY),
    StreamSpec("DELIVERY", ("delivery.>",), max_age_seconds=7 * DAY),
    StreamSpec("CONVERSATIONS", ("conv.>",), max_age_seconds=14 * DAY),
    StreamSpec("ROUTING", ("routing.>",), max_age_seconds=7 * DAY),
    StreamSpec("TRANSLATION", ("translation.>",), max_age_seconds=7 * DAY),
    # Kept long: someone has to look at each of these.
    StreamSpec("DEADLETTER", ("deadletter.>",), max_age_seconds=90 * DAY),
)


# The API keys (digests and scopes), a key-value bucket every service reads (see api_keys.py).
API_KEYS_BUCKET = "INBOX_API_KEYS"
# Revisions kept of each key (its creation, its revocation).
API_KEYS_HISTORY = 5
# Outbound webhooks (endpoints, their cursors and delivery logs, who delivers each): threading's alone.
WEBHOOKS_BUCKET = "INBOX_WEBHOOKS"
# Each tenant's outreach rules (contact pressure, nudges): threading's, one key per tenant.
OUTREACH_BUCKET = "INBOX_OUTREACH"


def stream_for_subject(subject: str) -> StreamSpec:
    prefix = subject.split(".", 1)[0]
    for spec in STREAMS:
        if any(pattern.split(".", 1)[0] == prefix for pattern in spec.subjects):
            return spec
    raise ValueError(f"no stream captures subject {subject!r}")
