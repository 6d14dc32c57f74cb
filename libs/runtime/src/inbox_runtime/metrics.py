"""Prometheus metrics: each process's own registry, served at `/metrics` on `METRICS_PORT` to a caller whose
API key holds `metrics:read` (Prometheus sends it as a bearer token).

The metrics themselves are declared where they are measured (the bus's consumers, the gRPC bootstrap, a
service's use cases) with `counter`, `gauge` and `histogram`, whose names all start with `inbox_`. Labels
hold bounded values only (a consumer, a route template, a channel, a status), never an id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from inbox_runtime.callers import KeySource, Refused, authenticate, require_scope
from inbox_runtime.config import CommonSettings

log = structlog.get_logger(__name__)

METRICS_SCOPE = "metrics:read"
# Seconds: from half a millisecond (a consumer's event in a batch) to ten seconds (a provider's slow call).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
    return Counter(name, documentation, labels)


def gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
    return Gauge(name, documentation, labels)


def histogram(name: str, documentation: str, labels: Sequence[str] = ()) -> Histogram:
    return Histogram(name, documentation, labels, buckets=LATENCY_BUCKETS)


def metrics_app(keys: KeySource) -> Starlette:
    async def metrics(request: Request) -> Response:
        try:
            require_scope(await authenticate(keys, request.headers.get("authorization")), METRICS_SCOPE)
        except Refused as refused:
            log.warning("metrics_refused", reason=str(refused))
            status = 401 if refused.unauthenticated else 403
            return PlainTextResponse(str(refused), status_code=status, headers={"www-authenticate": "Bearer"})
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", metrics)])


@asynccontextmanager
async def metrics_server(common: CommonSettings, keys: KeySource) -> AsyncIterator[int | None]:
    """Serve `/metrics` on METRICS_PORT while the block runs; yields the bound port, or None when unset."""
    if common.metrics_port is None:
        yield None
        return
    from inbox_runtime.http_server import http_server  # here: http_server counts its requests with this module

    app = metrics_app(keys)
    async with http_server(app, host=common.bind_host, port=common.metrics_port, limits=common.http_limits) as port:
        log.info("metrics_listening", port=port)
        yield port
