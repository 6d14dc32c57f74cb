"""The per-sender limit: a burst at once, then a steady rate, with the wait said when it is reached."""

from __future__ import annotations

import pytest
from inbox_channel_sdk.limits import SenderLimit, SenderRateLimited

SECOND_US = 1_000_000


def test_a_burst_passes_then_the_sender_waits_for_the_rate() -> None:
    limit = SenderLimit(per_minute=60, burst=3)
    for _ in range(3):
        limit.take("2:+14155550123", 0)
    with pytest.raises(SenderRateLimited) as refused:
        limit.take("2:+14155550123", 0)
    assert refused.value.retry_after_seconds == 1
    assert "try again in 1 s" in str(refused.value)
    limit.take("3:visitor-1", 0)  # other senders are not held back
    limit.take("2:+14155550123", SECOND_US)  # one a second after the burst
    with pytest.raises(SenderRateLimited):
        limit.take("2:+14155550123", SECOND_US + SECOND_US // 2)


def test_a_quiet_sender_gets_its_burst_back_and_tracking_is_bounded() -> None:
    limit = SenderLimit(per_minute=6, burst=2, tracked=2)
    limit.take("a", 0)
    limit.take("a", 0)
    with pytest.raises(SenderRateLimited) as refused:
        limit.take("a", 0)
    assert refused.value.retry_after_seconds == 10
    limit.take("a", 20 * SECOND_US)
    limit.take("a", 20 * SECOND_US)  # two refills in twenty seconds
    limit.take("b", 0)
    limit.take("c", 0)
    assert len(limit._buckets) == 2
