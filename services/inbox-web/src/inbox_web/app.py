"""Composition root: user store, gRPC clients, the live feed from NATS, the HTTP app, wait for SIGTERM."""

from __future__ import annotations

from contextlib import AsyncExitStack

import structlog
from inbox_events import EventBus
from inbox_runtime.http_server import http_server
from inbox_runtime.lifecycle import until_signalled
from inbox_runtime.metrics import metrics_server

from inbox_web.accounts import Accounts
from inbox_web.backends import open_backends
from inbox_web.config import Settings
from inbox_web.http_app import build_http_app
from inbox_web.live import SUBJECTS, VISITOR_TYPING, LiveFeed
from inbox_web.store import open_user_store

log = structlog.get_logger(__name__)


async def run(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        users = await open_user_store(settings.common.mongodb, settings.db_path)
        stack.push_async_callback(users.close)
        backends = await open_backends(
            stack,
            settings.conversations_target,
            settings.routing_target,
            settings.channels_target,
            settings.common.required_api_key(),
        )
        bus = await stack.enter_async_context(
            EventBus.connect(settings.common.nats_url, service="inbox-web", replicas=settings.common.stream_replicas)
        )
        await bus.ensure_streams()
        await stack.enter_async_context(metrics_server(settings.common, await bus.api_keys()))
        feed = LiveFeed(backends)
        await stack.enter_async_context(bus.watch(SUBJECTS, feed.on_event))
        await stack.enter_async_context(bus.on_signal(VISITOR_TYPING, feed.on_typing))
        app = build_http_app(
            backends,
            Accounts(users),
            users,
            feed,
            session_secret=settings.session_secret,
            secure_cookies=settings.secure_cookies,
            session_hours=settings.session_hours,
        )
        port = await stack.enter_async_context(
            http_server(
                app, host=settings.common.bind_host, port=settings.http_port, limits=settings.common.http_limits
            )
        )
        log.info("inbox_web_ready", http_port=port)
        await until_signalled()
        feed.close()  # open pages' streams end, so the HTTP server can stop; they reconnect elsewhere
