"""Waiting for SIGTERM/SIGINT so the composition root can unwind in order."""

from __future__ import annotations

import asyncio
import signal

import structlog

log = structlog.get_logger(__name__)


async def until_signalled() -> None:
    """Return when the process is asked to stop (SIGTERM, SIGINT)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("shutdown_requested")
