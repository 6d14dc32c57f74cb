"""Run a Starlette app on uvicorn inside the service's own event loop and lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Generator

import structlog
import uvicorn
from starlette.types import ASGIApp

log = structlog.get_logger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the service's lifecycle owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def http_server(app: ASGIApp, *, host: str, port: int, ws_max_size: int = 1 << 20) -> AsyncIterator[int]:
    """Serve `app`; yields the bound port. On exit, stop accepting and close connections."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        ws_max_size=ws_max_size,
        timeout_graceful_shutdown=5,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise OSError(f"HTTP server on {host}:{port} exited during start-up")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    log.info("http_listening", port=bound)
    try:
        yield bound
    finally:
        server.should_exit = True
        await task
        log.info("http_stopped")
