"""How fast one sender may write: a token bucket per sender, pure (the caller gives the time).

The channels runtime checks every inbound item against it before publishing; past the limit it raises
`SenderRateLimited`, which each adapter answers in its protocol's terms, so nothing is dropped silently:
a webhook gets 429 with `Retry-After` (`webhooks.webhook` does it), a chat frame an error frame with the
wait, a mail a temporary `451` that the sending server retries.
"""

from __future__ import annotations

from collections import OrderedDict


class SenderRateLimited(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many messages from this sender; try again in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class SenderLimit:
    """`burst` items at once, then `per_minute` a minute, per sender; remembers the `tracked` senders
    heard from most recently (a sender forgotten starts again with a full bucket)."""

    def __init__(self, per_minute: int = 60, burst: int = 20, tracked: int = 100_000) -> None:
        self._rate_per_us = per_minute / 60_000_000
        self._burst = float(burst)
        self._tracked = tracked
        self._buckets: OrderedDict[str, tuple[float, int]] = OrderedDict()  # sender -> (tokens, at_us)

    def take(self, sender: str, now_us: int) -> None:
        """Count one item from `sender`, or raise SenderRateLimited with the wait for the next one."""
        tokens, at_us = self._buckets.pop(sender, (self._burst, now_us))
        tokens = min(self._burst, tokens + max(now_us - at_us, 0) * self._rate_per_us)
        if tokens < 1:
            self._buckets[sender] = (tokens, now_us)
            wait_us = (1 - tokens) / self._rate_per_us
            raise SenderRateLimited(max(1, -(-int(wait_us) // 1_000_000)))
        self._buckets[sender] = (tokens - 1, now_us)
        if len(self._buckets) > self._tracked:
            self._buckets.popitem(last=False)
