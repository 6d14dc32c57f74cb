"""Running the channels runtime inside a test, on a real nats-server, for adapter tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from inbox_channel_sdk import ChannelAdapter
from inbox_runtime.config import CommonSettings

from inbox_channels.app import RunningChannels, channels_runtime
from inbox_channels.config import Settings


@asynccontextmanager
async def running_channels(
    nats_url: str,
    data_dir: Path,
    adapters: Sequence[ChannelAdapter],
    *,
    sender_per_minute: int = 60,
    sender_burst: int = 20,
) -> AsyncIterator[RunningChannels]:
    """The whole runtime (store, bus, HTTP, gRPC, consumers) on free ports, hosting `adapters`."""
    common = CommonSettings(
        nats_url=nats_url,
        api_key="",
        bind_host="127.0.0.1",
        data_dir=data_dir,
        log_json=True,
        log_level="WARNING",
    )
    settings = Settings(
        common=common,
        grpc_port=0,
        http_port=0,
        db_path=data_dir / "channels.sqlite3",
        adapters=(),
        sender_per_minute=sender_per_minute,
        sender_burst=sender_burst,
    )
    async with channels_runtime(settings, adapters, check_outreach=False) as running:
        yield running
