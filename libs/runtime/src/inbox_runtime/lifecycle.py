"""Waiting for SIGTERM/SIGINT so the composition root can unwind in order."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

import structlog
import uvloop

from inbox_runtime.config import CommonSettings, ConfigError
from inbox_runtime.logging import configure
from inbox_runtime.tracing import configure_tracing, shutdown_tracing

log = structlog.get_logger(__name__)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_stop_requested: asyncio.Event | None = None


def _catch_stop_signals() -> asyncio.Event:
    """From now on SIGTERM/SIGINT set the returned event instead of ending the process: a stop asked for
    while the service is still starting is kept, and honoured in order once it has started."""
    global _stop_requested
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    _stop_requested = stop
    return stop


async def until_signalled() -> None:
    """Return when the process is asked to stop (SIGTERM, SIGINT); a second signal then ends it at once."""
    stop = _stop_requested if _stop_requested is not None else _catch_stop_signals()
    try:
        await stop.wait()
    finally:
        loop = asyncio.get_running_loop()
        for sig in _STOP_SIGNALS:
            loop.remove_signal_handler(sig)
    log.info("shutdown_requested")


@contextlib.asynccontextmanager
async def every(seconds: float, job: Callable[[], Awaitable[object]], name: str) -> AsyncIterator[None]:
    """Run `job` every `seconds` until the context exits (then let a running job finish). A failing
    run is logged and the next one happens on time: periodic work must never stop for good."""
    stopping = asyncio.Event()

    async def loop() -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=seconds)
            if stopping.is_set():
                return
            try:
                await job()
            except Exception as exc:
                log.warning("periodic_job_failed", job=name, error=repr(exc))

    task = asyncio.create_task(loop(), name=f"every:{name}")
    try:
        yield
    finally:
        stopping.set()
        await task


class _HasCommon(Protocol):
    @property
    def common(self) -> CommonSettings: ...


S = TypeVar("S", bound=_HasCommon)


def tune_garbage_collector() -> None:
    """Every event allocates thousands of short-lived objects (protobuf messages, dicts, tuples) that
    reference counting frees at once; the collector's default young pass every 700 allocations then
    mostly walks survivors. What start-up made (modules, settings) is frozen out of its reach, and young
    passes come every 50,000 allocations (cycles are still collected): in bench/pipeline.py, 4,000
    messages twice each way, 3.1 and 3.4 -> 3.1 and 3.0 ms of CPU per message, 484-520 -> 504-527 msg/s."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def serve(service: str, read_settings: Callable[[], S], run: Callable[[S], Coroutine[Any, Any, None]]) -> None:
    """A service's entry point: read its settings (a bad one stops it with one line naming the
    variable, not a traceback), configure logging and tracing, run until signalled."""
    try:
        settings = read_settings()
    except ConfigError as exc:
        raise SystemExit(f"{service}: {exc}") from None
    configure(service, json=settings.common.log_json, level=settings.common.log_level)

    # uvloop: the same asyncio, with its loop, transports and timers in C (the event loop's own work was
    # a fifth of the consumers' profiles).
    async def main() -> None:
        _catch_stop_signals()
        await run(settings)

    configure_tracing(service, settings.common.otlp_endpoint)
    tune_garbage_collector()

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    finally:
        shutdown_tracing()  # the last spans, those of the stop, are sent before the process ends
