"""Outbound webhooks, delivered: the endpoints in a key-value bucket on the broker, each delivered by one
threading replica at a time (it holds the endpoint's lease), event after event from the feed, signed.

An endpoint's record holds its cursor, so a replica that takes over (the holder died: its lease lapses)
goes on from the first event not taken; an event delivered but not yet recorded when the holder died is
sent again, which receivers de-duplicate on X-Inbox-Event-Id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import nats.js.errors
import structlog
from inbox_events import EventBus, FeedCursor, conversation_of, payload_of
from inbox_events.feed import FeedEvent
from inbox_events.streams import WEBHOOKS_BUCKET
from inbox_runtime.metrics import counter, histogram
from inbox_runtime.signing import sign
from inbox_runtime.timestamps import now_us
from nats.js.kv import KeyValue

from inbox_threading.actions import FEED_SUBJECTS
from inbox_threading.domain import NotFound
from inbox_threading.webhooks import (
    DeliveryAttempt,
    WebhookPolicy,
    WebhookRecord,
    after_attempt,
    enabled_again,
    request_body,
    validate_description,
    validate_url,
)

log = structlog.get_logger(__name__)

WEBHOOK_ATTEMPTS = counter(
    "inbox_outbound_webhook_attempts_total", "POSTs of feed events to integrators' webhooks, by result", ["result"]
)
WEBHOOK_SECONDS = histogram("inbox_outbound_webhook_seconds", "Time an integrator's endpoint took to answer a POST")
WEBHOOKS_DISABLED = counter("inbox_outbound_webhooks_disabled_total", "Webhooks disabled after persistent failure")

HOOK_PREFIX = "hook."
LEASE_PREFIX = "lease."
# A replica holding an endpoint renews its lease this often; another takes over once it lapses.
LEASE_SECONDS = 30.0
RENEW_SECONDS = 10.0
# How often each replica looks for endpoints nobody delivers.
SCAN_SECONDS = 5.0


class Conflict(Exception):
    """The record changed since it was read (another replica, or an admin call): read it again."""


@dataclass(frozen=True)
class Stored:
    record: WebhookRecord
    revision: int


class WebhookRegistry:
    """The endpoints, one key each (`hook.<id>`), and who delivers each (`lease.<id>`)."""

    def __init__(self, kv: KeyValue, clock: Callable[[], int] = now_us) -> None:
        self._kv = kv
        self._clock = clock

    @classmethod
    async def open(cls, bus: EventBus) -> WebhookRegistry:
        return cls(await bus.key_value(WEBHOOKS_BUCKET))

    async def create(self, url: str, description: str, cursor: FeedCursor) -> tuple[WebhookRecord, str]:
        secret = secrets.token_urlsafe(32)
        record = WebhookRecord(
            webhook_id=f"wh{uuid.uuid4().hex[:16]}",
            url=validate_url(url),
            description=validate_description(description),
            secret=secret,
            created_at_us=self._clock(),
            cursor=cursor.encode(),
        )
        await self._kv.create(HOOK_PREFIX + record.webhook_id, record.to_json())
        log.info("webhook_created", webhook_id=record.webhook_id)
        return record, secret

    async def get(self, webhook_id: str) -> Stored | None:
        try:
            entry = await self._kv.get(HOOK_PREFIX + webhook_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        if entry.value is None or entry.revision is None:
            return None
        return Stored(WebhookRecord.from_json(entry.value), entry.revision)

    async def require(self, webhook_id: str) -> Stored:
        found = await self.get(webhook_id) if webhook_id else None
        if found is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return found

    async def ids(self) -> list[str]:
        try:
            keys = await self._kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        return sorted(key.removeprefix(HOOK_PREFIX) for key in keys if key.startswith(HOOK_PREFIX))

    async def all(self) -> list[WebhookRecord]:
        found = [await self.get(webhook_id) for webhook_id in await self.ids()]
        return [stored.record for stored in found if stored is not None]

    async def put(self, record: WebhookRecord, revision: int) -> int:
        """Write over `revision`; Conflict when something else wrote in between."""
        try:
            return int(await self._kv.update(HOOK_PREFIX + record.webhook_id, record.to_json(), last=revision))
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            raise Conflict(record.webhook_id) from exc

    async def enable(self, webhook_id: str) -> WebhookRecord:
        while True:
            stored = await self.require(webhook_id)
            record = enabled_again(stored.record)
            with contextlib.suppress(Conflict):
                await self.put(record, stored.revision)
                return record

    async def delete(self, webhook_id: str) -> None:
        await self.require(webhook_id)
        await self._kv.delete(HOOK_PREFIX + webhook_id)
        log.info("webhook_deleted", webhook_id=webhook_id)

    async def hold(self, webhook_id: str, holder: str) -> bool:
        """Take or renew the endpoint's lease for `holder`; False while another replica holds it."""
        key = LEASE_PREFIX + webhook_id
        lease = json.dumps({"holder": holder, "until_us": self._clock() + int(LEASE_SECONDS * 1e6)}).encode()
        try:
            entry = await self._kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            entry = None
        try:
            if entry is None or entry.value is None or entry.revision is None:
                await self._kv.create(key, lease)
                return True
            current = json.loads(entry.value)
            if current["holder"] != holder and current["until_us"] > self._clock():
                return False
            await self._kv.update(key, lease, last=entry.revision)
            return True
        except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.BadRequestError):
            return False  # another replica took it first

    async def release(self, webhook_id: str, holder: str) -> None:
        with contextlib.suppress(Exception):
            entry = await self._kv.get(LEASE_PREFIX + webhook_id)
            if entry.value is not None and json.loads(entry.value)["holder"] == holder:
                await self._kv.delete(LEASE_PREFIX + webhook_id, last=entry.revision)


class WebhookDispatcher:
    """Each replica runs one: it delivers the endpoints whose lease it holds."""

    def __init__(
        self, registry: WebhookRegistry, bus: EventBus, policy: WebhookPolicy, clock: Callable[[], int] = now_us
    ) -> None:
        self._registry = registry
        self._bus = bus
        self._policy = policy
        self._clock = clock
        self._holder = f"threading-{uuid.uuid4().hex[:12]}"
        self._running: dict[str, asyncio.Task[None]] = {}

    @property
    def delivering(self) -> frozenset[str]:
        """The endpoints this replica delivers now."""
        return frozenset(webhook_id for webhook_id, task in self._running.items() if not task.done())

    async def stop(self) -> None:
        """Stop delivering and let the leases go, so another replica goes on at once."""
        for webhook_id, task in list(self._running.items()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await self._registry.release(webhook_id, self._holder)
        self._running.clear()

    async def scan(self) -> None:
        """Start delivering each enabled endpoint nobody delivers (and forget finished ones)."""
        for webhook_id, task in list(self._running.items()):
            if task.done():
                del self._running[webhook_id]
        for record in await self._registry.all():
            idle = record.enabled and record.webhook_id not in self._running
            if idle and await self._registry.hold(record.webhook_id, self._holder):
                self._running[record.webhook_id] = asyncio.create_task(
                    self._deliver_all(record.webhook_id), name=f"webhook:{record.webhook_id}"
                )

    async def _deliver_all(self, webhook_id: str) -> None:
        renewing = asyncio.create_task(self._renew(webhook_id))
        try:
            stored = await self._registry.get(webhook_id)
            if stored is None or not stored.record.enabled:
                return
            cursor = FeedCursor.decode(stored.record.cursor, list(FEED_SUBJECTS))
            async with (
                httpx.AsyncClient(timeout=self._policy.timeout_seconds) as client,
                self._bus.follow(FEED_SUBJECTS, cursor) as feed,
            ):
                async for event in feed:
                    if not await self._deliver(client, webhook_id, event):
                        return
        except Exception as error:
            log.warning("webhook_delivery_stopped", webhook_id=webhook_id, error=repr(error))
        finally:
            renewing.cancel()
            await self._registry.release(webhook_id, self._holder)

    async def _renew(self, webhook_id: str) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            if not await self._registry.hold(webhook_id, self._holder):
                log.warning("webhook_lease_lost", webhook_id=webhook_id)
                task = self._running.get(webhook_id)
                if task is not None:
                    task.cancel()
                return

    async def _deliver(self, client: httpx.AsyncClient, webhook_id: str, event: FeedEvent) -> bool:
        """Try one event until the endpoint takes it; False when the endpoint is gone or was disabled."""
        payload = payload_of(event.envelope)
        conversation_id = conversation_of(payload)
        stored_at = event.stored_at.isoformat()
        body = request_body(
            event.envelope.event_id, event.subject, conversation_id, event.cursor.encode(), stored_at, payload
        )
        attempt = 0
        while True:
            stored = await self._registry.get(webhook_id)
            if stored is None or not stored.record.enabled:
                return False
            attempt += 1
            tried = await self._post(client, stored.record, event, body, attempt)
            while True:
                with contextlib.suppress(Conflict):
                    updated = after_attempt(stored.record, tried, event.cursor.encode(), self._policy)
                    await self._registry.put(updated, stored.revision)
                    break
                refreshed = await self._registry.get(webhook_id)
                if refreshed is None:
                    return False
                stored = refreshed
            if tried.delivered:
                return True
            if not updated.enabled:
                WEBHOOKS_DISABLED.inc()
                log.warning("webhook_disabled", webhook_id=webhook_id, failures=updated.consecutive_failures)
                return False
            await asyncio.sleep(self._policy.retry_delay(updated.consecutive_failures))

    async def _post(
        self, client: httpx.AsyncClient, record: WebhookRecord, event: FeedEvent, body: bytes, attempt: int
    ) -> DeliveryAttempt:
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "x-inbox-event-id": event.envelope.event_id,
            "x-inbox-timestamp": str(stamp),
            "x-inbox-signature": sign(record.secret, stamp, body),
        }
        started = time.monotonic()
        status, error = 0, ""
        try:
            response = await client.post(record.url, content=body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"answered {status} {response.reason_phrase}".strip()
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}".strip(": ") or type(exc).__name__
        delivered = not error
        WEBHOOK_ATTEMPTS.labels("delivered" if delivered else "failed").inc()
        WEBHOOK_SECONDS.observe(time.monotonic() - started)
        log.info(
            "webhook_attempted",
            webhook_id=record.webhook_id,
            event_id=event.envelope.event_id,
            attempt=attempt,
            status=status,
            delivered=delivered,
        )
        return DeliveryAttempt(
            event_id=event.envelope.event_id,
            subject=event.subject,
            attempted_at_us=self._clock(),
            attempt=attempt,
            status_code=status,
            error=error[:300],
            delivered=delivered,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
