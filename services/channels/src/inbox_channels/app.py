"""Composition root: store, bus, adapters, HTTP (webhooks, chat), gRPC, one outbound consumer per adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import structlog
from inbox.conversations.v1 import outreach_service_pb2_grpc
from inbox_channel_sdk import ChannelAdapter, Erasable, SignalAware, load_adapters
from inbox_channel_sdk.limits import SenderLimit
from inbox_events import EventBus
from inbox_runtime.grpc_client import authenticated_channel
from inbox_runtime.grpc_server import RunningGrpcServer, grpc_server
from inbox_runtime.http_server import http_server
from inbox_runtime.lifecycle import until_signalled
from inbox_runtime.metrics import metrics_server

from inbox_channels import grpc_api
from inbox_channels.actions import ChannelActions, signal_subject
from inbox_channels.config import Settings
from inbox_channels.http_app import build_http_app
from inbox_channels.outreach import OutreachGate
from inbox_channels.store import DeliveryStore
from inbox_channels.store.mongo import MongoDeliveryStore
from inbox_channels.store.sqlite import SqliteDeliveryStore
from inbox_channels.subscribers import ChannelSubscribers, erasure_consumer, outbound_consumer

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RunningChannels:
    actions: ChannelActions
    bus: EventBus
    grpc: RunningGrpcServer
    http_port: int
    nats_url: str


async def open_store(settings: Settings) -> DeliveryStore:
    """MongoDB when MONGODB_URI is set, else the SQLite file."""
    if settings.common.mongodb is not None:
        return MongoDeliveryStore.connect(settings.common.mongodb)  # waited for once gRPC answers health checks
    return await SqliteDeliveryStore.open(settings.db_path)


@asynccontextmanager
async def channels_runtime(
    settings: Settings, adapters: Sequence[ChannelAdapter], *, check_outreach: bool = True
) -> AsyncIterator[RunningChannels]:
    """The whole channels runtime, ready and SERVING; unwinds in order on exit (also used by the tests, which
    run the adapters without a threading service and so without contact pressure: `check_outreach=False`)."""
    async with AsyncExitStack() as stack:
        outreach = None
        if check_outreach:
            conversations = authenticated_channel(settings.conversations_target, settings.common.required_api_key())
            stack.push_async_callback(conversations.close, None)
            outreach = OutreachGate(outreach_service_pb2_grpc.OutreachServiceStub(conversations))
        store = await open_store(settings)
        stack.push_async_callback(store.close)
        bus = await stack.enter_async_context(
            EventBus.connect(settings.common.nats_url, service="channels", replicas=settings.common.stream_replicas)
        )
        await bus.ensure_streams()
        keys = await bus.api_keys()
        await stack.enter_async_context(metrics_server(settings.common, keys))
        actions = ChannelActions(
            store,
            bus,
            keys,
            settings.common.data_dir / "channels",
            settings.common.mongodb,
            SenderLimit(settings.sender_per_minute, settings.sender_burst),
            outreach,
        )
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
        for adapter in adapters:
            await adapter.start(actions.register(adapter))
            stack.push_async_callback(adapter.stop)
            if isinstance(adapter, SignalAware):
                await stack.enter_async_context(bus.on_signal(signal_subject(adapter, "*"), _topic_handler(adapter)))
        http_port = await stack.enter_async_context(
            http_server(
                build_http_app(actions, is_ready=lambda: bus.is_connected),
                host=settings.common.bind_host,
                port=settings.http_port,
                limits=settings.common.http_limits,
            )
        )
        subscribers = ChannelSubscribers(actions)
        for adapter in adapters:
            await stack.enter_async_context(bus.consume(outbound_consumer(adapter), subscribers.on_outbound))
            if isinstance(adapter, Erasable):
                await stack.enter_async_context(
                    bus.consume(erasure_consumer(adapter), subscribers.on_customer_erased(adapter))
                )
        await server.set_serving()
        log.info("channels_ready", grpc_port=server.port, http_port=http_port, adapters=[a.name for a in adapters])
        yield RunningChannels(actions, bus, server, http_port, settings.common.nats_url)
        await server.enter_graceful_shutdown()


def _topic_handler(adapter: SignalAware) -> Callable[[str, bytes], Awaitable[None]]:
    async def handle(subject: str, data: bytes) -> None:
        await adapter.on_signal(subject.rsplit(".", 1)[-1], data)

    return handle


async def run(settings: Settings) -> None:
    adapters, skipped = load_adapters(settings.adapters)
    for name, reason in skipped.items():
        log.warning("channel_adapter_not_configured", adapter=name, reason=reason)
    async with channels_runtime(settings, adapters):
        await until_signalled()
