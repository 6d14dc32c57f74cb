"""Optimistic writes: decide on what was read, write only if it still holds, else decide again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# A change refused because someone changed the same thing meanwhile is decided again on fresh data;
# this many times before giving up (the caller's event is then delivered again later).
MAX_ATTEMPTS = 20


class WriteContention(RuntimeError):
    """Other writers kept changing the same thing; transient, so an event that met it is retried."""


async def until_applied(attempt: Callable[[], Awaitable[T | None]]) -> T:
    """Run `attempt` (read, decide, write) until it returns something other than None (a refused write)."""
    for _ in range(MAX_ATTEMPTS):
        result = await attempt()
        if result is not None:
            return result
    raise WriteContention(f"gave up after {MAX_ATTEMPTS} conflicting writes")
