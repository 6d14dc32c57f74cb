"""Waiting for something to become true in a running suite: the one polling loop the tests share.

Only for what must happen (a message stored, a log line written); a test never proves that something
did *not* happen by waiting, it uses a sentinel event instead."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")

POLL_SECONDS = 0.05


async def eventually(check: Callable[[], Awaitable[T] | T], timeout: float = 15.0, what: str = "condition") -> T:
    """The first truthy result of `check` (a coroutine function, or a plain one reading what a local peer
    received), polled until `timeout`; AssertionError with the last result after."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        answer = check()
        result = cast("T", await answer) if inspect.isawaitable(answer) else answer
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what} not met in {timeout:g} s (last: {result!r})")
        await asyncio.sleep(POLL_SECONDS)
