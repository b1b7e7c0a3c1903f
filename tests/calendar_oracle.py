"""The calendar both upstream oracles count in: UTC days, windows and bucket starts, written plainly.

Written here, not imported from ``gateway.dates``, so that expected numbers never come from the
code under test. Periods are named as either side names them (``day``/``DAY`` ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any


def within(day: date, start: date | None, end: date | None) -> bool:
    """Whether ``day`` is in the inclusive window (either end may be open)."""
    return (start is None or start <= day) and (end is None or day <= end)


def bucket_start(day: date, period: str) -> date:
    """The first day of ``day``'s bucket: itself, its Monday, the 1st of its month, or 1 January."""
    kind = period.lower()
    if kind == "day":
        return day
    if kind == "week":
        return day - timedelta(days=day.weekday())
    if kind == "month":
        return day.replace(day=1)
    if kind == "year":
        return day.replace(month=1, day=1)
    raise ValueError(f"not a period: {period}")


def bucket_sums(counts: Iterable[tuple[date, int]], period: str) -> dict[date, int]:
    """``(day, count)`` pairs summed per bucket start, oldest first; only buckets with counts."""
    sums: dict[date, int] = {}
    for day, count in counts:
        start = bucket_start(day, period)
        sums[start] = sums.get(start, 0) + count
    return dict(sorted(sums.items()))


def series(counts: Iterable[tuple[date, int]], period: str) -> list[dict[str, Any]]:
    """A gateway ``series`` of those counts (``start``, ``count``): non-empty buckets, oldest first."""
    return [{"start": day.isoformat(), "count": n} for day, n in bucket_sums(counts, period).items()]
