"""The channels HTTP surface: health probes plus every adapter's routes (webhooks, chat socket)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from inbox_channels.actions import ChannelActions


def build_http_app(actions: ChannelActions, is_ready: Callable[[], bool]) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        ready = is_ready()
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/readyz", readyz)]
    for adapter in actions.adapters:
        routes.extend(adapter.routes())
    return Starlette(routes=routes)
