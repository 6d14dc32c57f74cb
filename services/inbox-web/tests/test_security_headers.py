"""inbox-web's security headers, on a minimal Starlette app: pages are never cached, static files may be,
and behind HTTPS browsers are told to stay on it."""

from __future__ import annotations

import httpx
from inbox_web.http_app import HSTS, SecurityHeaders
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


def client(https: bool) -> httpx.AsyncClient:
    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse("customer data", headers={"cache-control": "max-age=600"})

    routes = [Route("/conversations/1", page), Route("/static/app.css", page)]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders, https=https)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://inbox.test")


async def test_pages_are_never_stored_and_static_files_keep_their_caching() -> None:
    async with client(https=False) as plain:
        page = await plain.get("/conversations/1")
        assert page.headers.get_list("cache-control") == ["no-store"]
        assert "strict-transport-security" not in page.headers
        assert (await plain.get("/static/app.css")).headers["cache-control"] == "max-age=600"


async def test_behind_https_every_response_asks_browsers_to_stay_on_https() -> None:
    async with client(https=True) as secure:
        for path in ("/conversations/1", "/static/app.css"):
            assert (await secure.get(path)).headers["strict-transport-security"] == HSTS
