"""`/metrics` over a real socket: only a key holding metrics:read reads it; every HTTP listener counts its
requests by the route they matched (a template, never the path with its ids) and their status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from inbox_devstack.ports import free_port
from inbox_runtime.callers import IssuedKey, StaticKeys, issue_key
from inbox_runtime.config import CommonSettings
from inbox_runtime.http_server import http_server
from inbox_runtime.metrics import metrics_server
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

SCRAPER = issue_key("prometheus", ["metrics:read"], created_by="test", now_us=1)
READER = issue_key("reader", ["conversations:read"], created_by="test", now_us=1)


def settings(metrics_port: int | None) -> CommonSettings:
    return CommonSettings(
        nats_url="nats://unused",
        api_key="",
        bind_host="127.0.0.1",
        data_dir=Path("unused"),
        log_json=True,
        log_level="INFO",
        metrics_port=metrics_port,
    )


def bearer(key: IssuedKey) -> dict[str, str]:
    return {"authorization": f"Bearer {key.text}"}


@pytest.fixture
async def metrics_url() -> AsyncIterator[str]:
    async with metrics_server(settings(free_port()), StaticKeys.of(SCRAPER, READER)) as port:
        yield f"http://127.0.0.1:{port}/metrics"


async def test_only_a_key_holding_metrics_read_reads_the_metrics(metrics_url: str) -> None:
    async with httpx.AsyncClient() as http:
        anonymous = await http.get(metrics_url)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
        assert (await http.get(metrics_url, headers=bearer(READER))).status_code == 403
        scraped = await http.get(metrics_url, headers=bearer(SCRAPER))
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=")
    assert "process_resident_memory_bytes" in scraped.text


async def test_no_port_no_listener() -> None:
    async with metrics_server(settings(None), StaticKeys.of(SCRAPER)) as port:
        assert port is None


async def test_requests_are_counted_by_route_template_and_status(metrics_url: str) -> None:
    async def order(request: Request) -> PlainTextResponse:
        return PlainTextResponse("", status_code=204 if request.path_params["order_id"] != "missing" else 404)

    app = Starlette(routes=[Route("/test-orders/{order_id}", order)])
    async with http_server(app, host="127.0.0.1", port=0) as port, httpx.AsyncClient() as http:
        for order_id in ("o-1", "o-2", "missing"):
            await http.get(f"http://127.0.0.1:{port}/test-orders/{order_id}")
        await http.get(f"http://127.0.0.1:{port}/nowhere")
        text = (await http.get(metrics_url, headers=bearer(SCRAPER))).text
    assert 'inbox_http_requests_total{route="/test-orders/{order_id}",status="204"} 2.0' in text
    assert 'inbox_http_requests_total{route="/test-orders/{order_id}",status="404"} 1.0' in text
    assert 'inbox_http_requests_total{route="unmatched",status="404"} 1.0' in text
    assert "o-1" not in text
