"""A clock the test sets: the actions take `clock=`, so no test depends on the wall clock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Clock:
    """Microseconds since the epoch, as the test says."""

    now: int = 1_000_000

    def __call__(self) -> int:
        return self.now
