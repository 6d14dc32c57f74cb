"""Run a Starlette app on uvicorn inside the service's own event loop and lifecycle, with the guards
uvicorn lacks (a deadline for each request's headers, a cap on one address's sockets), and each request
observed: a trace span and a count by route and status."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import Any

import structlog
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from inbox_runtime import tracing
from inbox_runtime.metrics import counter, histogram

log = structlog.get_logger(__name__)

HTTP_REQUESTS = counter(
    "inbox_http_requests_total",
    "HTTP requests answered (webhooks among them), by route and status",
    ["route", "status"],
)
HTTP_SECONDS = histogram("inbox_http_request_seconds", "Time to answer an HTTP request, by route", ["route"])


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


# Probes every few seconds would bury the traces worth reading: counted, never traced.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class ObservedHttp:
    """ASGI middleware: a server span per HTTP request (continuing the caller's `traceparent`), named by the
    route it matched, and the request counted by route and status. WebSockets pass straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 500  # what the client sees if the app fails before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        carrier = None
        if tracing.tracing_enabled() and (traceparent := _header(scope, b"traceparent")):
            carrier = {"traceparent": traceparent, "tracestate": _header(scope, b"tracestate")}
        started = time.perf_counter()
        traced = scope["path"] not in UNTRACED_PATHS
        with tracing.span(f"{scope['method']} {scope['path']}", kind="server", carrier=carrier, enabled=traced):
            try:
                await self._app(scope, receive, sending)
            finally:
                route = str(getattr(scope.get("route"), "path", "") or "unmatched")
                if traced:
                    tracing.name_span(f"{scope['method']} {route}")
                    tracing.set_span_attribute("http.response.status_code", status)
                    if status >= 500:
                        tracing.mark_span_failed(f"answered {status}")
                HTTP_REQUESTS.labels(route, str(status)).inc()
                HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)


@dataclass(frozen=True)
class HttpLimits:
    # A request's whole header block must arrive within this, from the connection's opening or from the
    # previous response: a client trickling headers (slowloris) cannot hold a socket for ever.
    header_timeout_seconds: float = 10.0
    # An idle kept-alive connection is closed after this.
    idle_timeout_seconds: float = 5.0
    # Sockets one address may hold at once (behind a proxy every client has the proxy's address).
    max_connections_per_address: int = 256


def _refusal(status: str, reason: str) -> bytes:
    body = reason.encode() + b"\n"
    head = f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    return head.encode() + f"content-length: {len(body)}\r\n\r\n".encode() + body


def _address_of(connection: object) -> str:
    client = getattr(connection, "client", None)
    return str(client[0]) if isinstance(client, tuple) and client else ""


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with a header deadline and a per-address cap (limits set per server
    by `http_server`, as class attributes: uvicorn builds the protocol itself)."""

    limits = HttpLimits()
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = _address_of(self)
        held = sum(1 for connection in self.connections if _address_of(connection) == address)
        if address and held > self.limits.max_connections_per_address:
            log.warning("http_too_many_connections", held=held - 1)
            transport.write(_refusal("503 Service Unavailable", "too many connections from your address"))
            transport.close()
            return
        self._arm_header_deadline(self.limits.header_timeout_seconds)

    def _arm_header_deadline(self, seconds: float) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(seconds, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            log.info("http_headers_too_slow")
            self.transport.write(_refusal("408 Request Timeout", "the request's headers took too long"))
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_deadline(self.limits.idle_timeout_seconds + self.limits.header_timeout_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)


def _guarded(limits: HttpLimits) -> type[GuardedHttpProtocol]:
    attributes: dict[str, Any] = {"limits": limits}
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), attributes)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the service's lifecycle owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def http_server(
    app: ASGIApp, *, host: str, port: int, ws_max_size: int = 1 << 20, limits: HttpLimits | None = None
) -> AsyncIterator[int]:
    """Serve `app`; yields the bound port. On exit, stop accepting and close connections."""
    limits = limits or HttpLimits()
    config = uvicorn.Config(
        ObservedHttp(app),
        host=host,
        port=port,
        http=_guarded(limits),
        timeout_keep_alive=max(1, round(limits.idle_timeout_seconds)),
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
