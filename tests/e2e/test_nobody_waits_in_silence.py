"""Customers waiting for an agent are told their place and a rough wait, over real processes."""

from __future__ import annotations

import asyncio
import json

import websockets
from inbox_devstack.suite import LocalSuite


async def chat(suite: LocalSuite, text: str) -> websockets.ClientConnection:
    ws = await websockets.connect(f"ws://127.0.0.1:{suite.ports.channels_http}/chat/ws")
    await ws.send(json.dumps({"type": "hello"}))
    await ws.recv()
    await ws.send(json.dumps({"type": "message", "client_message_id": "m1", "text": text}))
    assert json.loads(await ws.recv())["type"] == "accepted"
    return ws


async def notice(ws: websockets.ClientConnection) -> str:
    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
    assert frame["type"] == "message"
    return str(frame["text"])


async def test_waiting_customers_are_told_their_place(local_suite: LocalSuite) -> None:
    # No agent is available: both customers wait, and each hears where they stand.
    first = await chat(local_suite, "Hello, anyone?")
    assert await notice(first) == (
        "Thanks for waiting. You are next in line; an agent will be with you as soon as possible."
    )
    second = await chat(local_suite, "Me too")
    assert (await notice(second)).startswith("Thanks for waiting. You are number 2 in line")
    await first.close()
    await second.close()
