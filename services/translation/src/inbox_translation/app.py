"""Composition root: store, providers, detector, bus (streams), gRPC, wait for SIGTERM."""

from __future__ import annotations

from contextlib import AsyncExitStack

import structlog
from inbox_events import EventBus
from inbox_runtime.grpc_server import grpc_server
from inbox_runtime.lifecycle import until_signalled

from inbox_translation import grpc_api
from inbox_translation.actions import Translator
from inbox_translation.config import Settings, build_providers
from inbox_translation.detection import Detector
from inbox_translation.store.sqlite import SqliteTranslationStore

log = structlog.get_logger(__name__)


async def run(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        store = await SqliteTranslationStore.open(settings.db_path)
        stack.push_async_callback(store.close)
        translator = Translator(
            build_providers(settings.providers),
            store,
            Detector(settings.languages, settings.min_confidence, settings.min_margin),
            pivot=settings.pivot,
            glossary=settings.glossary,
        )
        stack.push_async_callback(translator.close)
        bus = await stack.enter_async_context(EventBus.connect(settings.common.nats_url, service="translation"))
        await bus.ensure_streams()
        server = await stack.enter_async_context(
            grpc_server(
                host=settings.common.bind_host,
                port=settings.grpc_port,
                token=settings.common.api_token,
                services=[grpc_api.registration(translator)],
            )
        )
        await server.set_serving()
        log.info("translation_ready", grpc_port=server.port, providers=list(settings.providers))
        await until_signalled()
        await server.enter_graceful_shutdown()
