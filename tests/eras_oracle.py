"""ERAS's expected answers, computed straight from the data set's events (not with the emulator's code).

Shared by the emulator's tests and the gateway's, so both check against one independent reading of
eras-api.md: which events a route counts in a window, their buckets, and their session times.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from gateway.emulators.eras_data import ClassificationEvent, CommentEvent, ErasDataset
from tests import calendar_oracle
from tests.calendar_oracle import bucket_start, bucket_sums, within

K = TypeVar("K", bound=Hashable)
Event = ClassificationEvent | CommentEvent


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def classifications(
    dataset: ErasDataset,
    *,
    user: int | None = None,
    group: int | None = None,
    projects: Iterable[int] | None = None,
    workflows: Iterable[int] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[ClassificationEvent]:
    """The classifications a route counts. A group's are those of signed-in volunteers who listed
    it when classifying (eras-api.md §3.3), each counted once."""
    project_set = None if projects is None else set(projects)
    workflow_set = None if workflows is None else set(workflows)
    return [
        e
        for e in dataset.classifications
        if (user is None or e.user_id == user)
        and (group is None or (e.user_id is not None and group in e.user_group_ids))
        and (project_set is None or e.project_id in project_set)
        and (workflow_set is None or e.workflow_id in workflow_set)
        and within(utc_day(e.created_at), start, end)
    ]


def comments(
    dataset: ErasDataset,
    *,
    projects: Iterable[int] | None = None,
    users: Iterable[int] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[CommentEvent]:
    project_set = None if projects is None else set(projects)
    user_set = None if users is None else set(users)
    return [
        c
        for c in dataset.comments
        if (project_set is None or c.project_id in project_set)
        and (user_set is None or c.user_id in user_set)
        and within(utc_day(c.created_at), start, end)
    ]


def _days(events: Iterable[Event]) -> Iterable[tuple[date, int]]:
    return ((utc_day(e.created_at), 1) for e in events)


def label(day: date) -> str:
    """How ERAS writes a bucket's start: ``2023-09-18T00:00:00.000Z``."""
    return day.strftime("%Y-%m-%dT00:00:00.000Z")


def wire_series(events: Iterable[Event], period: str) -> list[dict[str, Any]]:
    """ERAS's ``data``: the non-empty buckets' labels and counts, oldest first."""
    return [{"period": label(day), "count": n} for day, n in bucket_sums(_days(events), period).items()]


def series(events: Iterable[Event], period: str) -> list[dict[str, Any]]:
    """The gateway's ``series`` of those events."""
    return calendar_oracle.series(_days(events), period)


def tally(
    events: Iterable[ClassificationEvent], key: Callable[[ClassificationEvent], K]
) -> tuple[dict[K, int], dict[K, float]]:
    """Events and session seconds per ``key``."""
    counts: dict[K, int] = {}
    seconds: dict[K, float] = {}
    for e in events:
        counts[key(e)] = counts.get(key(e), 0) + 1
        seconds[key(e)] = seconds.get(key(e), 0.0) + e.session_time
    return counts, seconds


def whole_seconds(events: Iterable[ClassificationEvent], period: str) -> dict[date, int]:
    """Session time per bucket as ERAS sums it with a project filter or the per-project list: each
    (bucket, project) row truncated to whole seconds, then the rows of a bucket added."""
    micros: dict[tuple[date, int], int] = {}
    for e in events:
        cell = (bucket_start(utc_day(e.created_at), period), e.project_id)
        micros[cell] = micros.get(cell, 0) + e.session_micros
    per_bucket: dict[date, int] = {}
    for (day, _project), total in micros.items():
        per_bucket[day] = per_bucket.get(day, 0) + total // 1_000_000
    return dict(sorted(per_bucket.items()))


def last_days(events: Iterable[ClassificationEvent]) -> dict[int, date]:
    """Each project's most recent day: what ordering contributions by recents sorts on."""
    latest: dict[int, date] = {}
    for e in events:
        latest[e.project_id] = max(latest.get(e.project_id, date.min), utc_day(e.created_at))
    return latest
