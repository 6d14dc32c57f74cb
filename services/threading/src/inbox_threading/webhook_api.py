"""inbox.conversations.v1.WebhookService on the conversations endpoint: integrators' endpoints, registered,
listed, enabled again and removed, with their delivery logs (delivered by webhook_dispatch.py)."""

from __future__ import annotations

from typing import Any

import grpc
from inbox.conversations.v1 import webhook_service_pb2 as pb
from inbox.conversations.v1 import webhook_service_pb2_grpc as pb_grpc
from inbox_events import EventBus
from inbox_runtime.grpc_server import ServiceRegistration, translate_errors
from inbox_runtime.timestamps import to_timestamp

from inbox_threading.actions import FEED_SUBJECTS
from inbox_threading.webhook_dispatch import WebhookRegistry
from inbox_threading.webhooks import DeliveryAttempt, WebhookRecord

Context = grpc.aio.ServicerContext[Any, Any]


def webhook_to_proto(record: WebhookRecord) -> pb.Webhook:
    converted = pb.Webhook(
        webhook_id=record.webhook_id,
        url=record.url,
        description=record.description,
        enabled=record.enabled,
        disabled_reason=record.disabled_reason,
        created_at=to_timestamp(record.created_at_us),
        consecutive_failures=record.consecutive_failures,
        cursor=record.cursor,
    )
    if record.failing_since_us:
        converted.failing_since.CopyFrom(to_timestamp(record.failing_since_us))
    return converted


def attempt_to_proto(attempt: DeliveryAttempt) -> pb.WebhookDelivery:
    return pb.WebhookDelivery(
        event_id=attempt.event_id,
        subject=attempt.subject,
        attempted_at=to_timestamp(attempt.attempted_at_us),
        attempt=attempt.attempt,
        status_code=attempt.status_code,
        error=attempt.error,
        delivered=attempt.delivered,
        duration_ms=attempt.duration_ms,
    )


class WebhookApi(pb_grpc.WebhookServiceServicer):
    def __init__(self, registry: WebhookRegistry, bus: EventBus) -> None:
        self._registry = registry
        self._bus = bus

    @translate_errors
    async def CreateWebhook(self, request: pb.CreateWebhookRequest, context: Context) -> pb.CreateWebhookResponse:
        start = await self._bus.feed_end(list(FEED_SUBJECTS))
        record, secret = await self._registry.create(request.url, request.description, start)
        return pb.CreateWebhookResponse(webhook=webhook_to_proto(record), secret=secret)

    @translate_errors
    async def ListWebhooks(self, request: pb.ListWebhooksRequest, context: Context) -> pb.ListWebhooksResponse:
        return pb.ListWebhooksResponse(webhooks=[webhook_to_proto(r) for r in await self._registry.all()])

    @translate_errors
    async def EnableWebhook(self, request: pb.EnableWebhookRequest, context: Context) -> pb.EnableWebhookResponse:
        return pb.EnableWebhookResponse(webhook=webhook_to_proto(await self._registry.enable(request.webhook_id)))

    @translate_errors
    async def DeleteWebhook(self, request: pb.DeleteWebhookRequest, context: Context) -> pb.DeleteWebhookResponse:
        await self._registry.delete(request.webhook_id)
        return pb.DeleteWebhookResponse()

    @translate_errors
    async def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest, context: Context
    ) -> pb.ListWebhookDeliveriesResponse:
        stored = await self._registry.require(request.webhook_id)
        return pb.ListWebhookDeliveriesResponse(deliveries=[attempt_to_proto(a) for a in stored.record.deliveries])


def registration(registry: WebhookRegistry, bus: EventBus) -> ServiceRegistration:
    return ServiceRegistration(
        full_name=pb.DESCRIPTOR.services_by_name["WebhookService"].full_name,
        servicer=WebhookApi(registry, bus),
        add_to_server=pb_grpc.add_WebhookServiceServicer_to_server,
    )
