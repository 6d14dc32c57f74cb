"""Outbound webhooks: the rules, pure; then delivery to a real HTTP endpoint from a real nats-server, through
the gRPC API: signed, in order, retried, disabled after persistent failure, enabled again, one replica at a
time."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import pytest
from inbox.conversations.v1 import webhook_service_pb2 as pb
from inbox.conversations.v1 import webhook_service_pb2_grpc as pb_grpc
from inbox.routing.v1 import events_pb2 as routing_events
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.providers import WebhookEndpoint
from inbox_devstack.waiting import eventually
from inbox_events import EventBus
from inbox_runtime.grpc_client import authenticated_channel
from inbox_runtime.grpc_server import grpc_server
from inbox_runtime.signing import verify
from inbox_threading import webhook_api
from inbox_threading.domain import InvalidInput
from inbox_threading.webhook_dispatch import WebhookDispatcher, WebhookRegistry
from inbox_threading.webhooks import (
    HOUR_US,
    DeliveryAttempt,
    WebhookPolicy,
    WebhookRecord,
    after_attempt,
    enabled_again,
    validate_url,
)

# Tests wait milliseconds between tries, not the production schedule.
QUICK = WebhookPolicy(retry_delays_seconds=(0.01,), disable_after_failures=3)


def record() -> WebhookRecord:
    return WebhookRecord("wh1", "https://example.com/hook", "", "s3cret", 1, "f1.x")


def attempt(delivered: bool, at_us: int = 10, error: str = "answered 503") -> DeliveryAttempt:
    return DeliveryAttempt(
        "e1", "conv.message_added", at_us, 1, 200 if delivered else 503, "" if delivered else error, delivered, 5
    )


def test_only_an_https_endpoint_or_one_on_this_host_without_credentials_is_taken() -> None:
    assert validate_url(" https://hooks.example.com/inbox ") == "https://hooks.example.com/inbox"
    assert validate_url("http://127.0.0.1:8099/hook") == "http://127.0.0.1:8099/hook"
    for bad in ("", "ftp://example.com", "http://example.com/hook", "https://user:pw@example.com", "https://"):
        with pytest.raises(InvalidInput):
            validate_url(bad)


def test_a_delivery_moves_the_cursor_and_failures_count_until_the_endpoint_is_disabled() -> None:
    failed = after_attempt(record(), attempt(False, at_us=10), "f1.next", QUICK)
    assert (failed.consecutive_failures, failed.failing_since_us, failed.cursor, failed.enabled) == (
        1,
        10,
        "f1.x",
        True,
    )
    delivered = after_attempt(failed, attempt(True, at_us=20), "f1.next", QUICK)
    assert (delivered.consecutive_failures, delivered.failing_since_us, delivered.cursor) == (0, 0, "f1.next")
    assert [a.delivered for a in delivered.deliveries] == [True, False]  # newest first
    third = after_attempt(replace(failed, consecutive_failures=2), attempt(False, at_us=30), "f1.next", QUICK)
    assert not third.enabled and third.disabled_reason.startswith("3 failed attempts in a row")
    day = replace(failed, failing_since_us=10)
    late = after_attempt(day, attempt(False, at_us=10 + 24 * HOUR_US), "f1.next", WebhookPolicy())
    assert not late.enabled and "over 24.0 h" in late.disabled_reason
    back = enabled_again(third)
    assert back.enabled and (back.consecutive_failures, back.disabled_reason) == (0, "")
    assert WebhookPolicy().retry_delay(1) == 1.0 and WebhookPolicy().retry_delay(99) == 600.0


def test_a_record_comes_back_from_the_bucket_as_it_went_in() -> None:
    logged = replace(record(), deliveries=(attempt(True),))
    assert WebhookRecord.from_json(logged.to_json()) == logged


@dataclass
class Hooks:
    stub: pb_grpc.WebhookServiceAsyncStub
    bus: EventBus
    dispatchers: list[WebhookDispatcher]
    endpoint: WebhookEndpoint


@pytest.fixture
async def hooks(nats_server: NatsServer, nats_api_key: str, tmp_path: Path) -> AsyncIterator[Hooks]:
    async with WebhookEndpoint.serving() as endpoint, EventBus.connect(nats_server.url, service="test") as bus:
        await bus.ensure_streams()
        registry = await WebhookRegistry.open(bus)
        # Two replicas' dispatchers on one bucket.
        dispatchers = [WebhookDispatcher(registry, bus, QUICK), WebhookDispatcher(registry, bus, QUICK)]
        async with (
            grpc_server(
                host="127.0.0.1",
                port=0,
                keys=await bus.api_keys(),
                services=[webhook_api.registration(registry, bus)],
            ) as server,
            authenticated_channel(f"127.0.0.1:{server.port}", nats_api_key) as channel,
        ):
            yield Hooks(pb_grpc.WebhookServiceStub(channel), bus, dispatchers, endpoint)
        for dispatcher in dispatchers:
            await dispatcher.stop()


async def assigned(bus: EventBus, n: int) -> None:
    event = routing_events.ConversationAssigned(conversation_id=f"c{n}", agent_id="ada")
    await bus.publish(event, event_id=f"assigned-{n}")


async def scan(hooks: Hooks) -> None:
    for dispatcher in hooks.dispatchers:
        await dispatcher.scan()


async def test_events_reach_the_endpoint_signed_in_order_once_and_failed_tries_are_logged(hooks: Hooks) -> None:
    await assigned(hooks.bus, 0)  # before the endpoint existed: not sent
    created = await hooks.stub.CreateWebhook(pb.CreateWebhookRequest(url=hooks.endpoint.url, description="CRM"))
    assert created.secret and created.webhook.enabled
    hooks.endpoint.failing = 2
    for n in (1, 2, 3):
        await assigned(hooks.bus, n)
    await scan(hooks)

    async def all_three() -> bool:
        return len(hooks.endpoint.received) >= 3

    await eventually(all_three, 15, what="three events at the endpoint")
    assert [e["conversation_id"] for e in hooks.endpoint.events()] == ["c1", "c2", "c3"]
    headers, body = hooks.endpoint.received[0]
    now = int(time.time())
    assert verify(created.secret, headers["x-inbox-timestamp"], headers["x-inbox-signature"], body, now) is None
    first = hooks.endpoint.events()[0]
    assert headers["x-inbox-event-id"] == first["event_id"] == "assigned-1"
    assert first["subject"] == "routing.conversation_assigned" and first["event"]["agent_id"] == "ada"

    log = await hooks.stub.ListWebhookDeliveries(pb.ListWebhookDeliveriesRequest(webhook_id=created.webhook.webhook_id))
    oldest_first = list(reversed(log.deliveries))
    assert [(d.event_id, d.attempt, d.status_code, d.delivered) for d in oldest_first[:3]] == [
        ("assigned-1", 1, 503, False),
        ("assigned-1", 2, 503, False),
        ("assigned-1", 3, 200, True),
    ]
    listed = await hooks.stub.ListWebhooks(pb.ListWebhooksRequest())
    assert [(w.url, w.consecutive_failures) for w in listed.webhooks] == [(hooks.endpoint.url, 0)]
    # One replica delivers the endpoint (it holds the lease), though both scanned.
    holders = [d for d in hooks.dispatchers if created.webhook.webhook_id in d.delivering]
    assert len(holders) == 1 and len(hooks.endpoint.received) == 3


async def test_an_endpoint_failing_on_is_disabled_then_enabled_again_goes_on_where_it_stopped(hooks: Hooks) -> None:
    created = await hooks.stub.CreateWebhook(pb.CreateWebhookRequest(url=hooks.endpoint.url))
    webhook_id = created.webhook.webhook_id
    hooks.endpoint.failing = 1000
    await assigned(hooks.bus, 1)
    await scan(hooks)

    async def disabled() -> pb.Webhook | None:
        listed = await hooks.stub.ListWebhooks(pb.ListWebhooksRequest())
        return next((w for w in listed.webhooks if not w.enabled), None)

    off = await eventually(disabled, 15, what="the endpoint disabled")
    assert off.consecutive_failures == 3 and "answered 503" in off.disabled_reason
    await assigned(hooks.bus, 2)
    hooks.endpoint.failing = 0
    back = await hooks.stub.EnableWebhook(pb.EnableWebhookRequest(webhook_id=webhook_id))
    assert back.webhook.enabled and back.webhook.consecutive_failures == 0
    for dispatcher in hooks.dispatchers:
        await dispatcher.stop()  # the task that disabled it has ended; a scan starts a new one
    await scan(hooks)

    async def both() -> bool:
        return len(hooks.endpoint.received) >= 2

    await eventually(both, 15, what="the two events after enabling")
    assert [e["conversation_id"] for e in hooks.endpoint.events()] == ["c1", "c2"]


async def test_bad_requests_and_unknown_endpoints_get_clear_errors(hooks: Hooks) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await hooks.stub.CreateWebhook(pb.CreateWebhookRequest(url="http://example.com/hook"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "https" in (raised.value.details() or "")
    for call in (
        hooks.stub.EnableWebhook(pb.EnableWebhookRequest(webhook_id="wh-nope")),
        hooks.stub.DeleteWebhook(pb.DeleteWebhookRequest(webhook_id="wh-nope")),
        hooks.stub.ListWebhookDeliveries(pb.ListWebhookDeliveriesRequest(webhook_id="wh-nope")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    created = await hooks.stub.CreateWebhook(pb.CreateWebhookRequest(url=hooks.endpoint.url))
    await hooks.stub.DeleteWebhook(pb.DeleteWebhookRequest(webhook_id=created.webhook.webhook_id))
    assert list((await hooks.stub.ListWebhooks(pb.ListWebhooksRequest())).webhooks) == []
