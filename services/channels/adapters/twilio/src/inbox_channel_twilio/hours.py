"""Business hours, pure: "Mon-Fri 09:00-17:00; Sat 10:00-14:00" in a time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from inbox_runtime.errors import InvalidInput

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_PART = re.compile(r"^\s*(\w{3})(?:\s*-\s*(\w{3}))?\s+(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")


@dataclass(frozen=True)
class BusinessHours:
    zone: ZoneInfo
    # weekday (Monday 0) -> open intervals
    intervals: dict[int, tuple[tuple[time, time], ...]]

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        now = local.time()
        return any(start <= now < end for start, end in self.intervals.get(local.weekday(), ()))


def parse_hours(spec: str, zone_name: str) -> BusinessHours:
    """Parse `spec` (empty: always open) or raise InvalidInput naming the bad part."""
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {zone_name!r}") from None
    if not spec.strip():
        always = ((time(0, 0), time(23, 59, 59, 999999)),)
        return BusinessHours(zone, dict.fromkeys(range(7), always))
    intervals: dict[int, list[tuple[time, time]]] = {}
    for part in spec.split(";"):
        match = _PART.match(part)
        if not match:
            raise InvalidInput(f"cannot read business hours {part.strip()!r} (e.g. 'Mon-Fri 09:00-17:00')")
        first, last, h1, m1, h2, m2 = match.groups()
        try:
            start_day, end_day = _DAYS.index(first.lower()), _DAYS.index((last or first).lower())
            start, end = time(int(h1), int(m1)), time(int(h2), int(m2))
        except ValueError:
            raise InvalidInput(f"cannot read business hours {part.strip()!r}") from None
        if end <= start:
            raise InvalidInput(f"closing time must follow opening time in {part.strip()!r}")
        day = start_day
        while True:
            intervals.setdefault(day, []).append((start, end))
            if day == end_day:
                break
            day = (day + 1) % 7
    return BusinessHours(zone, {day: tuple(spans) for day, spans in intervals.items()})
