"""The embedded HTTP server's guards, over real sockets: a client trickling its headers is answered 408
and closed; one address holding too many sockets is answered 503; everyone else is served."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from inbox_runtime.http_server import HttpLimits, http_server
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


@pytest.fixture
async def port() -> AsyncIterator[int]:
    limits = HttpLimits(header_timeout_seconds=0.3, idle_timeout_seconds=30, max_connections_per_address=2)
    async with http_server(Starlette(routes=[Route("/", hello)]), host="127.0.0.1", port=0, limits=limits) as bound:
        yield bound


async def get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    return head + await reader.readexactly(length)


async def test_headers_that_trickle_get_408_and_the_socket_is_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n")  # and never the blank line
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)  # read() returns once the server closed
    assert answer.startswith(b"HTTP/1.1 408") and b"headers took too long" in answer
    writer.close()
    # A kept-alive connection gets the same deadline for its next request.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await get(reader, writer)).endswith(b"hello")
    writer.close()


async def test_one_address_holds_a_bounded_number_of_sockets(port: int) -> None:
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    for reader, writer in held:  # both served, and kept alive
        assert (await get(reader, writer)).endswith(b"hello")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = await asyncio.wait_for(reader.read(), 10)
    assert answer.startswith(b"HTTP/1.1 503") and b"too many connections" in answer
    writer.close()
    # Once one is given back, the address may connect again.
    held[0][1].close()
    await held[0][1].wait_closed()

    async def served_again() -> bytes:
        while True:
            again_reader, again_writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                answer = await get(again_reader, again_writer)
            except asyncio.IncompleteReadError:
                continue
            finally:
                again_writer.close()
            if answer.startswith(b"HTTP/1.1 200"):
                return answer
            # A 503 still: the server had not seen the close yet.

    assert (await asyncio.wait_for(served_again(), 10)).endswith(b"hello")
    held[1][1].close()
