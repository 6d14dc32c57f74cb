"""Composition root: open the store and the bus, serve gRPC, run the consumers, wait for SIGTERM.

The exit stack unwinds in reverse: consumers finish their batch, the gRPC server finishes in-flight
calls, the bus drains, the store closes.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import structlog
from inbox_events import EventBus
from inbox_runtime.grpc_server import grpc_server
from inbox_runtime.lifecycle import every, until_signalled
from inbox_runtime.metrics import metrics_server

from inbox_routing import grpc_api
from inbox_routing.actions import RoutingActions
from inbox_routing.config import Settings, read_rules_file
from inbox_routing.store import RoutingStore
from inbox_routing.store.mongo import MongoRoutingStore
from inbox_routing.store.sqlite import SqliteRoutingStore
from inbox_routing.subscribers import (
    ON_CUSTOMER_ERASED,
    ON_CUSTOMERS_MERGED,
    ON_MESSAGE_ADDED,
    ON_REOPENED,
    ON_SENTIMENT_SCORED,
    ON_STATUS_CHANGED,
    RoutingSubscribers,
)

log = structlog.get_logger(__name__)


async def open_store(settings: Settings) -> RoutingStore:
    """MongoDB when MONGODB_URI is set, else the SQLite file."""
    if settings.common.mongodb is not None:
        return MongoRoutingStore.connect(settings.common.mongodb)  # waited for once gRPC answers health checks
    return await SqliteRoutingStore.open(settings.db_path)


async def run(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        store = await open_store(settings)
        stack.push_async_callback(store.close)
        bus = await stack.enter_async_context(
            EventBus.connect(settings.common.nats_url, service="routing", replicas=settings.common.stream_replicas)
        )
        await bus.ensure_streams()
        keys = await bus.api_keys()
        await stack.enter_async_context(metrics_server(settings.common, keys))
        actions = RoutingActions(store, bus, settings.policy)
        server = await stack.enter_async_context(
            grpc_server(
                host=settings.common.bind_host,
                port=settings.grpc_port,
                keys=keys,
                services=[grpc_api.registration(actions)],
            )
        )
        # Health answers NOT_SERVING until the store does (MongoDB may still be starting).
        await store.wait_ready()
        if settings.rules_file is not None:
            await actions.update_rules(read_rules_file(settings.rules_file), f"file:{settings.rules_file.name}")
        subscribers = RoutingSubscribers(actions)
        await stack.enter_async_context(bus.consume(ON_REOPENED, subscribers.on_reopened))
        await stack.enter_async_context(bus.consume(ON_STATUS_CHANGED, subscribers.on_status_changed))
        await stack.enter_async_context(bus.consume(ON_CUSTOMER_ERASED, subscribers.on_customer_erased))
        await stack.enter_async_context(bus.consume(ON_CUSTOMERS_MERGED, subscribers.on_customers_merged))
        await stack.enter_async_context(bus.consume(ON_MESSAGE_ADDED, subscribers.on_message_added))
        await stack.enter_async_context(bus.consume(ON_SENTIMENT_SCORED, subscribers.on_sentiment_scored))
        # Offers lapse within a second of their deadline; silent agents become away; waiting conversations
        # are retried and escalated (a freed agent triggers this at once too).
        await stack.enter_async_context(every(0.25, actions.expire_offers, "expire_offers"))
        await stack.enter_async_context(every(10.0, actions.sweep_presence, "sweep_presence"))
        await stack.enter_async_context(every(5.0, actions.place_waiting, "place_waiting"))
        await stack.enter_async_context(every(5.0, actions.check_slas, "check_slas"))
        await stack.enter_async_context(every(5.0, actions.measure_queues, "measure_queues"))
        await server.set_serving()
        log.info("routing_ready", grpc_port=server.port)
        await until_signalled()
        await server.enter_graceful_shutdown()
