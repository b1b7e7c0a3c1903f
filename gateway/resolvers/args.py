"""Argument checks shared by the resolvers; failures are BAD_USER_INPUT before any request.

Every id and string is checked whole (``\\A...\\Z`` and a length) before it can reach a URL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from gateway.dates import Granularity, Window, bucket_count
from gateway.errors import BadUserInput

# Upstream ids are integers; 20 digits hold any 64-bit one, and nothing longer is ever sent.
_ID = re.compile(r"\A[0-9]{1,20}\Z")


def numeric_id(name: str, value: object) -> str:
    """``value`` as the id to send: its text must be digits and nothing else (``" 1"`` is no id)."""
    text = str(value)
    if not _ID.match(text):
        raise BadUserInput(
            f"{name} must be a numeric id of at most 20 digits, not {str(value)[:40]!r}.", argument=name
        )
    return str(int(text))


def id_list(name: str, values: Sequence[object] | None, max_ids: int) -> tuple[str, ...] | None:
    """Numeric ids, duplicates dropped, order kept; None when the argument was not given."""
    if values is None:
        return None
    if not values:
        raise BadUserInput(f"{name} must hold at least one id (leave it out for all).", argument=name)
    if len(values) > max_ids:
        raise BadUserInput(
            f"{name} holds {len(values)} ids; at most {max_ids} are allowed (GATEWAY_MAX_IDS).", argument=name
        )
    return tuple(dict.fromkeys(numeric_id(name, v) for v in values))


def non_negative(name: str, value: int) -> int:
    if value < 0:
        raise BadUserInput(f"{name} must not be negative.", argument=name)
    return value


def matching(name: str, value: str, pattern: re.Pattern[str], what: str) -> str:
    """``value`` if the whole of it matches ``pattern``; ``what`` says what was expected."""
    if not pattern.fullmatch(value):
        raise BadUserInput(f"{name} must be {what}, not {value[:70]!r}.", argument=name)
    return value


@dataclass(frozen=True)
class Limits:
    """Bounds on what one field may ask for (the ``GATEWAY_MAX_*`` settings)."""

    max_ids: int = 100
    max_series_points: int = 10_000
    max_entities: int = 100

    def series_points(
        self, window: Window, granularity: Granularity, today: date, first: date | None = None
    ) -> int:
        """Buckets a series over ``window`` would have; 0 while its start is not known."""
        # Without a start, the first bucket is at most today's: what lies between it and a far end
        # is already too many, before anything is asked.
        start = window.start or first or (today if window.end is not None and window.end > today else None)
        if start is None:
            return 0
        return bucket_count(start, max(start, window.end or today), granularity)

    def series_fits(self, window: Window, granularity: Granularity, today: date) -> bool:
        return self.series_points(window, granularity, today) <= self.max_series_points

    def check_series(
        self, window: Window, granularity: Granularity, today: date, first: date | None = None
    ) -> None:
        points = self.series_points(window, granularity, today, first)
        if points > self.max_series_points:
            raise BadUserInput(
                f"This series would have {points} {granularity.value} buckets; at most "
                f"{self.max_series_points} are allowed (GATEWAY_MAX_SERIES_POINTS): narrow the window or "
                "choose a longer period.",
                argument="period",
            )
