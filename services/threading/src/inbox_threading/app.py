"""Composition root: open the store and the bus, serve gRPC, run the consumers, wait for SIGTERM.

The exit stack unwinds in reverse: consumers finish their batch, the gRPC server finishes in-flight
calls, the bus drains, the store closes.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import structlog
from inbox_events import EventBus
from inbox_language import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_MARGIN, Detector, SentimentModel
from inbox_runtime.grpc_server import grpc_server
from inbox_runtime.lifecycle import every, until_signalled
from inbox_runtime.metrics import metrics_server

from inbox_threading import access_api, grpc_api, outreach_api, webhook_api
from inbox_threading.actions import ThreadingActions
from inbox_threading.config import Settings
from inbox_threading.outreach_actions import OutreachActions, OutreachPolicies
from inbox_threading.store import ConversationStore
from inbox_threading.store.mongo import MongoConversationStore
from inbox_threading.store.sqlite import SqliteConversationStore
from inbox_threading.subscribers import (
    ON_ASSIGNED,
    ON_CUSTOMER_ERASED,
    ON_DELIVERY_STATUS,
    ON_INBOUND,
    ON_LANGUAGE_DETECTED,
    ON_MESSAGE_TRANSLATED,
    ON_OPT_OUT,
    ON_PROACTIVE_SENT,
    ON_QUEUED,
    ON_REPLY_TRANSLATED,
    ON_SENTIMENT_SCORED,
    ON_TRANSFERRED,
    ON_TRANSLATION_PENDING,
    ThreadingSubscribers,
)
from inbox_threading.webhook_dispatch import SCAN_SECONDS, WebhookDispatcher, WebhookRegistry

log = structlog.get_logger(__name__)


async def open_store(settings: Settings) -> ConversationStore:
    """MongoDB when MONGODB_URI is set, else the SQLite file."""
    if settings.common.mongodb is not None:
        return MongoConversationStore.connect(settings.common.mongodb)  # waited for once gRPC answers health checks
    return await SqliteConversationStore.open(settings.db_path)


async def run(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        store = await open_store(settings)
        stack.push_async_callback(store.close)
        bus = await stack.enter_async_context(
            EventBus.connect(settings.common.nats_url, service="threading", replicas=settings.common.stream_replicas)
        )
        await bus.ensure_streams()
        keys = await bus.api_keys()
        await stack.enter_async_context(metrics_server(settings.common, keys))
        guesser = (
            Detector(settings.guess_languages, DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_MARGIN)
            if settings.guess_languages
            else None
        )
        actions = ThreadingActions(
            store,
            bus,
            settings.policies,
            settings.queue_notice_channels,
            guesser=guesser,
            sentiment=SentimentModel(),
            surveys=settings.surveys,
        )
        outreach = OutreachActions(store, bus, await OutreachPolicies.open(bus), low_score=settings.surveys.low_score)
        webhooks = await WebhookRegistry.open(bus)
        dispatcher = WebhookDispatcher(webhooks, bus, settings.webhook_policy)
        stack.push_async_callback(dispatcher.stop)
        server = await stack.enter_async_context(
            grpc_server(
                host=settings.common.bind_host,
                port=settings.grpc_port,
                keys=keys,
                services=[
                    grpc_api.registration(actions),
                    access_api.registration(keys),
                    outreach_api.registration(outreach),
                    webhook_api.registration(webhooks, bus),
                ],
            )
        )
        # Health answers NOT_SERVING until the store does (MongoDB may still be starting).
        await store.wait_ready()
        subscribers = ThreadingSubscribers(actions)
        await stack.enter_async_context(bus.consume(ON_INBOUND, subscribers.on_inbound))
        await stack.enter_async_context(bus.consume(ON_ASSIGNED, subscribers.on_assigned))
        await stack.enter_async_context(bus.consume(ON_PROACTIVE_SENT, subscribers.on_proactive_sent))
        await stack.enter_async_context(bus.consume(ON_OPT_OUT, subscribers.on_opt_out))
        await stack.enter_async_context(bus.consume(ON_TRANSFERRED, subscribers.on_transferred))
        await stack.enter_async_context(bus.consume(ON_QUEUED, subscribers.on_queued))
        await stack.enter_async_context(bus.consume(ON_LANGUAGE_DETECTED, subscribers.on_language_detected))
        await stack.enter_async_context(bus.consume(ON_SENTIMENT_SCORED, subscribers.on_sentiment_scored))
        await stack.enter_async_context(bus.consume(ON_DELIVERY_STATUS, subscribers.on_delivery_status))
        await stack.enter_async_context(bus.consume(ON_MESSAGE_TRANSLATED, subscribers.on_message_translated))
        await stack.enter_async_context(bus.consume(ON_TRANSLATION_PENDING, subscribers.on_translation_pending))
        await stack.enter_async_context(bus.consume(ON_REPLY_TRANSLATED, subscribers.on_reply_translated))
        await stack.enter_async_context(bus.consume(ON_CUSTOMER_ERASED, subscribers.on_customer_erased))
        await stack.enter_async_context(every(settings.snooze_check_seconds, actions.wake_snoozed, "wake_snoozed"))
        await dispatcher.scan()
        await stack.enter_async_context(every(SCAN_SECONDS, dispatcher.scan, "webhooks"))
        await server.set_serving()
        log.info("threading_ready", grpc_port=server.port)
        await until_signalled()
        await server.enter_graceful_shutdown()
