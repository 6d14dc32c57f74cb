"""Composition root: store, providers, detector, bus, the pipeline's consumers, gRPC, wait for SIGTERM."""

from __future__ import annotations

from contextlib import AsyncExitStack

import structlog
from inbox.routing.v1 import routing_service_pb2_grpc
from inbox_events import EventBus
from inbox_language import Detector, SentimentModel
from inbox_runtime.grpc_client import authenticated_channel
from inbox_runtime.grpc_server import grpc_server
from inbox_runtime.lifecycle import until_signalled
from inbox_runtime.metrics import metrics_server

from inbox_translation import grpc_api
from inbox_translation.actions import Translator
from inbox_translation.config import Settings, build_providers
from inbox_translation.pipeline import AgentLanguages, TranslationPipeline
from inbox_translation.store import TranslationStore
from inbox_translation.store.mongo import MongoTranslationStore
from inbox_translation.store.sqlite import SqliteTranslationStore
from inbox_translation.subscribers import (
    ON_ASSIGNED,
    ON_CUSTOMER_ERASED,
    ON_CUSTOMERS_MERGED,
    ON_MESSAGE_ADDED,
    ON_REPLY,
    TranslationSubscribers,
)

log = structlog.get_logger(__name__)


async def open_store(settings: Settings) -> TranslationStore:
    """MongoDB when MONGODB_URI is set, else the SQLite file."""
    if settings.common.mongodb is not None:
        return MongoTranslationStore.connect(settings.common.mongodb)  # waited for once gRPC answers health checks
    return await SqliteTranslationStore.open(settings.db_path)


async def run(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        store = await open_store(settings)
        stack.push_async_callback(store.close)
        translator = Translator(
            build_providers(settings.providers),
            store,
            Detector(settings.languages, settings.min_confidence, settings.min_margin),
            pivot=settings.pivot,
            glossary=settings.glossary,
        )
        stack.push_async_callback(translator.close)
        bus = await stack.enter_async_context(
            EventBus.connect(settings.common.nats_url, service="translation", replicas=settings.common.stream_replicas)
        )
        await bus.ensure_streams()
        keys = await bus.api_keys()
        await stack.enter_async_context(metrics_server(settings.common, keys))
        routing = authenticated_channel(settings.routing_target, settings.common.required_api_key())
        stack.push_async_callback(routing.close, None)
        pipeline = TranslationPipeline(
            translator,
            store,
            bus,
            AgentLanguages(routing_service_pb2_grpc.RoutingServiceStub(routing)),
            SentimentModel(),
        )
        server = await stack.enter_async_context(
            grpc_server(
                host=settings.common.bind_host,
                port=settings.grpc_port,
                keys=keys,
                services=[grpc_api.registration(translator)],
            )
        )
        # Health answers NOT_SERVING until the store does (MongoDB may still be starting).
        await store.wait_ready()
        subscribers = TranslationSubscribers(pipeline)
        await stack.enter_async_context(bus.consume(ON_MESSAGE_ADDED, subscribers.on_message_added))
        await stack.enter_async_context(bus.consume(ON_ASSIGNED, subscribers.on_assigned))
        await stack.enter_async_context(bus.consume(ON_REPLY, subscribers.on_reply))
        await stack.enter_async_context(bus.consume(ON_CUSTOMER_ERASED, subscribers.on_customer_erased))
        await stack.enter_async_context(bus.consume(ON_CUSTOMERS_MERGED, subscribers.on_customers_merged))
        await server.set_serving()
        log.info("translation_ready", grpc_port=server.port, providers=list(settings.providers))
        await until_signalled()
        await server.enter_graceful_shutdown()
