"""Emulator of Zooniverse's ERAS stats service (eras.zooniverse.org).

It follows /work/shared/upstreams/eras-api.md ("the contract") in everything a client can observe:
the four read routes and ``GET /``; Rails routing (trailing slash, ``.json`` suffix, digit-only
ids, 404 for anything else, with the ``Accept``-dependent body of §7.4); the query string read the
way Rack 2.2 reads it; the validation order and exact 400 texts of §2.2, before any auth; the
Panoptes checks and their 403 texts (§3); the response shapes, key orders and number types of §4
and §6.4; ETag / ``If-None-Match`` / ``Cache-Control`` (§7.1) and CORS (§7.2).

Numbers are filter-and-sum over the dataset's events (§6.2). Session-time sums are exact (ERAS
stores ``session_time`` as a decimal), each figure becoming a float at the end; sums that ERAS makes
in Ruby (``time_spent``, a member's total in the breakdown) use ``math.fsum``, so the last bits may
differ from ERAS's own order of addition.

Where the contract leaves a choice, this emulator:

- breaks every tie by id ascending: ``project_contributions`` (users and groups),
  ``top_contributors`` and ``group_member_stats_breakdown`` (members and their projects) sort by
  count descending, then id; ``recents`` sorts by latest bucket descending, then project id;
- copies the "today" quirk of ``/classifications`` (§6.2): when ``end_date`` is missing or not
  before today, days up to yesterday are counted with the date filter and all of today's
  classifications are added without it, in the current period's bucket. So a ``start_date`` after
  today still returns today's count, and events dated after today are never counted there;
- reads dates as ``YYYY-MM-DD`` or ``YYYY-M-D`` only; any other text is 400 ``Invalid date.`` (§10.2);
- answers 500 (exceptions-app body) where Ruby would raise: a negative or huge
  ``top_contributors``, and a parameter sent in array or hash form (``period[]=day``) where ERAS
  calls a string method on it; such a parameter still counts as present in the presence checks
  and is otherwise dropped (``project_id[]=1`` filters nothing). A malformed query string (bad
  ``%`` escape, invalid UTF-8, ``a=1&a[]=2``) is 400 with the exceptions-app body, as in Rails;
- chooses the aggregate "table" by presence, as ERAS does: ``/comments?user_id=`` (present but
  empty) leaves out comments without a user, and ``/comments?project_id=`` those without a project;
- answers ``POST /kinesis`` with 403 and an empty body (no ingestion credentials exist here);
- returns ``revision`` ``fcd08d4``, the upstream commit the contract was read from.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from enum import Enum
from operator import attrgetter
from typing import NamedTuple, TypeVar
from urllib.parse import unquote_to_bytes

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gateway.emulators.eras_data import (
    GROUP_ADMIN_ROLE,
    ClassificationEvent,
    CommentEvent,
    ErasDataset,
    FakePanoptes,
    PanoptesGroup,
    PanoptesUser,
    utc_today,
)
from gateway.emulators.recorder import EmulatorApp

REVISION = "fcd08d4"
"""What ``GET /`` reports: the ERAS commit the contract describes."""

CONTENT_TYPE = "application/json; charset=utf-8"
PERIODS = ("day", "week", "month", "year")

INVALID_DATE = "Invalid date."
INVALID_RANGE = "Date range entered is not valid"
INVALID_PERIOD = "Invalid bucket option. Valid options for period is day, week, month, or year"
WORKFLOW_AND_PROJECT = "Cannot query by workflow and project. Either query by one or the other"
CONTRIBUTIONS_AND_FILTER = "Cannot query for project contributions and query by project/workflow"
INVALID_ORDER = "Can only order project contributions by recents or count. Default behavior is count"
BREAKDOWN_AND_MORE = (
    "Cannot query individual stats breakdown with anything else EXCEPT start_date and end_date"
)
MISSING_HEADER = "Missing Authorization header"
MISSING_BEARER = "Missing Bearer token"
PANOPTES_REJECTED = "Could not check authentication with Panoptes"
NOT_ALLOWED = "not allowed to show? this Symbol"


class _Rejection(Exception):
    """An error the ERAS controllers render themselves: ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Crash(Exception):
    """An error that escapes the controllers and is answered by Rails' exceptions app (§7.4)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


# ---------------------------------------------------------------- the query string, as Rack reads it

_Value = str | list[str | None] | dict[str, object] | None
"""A parameter: text, None (a key without ``=``), or the array/hash forms (``a[]=``, ``a[k]=``)."""

_SEPARATOR = re.compile(rb"[&;] *")  # Rack 2.2 splits on both, eating spaces after them
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_KEY = re.compile(r"[\[\]]*([^\[\]]+)\]*")
_RUBY_INT = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+(?:_[0-9]+)*)")
_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_BEARER = re.compile(r"Bearer (.*)")  # ERAS: /\ABearer (.*)\Z/


def _unescape(raw: bytes) -> str:
    if _BAD_ESCAPE.search(raw):
        raise _Crash(400)
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise _Crash(400) from None


def _store(params: dict[str, _Value], key: str, value: str | None) -> None:
    """Rack's ``normalize_params``, reduced to what ERAS can tell apart."""
    match = _KEY.match(key)
    if match is None:
        return
    name, rest = match.group(1), key[match.end() :]
    current = params.get(name)
    if rest == "":
        params[name] = value  # a repeated key: the last one wins
    elif rest == "[":
        params[key] = value  # Rack keeps such a key whole; it never names an ERAS parameter
    elif rest == "[]":
        if current is None:
            current = params[name] = []
        if not isinstance(current, list):
            raise _Crash(400)
        current.append(value)
    else:
        # Nested forms: ERAS only ever sees that the value is not a string.
        is_array = rest.startswith("[]")
        if current is None:
            params[name] = [] if is_array else {}
        elif not isinstance(current, list if is_array else dict):
            raise _Crash(400)


def _parse_query(raw: bytes) -> dict[str, _Value]:
    params: dict[str, _Value] = {}
    for piece in _SEPARATOR.split(raw) if raw else ():
        key, equals, value = piece.partition(b"=")
        _store(params, _unescape(key), _unescape(value) if equals else None)
    return params


def _ruby_to_i(text: str) -> int:
    """Ruby's ``String#to_i``: the leading integer, or 0 (``"12abc"`` -> 12, ``"abc"`` -> 0)."""
    match = _RUBY_INT.match(text)
    return int(match.group(1).replace("_", "")) if match else 0


def _blank(text: str) -> bool:
    return not text.strip()


def _parse_date(text: str) -> date | None:
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


@dataclass(frozen=True)
class _Params:
    """One request's parameters, read the three ways ERAS reads them."""

    values: Mapping[str, _Value]

    @classmethod
    def parse(cls, query_string: bytes) -> _Params:
        return cls(_parse_query(query_string))

    def given(self, name: str) -> bool:
        """Presence, as the validation checks test it (``""`` counts, a bare key does not)."""
        return self.values.get(name) is not None

    def text(self, name: str) -> str | None:
        """The value the controllers' whitelist lets through: text only."""
        value = self.values.get(name)
        return value if isinstance(value, str) else None

    def scalar(self, name: str) -> str | None:
        """The value where ERAS calls a string method on it: any other form raises (500)."""
        value = self.values.get(name)
        if value is None or isinstance(value, str):
            return value
        raise _Crash(500)

    def flag(self, name: str) -> bool:
        value = self.scalar(name)
        return value is not None and value.casefold() == "true"

    def ids(self, name: str) -> frozenset[int] | None:
        """An id-list filter, or None when the parameter is absent or blank (no filter)."""
        value = self.text(name)
        if value is None or _blank(value):
            return None
        # Empty pieces cast to NULL and match nothing, so they are simply dropped.
        return frozenset(_ruby_to_i(piece) for piece in value.split(",") if piece)

    def period(self) -> str | None:
        value = self.text("period")
        return None if value is None else value.lower()

    def window(self) -> _Window:
        start, end = self.text("start_date"), self.text("end_date")
        return _Window(
            None if start is None else _parse_date(start),
            None if end is None else _parse_date(end),
        )


@dataclass(frozen=True)
class _Window:
    """Inclusive UTC days; None is an open end."""

    start: date | None = None
    end: date | None = None

    def __contains__(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


# ---------------------------------------------------------------- validation (§2.2)


def _checked_date(text: str | None) -> date | None:
    if text is None:
        return None
    parsed = _parse_date(text)
    if parsed is None:
        raise _Rejection(400, INVALID_DATE)
    return parsed


def _validate_common(params: _Params) -> None:
    start = _checked_date(params.scalar("start_date"))
    end = _checked_date(params.scalar("end_date"))
    if start is not None and end is not None and start > end:
        raise _Rejection(400, INVALID_RANGE)
    period = params.scalar("period")
    if period is not None and period.lower() not in PERIODS:
        raise _Rejection(400, INVALID_PERIOD)
    if params.given("workflow_id") and params.given("project_id"):
        raise _Rejection(400, WORKFLOW_AND_PROJECT)


def _validate_user_params(params: _Params) -> None:
    _validate_common(params)
    if params.given("project_contributions") and (params.given("workflow_id") or params.given("project_id")):
        raise _Rejection(400, CONTRIBUTIONS_AND_FILTER)
    order = params.scalar("order_project_contributions_by")
    if order is not None and order.lower() not in ("recents", "count"):
        raise _Rejection(400, INVALID_ORDER)


def _validate_group_params(params: _Params) -> None:
    _validate_common(params)
    others = ("period", "workflow_id", "project_id", "top_contributors")
    if params.given("individual_stats_breakdown") and any(params.given(n) for n in others):
        raise _Rejection(400, BREAKDOWN_AND_MORE)


# ---------------------------------------------------------------- counting (§5, §6)


class _Row(NamedTuple):
    """A classification reduced to what the counts read."""

    day: date
    project_id: int
    workflow_id: int
    user_id: int | None
    micros: int

    @classmethod
    def of(cls, event: ClassificationEvent) -> _Row:
        day = event.created_at.astimezone(UTC).date()
        return cls(day, event.project_id, event.workflow_id, event.user_id, event.session_micros)


class _CommentRow(NamedTuple):
    day: date
    project_id: int | None
    user_id: int | None

    @classmethod
    def of(cls, event: CommentEvent) -> _CommentRow:
        return cls(event.created_at.astimezone(UTC).date(), event.project_id, event.user_id)


@dataclass
class _Tally:
    """A count and an exact session-time sum."""

    count: int = 0
    micros: int = 0

    @property
    def seconds(self) -> float:
        return self.micros / 1_000_000

    @property
    def whole_seconds(self) -> int:
        """The sum as a model with an integer ``session_time`` attribute holds it (truncated)."""
        return self.micros // 1_000_000


_K = TypeVar("_K", bound=Hashable)
_R = TypeVar("_R", _Row, _CommentRow)


def _tally(rows: Iterable[_Row], key: Callable[[_Row], _K]) -> dict[_K, _Tally]:
    tallies: dict[_K, _Tally] = defaultdict(_Tally)
    for row in rows:
        tally = tallies[key(row)]
        tally.count += 1
        tally.micros += row.micros
    return dict(tallies)


def _ranked(tallies: Mapping[int, _Tally]) -> list[tuple[int, _Tally]]:
    """Count descending, then id ascending (ERAS leaves ties unordered)."""
    return sorted(tallies.items(), key=lambda item: (-item[1].count, item[0]))


def _bucket_start(day: date, period: str) -> date:
    """The UTC day a bucket starts on: weeks start on Monday."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return date(day.year, 1, 1)


def _bucket_label(start: date) -> str:
    return f"{start.isoformat()}T00:00:00.000Z"


def _matching(rows: Iterable[_R], params: _Params, *names: str) -> list[_R]:
    """Rows whose ``name`` attribute is in each given id list (absent or blank: no filter)."""
    kept = list(rows)
    for name in names:
        ids = params.ids(name)
        if ids is not None:
            value = attrgetter(name)
            kept = [row for row in kept if value(row) in ids]
    return kept


def _filtered(rows: Iterable[_R], params: _Params, *names: str) -> list[_R]:
    """``_matching`` rows inside the request's date window."""
    window = params.window()
    return [row for row in _matching(rows, params, *names) if row.day in window]


def _event_counts(counts: Mapping[date, int], period: str | None) -> dict[str, object]:
    """The ``/classifications`` and ``/comments`` shape (§4.1)."""
    answer: dict[str, object] = {"total_count": sum(counts.values())}
    if period is not None:
        answer["data"] = [
            {"period": _bucket_label(start), "count": count} for start, count in sorted(counts.items())
        ]
    return answer


def _count_by_bucket(days: Iterable[date], period: str) -> dict[date, int]:
    counts: dict[date, int] = defaultdict(int)
    for day in days:
        counts[_bucket_start(day, period)] += 1
    return dict(counts)


def _visibility_allows(visibility: str, breakdown: bool, roles: Sequence[str]) -> bool:
    """The policy table of §3.3, for a caller who is not a Panoptes admin."""
    member = len(roles) > 0
    group_admin = member and GROUP_ADMIN_ROLE in roles
    if breakdown:
        if visibility == "public_show_all":
            return True
        if visibility in ("public_agg_show_ind_if_member", "private_show_agg_and_ind"):
            return member
        if visibility in ("public_agg_only", "private_agg_only"):
            return group_admin
        return False
    if visibility in ("private_show_agg_and_ind", "private_agg_only"):
        return member
    return "private" not in visibility


def _group_not_found(group_id: str) -> str:
    """The Panoptes client's exception text: the Ruby inspect form of its error hash."""
    message = f"Could not find user_group with id='{group_id}'"
    return f'{{:status=>404, :body=>{{"errors"=>[{{"message"=>"{message}"}}]}}}}'


class _Eras:
    """The four stats routes over one dataset: parameters in, JSON-ready answer out.

    Each route method takes the parameters, the id from the path and the Authorization header;
    the public routes ignore the last two, as ERAS does.
    """

    def __init__(self, dataset: ErasDataset, today: Callable[[], date]) -> None:
        self._panoptes: FakePanoptes = dataset.panoptes
        self._today = today
        self._rows = [_Row.of(event) for event in dataset.classifications]
        self._comments = [_CommentRow.of(event) for event in dataset.comments]
        by_user: dict[int, list[_Row]] = defaultdict(list)
        by_group: dict[int, list[_Row]] = defaultdict(list)
        for event, row in zip(dataset.classifications, self._rows, strict=True):
            if event.user_id is not None:
                by_user[event.user_id].append(row)
            for group_id in event.credited_group_ids:
                by_group[group_id].append(row)
        self._by_user = dict(by_user)
        self._by_group = dict(by_group)
        # The rows of each project and workflow: a request naming a few is answered without a scan
        # of every row, so that a gateway sending fifty such requests at once waits on itself.
        self._indexes: dict[str, dict[int, list[_Row]]] = {"project_id": {}, "workflow_id": {}}
        for row in self._rows:
            self._indexes["project_id"].setdefault(row.project_id, []).append(row)
            self._indexes["workflow_id"].setdefault(row.workflow_id, []).append(row)

    def _candidates(self, params: _Params) -> list[_Row]:
        """The rows that the request's project or workflow ids may match (all, when it names none)."""
        for name, index in self._indexes.items():
            ids = params.ids(name)
            if ids is not None:
                return [row for id_ in ids for row in index.get(id_, ())]
        return self._rows

    # -- public routes

    def classifications(self, params: _Params, subject: str | None, auth: str | None) -> object:
        _validate_common(params)
        period = params.period()
        grain = period or "year"
        window = params.window()
        today = self._today()
        rows = _matching(self._candidates(params), params, "workflow_id", "project_id")
        if window.end is not None and window.end < today:
            return _event_counts(_count_by_bucket((r.day for r in rows if r.day in window), grain), period)
        # ERAS reads the days up to yesterday from a daily aggregate, then adds today from an
        # hourly one, to which start_date is not applied (§6.2).
        counts = _count_by_bucket((r.day for r in rows if r.day < today and r.day in window), grain)
        todays = sum(1 for r in rows if r.day == today)
        if todays:
            current = _bucket_start(today, grain)
            counts[current] = counts.get(current, 0) + todays
        return _event_counts(counts, period)

    def comments(self, params: _Params, subject: str | None, auth: str | None) -> object:
        _validate_common(params)
        rows: Iterable[_CommentRow] = self._comments
        # The aggregate chosen by presence leaves out comments without a project (or user).
        if params.text("project_id") is not None:
            rows = (c for c in rows if c.project_id is not None)
        elif params.text("user_id") is not None:
            rows = (c for c in rows if c.user_id is not None)
        kept = _filtered(rows, params, "project_id", "user_id")
        period = params.period()
        return _event_counts(_count_by_bucket((c.day for c in kept), period or "year"), period)

    # -- one volunteer (§3.2, §4.3)

    def user(self, params: _Params, subject: str | None, auth: str | None) -> object:
        _validate_user_params(params)
        time_spent = params.flag("time_spent")
        contributions = params.flag("project_contributions")
        user_id = int(subject or 0)
        me = self._login(auth)
        if me.id != user_id and not me.admin:
            raise _Rejection(403, NOT_ALLOWED)

        rows = _filtered(self._by_user.get(user_id, ()), params, "workflow_id", "project_id")
        period = params.period()
        grain = period or "year"
        cells = _tally(rows, lambda r: (_bucket_start(r.day, grain), r.project_id))
        if contributions:
            typing = _SessionTyping.WHOLE_PER_PROJECT
        elif params.text("project_id") is not None:
            typing = _SessionTyping.WHOLE_PER_BUCKET
        else:
            typing = _SessionTyping.FLOAT
        points = _user_points(cells, typing)

        answer: dict[str, object] = {"total_count": sum(count for _, count, _ in points)}
        if time_spent:
            answer["time_spent"] = float(math.fsum(seconds for _, _, seconds in points))
        if contributions:
            order = (params.text("order_project_contributions_by") or "count").lower()
            answer["project_contributions"] = _user_contributions(cells, order)
        if period is not None:
            answer["data"] = [
                {"period": _bucket_label(start), "count": count}
                | ({"session_time": seconds} if time_spent else {})
                for start, count, seconds in points
            ]
        return answer

    # -- a user group (§3.3, §4.4)

    def group(self, params: _Params, subject: str | None, auth: str | None) -> object:
        _validate_group_params(params)
        breakdown = params.flag("individual_stats_breakdown")
        top_text = params.scalar("top_contributors")
        top = None if top_text is None else _ruby_to_i(top_text)
        group_id = subject or "0"
        group = self._panoptes.user_group(int(group_id))
        if group is None:
            raise _Rejection(404, _group_not_found(group_id))
        self._authorize_group(group, breakdown, auth)
        rows = self._by_group.get(group.id, [])
        if breakdown:
            return _member_breakdown(_filtered(rows, params))
        return _group_aggregate(rows, params, top)

    def _authorize_group(self, group: PanoptesGroup, breakdown: bool, auth: str | None) -> None:
        visibility = group.stats_visibility
        if not ((breakdown and visibility != "public_show_all") or "private" in visibility):
            return  # no login needed: the Authorization header is never looked at
        me = self._login(auth)
        roles = self._panoptes.membership_roles(me.id, group.id) or ()
        if not (me.admin or _visibility_allows(visibility, breakdown, roles)):
            raise _Rejection(403, NOT_ALLOWED)

    def _login(self, authorization: str | None) -> PanoptesUser:
        if authorization is None:
            raise _Rejection(403, MISSING_HEADER)
        match = _BEARER.fullmatch(authorization)
        if match is None:
            raise _Rejection(403, MISSING_BEARER)
        me = self._panoptes.me(match.group(1))
        if me is None:
            raise _Rejection(403, PANOPTES_REJECTED)
        return me


class _SessionTyping(Enum):
    """How the model behind a users-route answer types ``session_time`` (§6.4)."""

    FLOAT = "float"
    WHOLE_PER_BUCKET = "one truncated sum per bucket"  # per-project model, grouped by bucket
    WHOLE_PER_PROJECT = "truncated per (bucket, project), then added"  # project_contributions


def _user_points(
    cells: Mapping[tuple[date, int], _Tally], typing: _SessionTyping
) -> list[tuple[date, int, int | float]]:
    """(bucket start, count, session_time) per non-empty bucket, ascending."""
    by_bucket: dict[date, list[_Tally]] = defaultdict(list)
    for (start, _project), tally in cells.items():
        by_bucket[start].append(tally)
    points: list[tuple[date, int, int | float]] = []
    for start in sorted(by_bucket):
        tallies = by_bucket[start]
        merged = _Tally(sum(t.count for t in tallies), sum(t.micros for t in tallies))
        seconds: int | float
        if typing is _SessionTyping.WHOLE_PER_PROJECT:
            seconds = sum(t.whole_seconds for t in tallies)
        elif typing is _SessionTyping.WHOLE_PER_BUCKET:
            seconds = merged.whole_seconds
        else:
            seconds = merged.seconds
        points.append((start, merged.count, seconds))
    return points


def _user_contributions(cells: Mapping[tuple[date, int], _Tally], order: str) -> list[dict[str, object]]:
    counts: dict[int, int] = defaultdict(int)
    latest: dict[int, date] = {}
    for (start, project_id), tally in cells.items():
        counts[project_id] += tally.count
        latest[project_id] = max(start, latest.get(project_id, start))
    if order == "recents":
        ordered = sorted(counts, key=lambda pid: (-latest[pid].toordinal(), pid))
    else:
        ordered = sorted(counts, key=lambda pid: (-counts[pid], pid))
    return [{"project_id": pid, "count": counts[pid]} for pid in ordered]


def _group_aggregate(rows: Sequence[_Row], params: _Params, top: int | None) -> object:
    """Mode A (§4.4): totals, active users, and the optional parts in their key order."""
    kept = _filtered(rows, params, "workflow_id", "project_id")
    period = params.period()
    grain = period or "year"
    buckets = _tally(kept, lambda r: _bucket_start(r.day, grain))
    users = _tally(kept, lambda r: r.user_id or 0)  # group rows always have a user
    answer: dict[str, object] = {
        "total_count": len(kept),
        "time_spent": float(math.fsum(t.seconds for t in buckets.values())),
        "active_users": len(users),
    }
    if not (params.given("project_id") or params.given("workflow_id")):
        projects = _tally(_filtered(rows, params), attrgetter("project_id"))
        answer["project_contributions"] = [
            {"project_id": pid, "count": t.count, "session_time": t.seconds} for pid, t in _ranked(projects)
        ]
    if top is not None:
        if not 0 <= top < 2**63:
            raise _Crash(500)  # Ruby's Array#first raises on a negative or non-long count
        whole = params.text("project_id") is None and params.text("workflow_id") is None
        answer["top_contributors"] = [
            {"user_id": uid, "count": t.count, "session_time": t.whole_seconds if whole else t.seconds}
            for uid, t in _ranked(users)[:top]
        ]
    if period is not None:
        answer["data"] = [
            {"period": _bucket_label(start), "count": t.count, "session_time": t.seconds}
            for start, t in sorted(buckets.items())
        ]
    return answer


def _member_breakdown(rows: Sequence[_Row]) -> object:
    """Mode B (§4.4): each member's totals and per-project counts."""
    cells = _tally(rows, lambda r: (r.user_id or 0, r.project_id))  # always a user here
    per_user: dict[int, dict[int, _Tally]] = defaultdict(dict)
    for (user_id, project_id), tally in cells.items():
        per_user[user_id][project_id] = tally
    totals = {uid: _Tally(sum(t.count for t in p.values())) for uid, p in per_user.items()}
    members = []
    for user_id, total in _ranked(totals):
        projects = _ranked(per_user[user_id])
        members.append(
            {
                "user_id": user_id,
                "count": total.count,
                "session_time": math.fsum(t.seconds for _, t in projects),
                "project_contributions": [
                    {"project_id": pid, "count": t.count, "session_time": t.seconds} for pid, t in projects
                ],
            }
        )
    return {"group_member_stats_breakdown": members}


# ---------------------------------------------------------------- JSON as Rails writes it

_HTML_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"))
_LINE_ESCAPES = (("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def _ruby_float(value: float) -> str:
    """Ruby's ``Float#to_s``: shortest round-trip digits, always with a fraction (``487.0``)."""
    if not math.isfinite(value):
        return "null"
    mantissa, exponent_mark, exponent = repr(value).partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + exponent_mark + exponent


def _json_string(text: str) -> str:
    # ActiveSupport escapes these so JSON can sit inside HTML.
    encoded = json.dumps(text, ensure_ascii=False)
    for raw, escaped in _HTML_ESCAPES + _LINE_ESCAPES:
        encoded = encoded.replace(raw, escaped)
    return encoded


def _encode_json(value: object) -> str:
    """Compact JSON the way ActiveSupport writes it (Ruby float text, HTML-safe strings)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _ruby_float(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_json_string(str(k))}:{_encode_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Iterable):
        return "[" + ",".join(_encode_json(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


# ---------------------------------------------------------------- HTTP (§1, §7)

_Handler = Callable[[_Params, str | None, str | None], object]


def _route(path: str) -> re.Pattern[str]:
    """A Rails route with its optional format suffix (``/classifications.json``)."""
    return re.compile(rf"{path}(?:\.(?P<format>[^/.?]+))?")


_KINESIS = _route("/kinesis")

_OK_CACHE_CONTROL = "max-age=0, private, must-revalidate"
_RAILS_DEFAULT_HEADERS: Mapping[str, str] = {
    "x-frame-options": "SAMEORIGIN",
    "x-xss-protection": "0",
    "x-content-type-options": "nosniff",
    "x-download-options": "noopen",
    "x-permitted-cross-domain-policies": "none",
    "referrer-policy": "strict-origin-when-cross-origin",
}
_CORS_HEADERS: Mapping[str, str] = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
    "access-control-expose-headers": "",
    "access-control-max-age": "7200",
}
_STATUS_PHRASES = {400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}
_BROWSER_LIKE_ACCEPT = re.compile(r",\s*\*/\*|\*/\*\s*,")
_JSON_TYPES = frozenset({"application/json", "text/x-json", "application/jsonrequest"})
_REQUEST_ID_JUNK = re.compile(r"[^A-Za-z0-9_\-@]")


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _render(status: int, payload: object) -> _Reply:
    """A controller's ``render json:``; Rack::ETag adds the validator on 200 only."""
    body = _encode_json(payload).encode()
    headers = {"content-type": CONTENT_TYPE, **_RAILS_DEFAULT_HEADERS}
    if status == 200:
        headers["etag"] = f'W/"{hashlib.md5(body).hexdigest()}"'
        headers["cache-control"] = _OK_CACHE_CONTROL
    else:
        headers["cache-control"] = "no-cache"
    return _Reply(status, body, headers)


def _first_accepted(accept: str) -> str | None:
    """The media type Rails would try first: highest ``q``, then header order."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept.split(",")):
        media, *options = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for option in options:
            name, _, number = option.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(number)
                except ValueError:
                    quality = 0.0
        if media:
            ranked.append((-quality, index, media.lower()))
    return min(ranked)[2] if ranked else None


def _exceptions_app(status: int, request: Request, route_format: str | None) -> _Reply:
    """Rails' public exceptions app: JSON only for a JSON format, else an empty HTML page."""
    if _wants_json(request, route_format):
        payload = {"status": status, "error": _STATUS_PHRASES[status]}
        return _Reply(status, _encode_json(payload).encode(), {"content-type": CONTENT_TYPE})
    return _Reply(status, b"", {"content-type": "text/html; charset=utf-8"})


def _wants_json(request: Request, route_format: str | None) -> bool:
    chosen = route_format or request.query_params.get("format")
    if chosen:
        return chosen == "json"
    accept = request.headers.get("accept")
    if accept and not _BROWSER_LIKE_ACCEPT.search(accept):
        return _first_accepted(accept) in _JSON_TYPES
    path: str = request.scope["path"]
    return path.rstrip("/").rsplit("/", 1)[-1].endswith(".json")


def _normalize_path(path: str) -> str:
    """Rails' path normalisation: repeated slashes squeezed, trailing slash dropped."""
    return re.sub(r"/+", "/", "/" + path).rstrip("/") or "/"


def _request_id(incoming: str | None) -> str:
    cleaned = _REQUEST_ID_JUNK.sub("", incoming or "")[:255]
    return cleaned or str(uuid.uuid4())


class _Endpoint:
    """The ASGI endpoint behind every path: routing, Rails' middleware, and rack-cors."""

    def __init__(self, service: _Eras, revision: str) -> None:
        self._revision = revision
        self._routes = (
            (_route("/classifications"), service.classifications),
            (_route("/comments"), service.comments),
            (_route("/classifications/users/(?P<id>[0-9]+)"), service.user),
            (_route("/classifications/user_groups/(?P<id>[0-9]+)"), service.group),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if _is_preflight(request):
            response = _preflight(request)
        else:
            started = time.perf_counter()
            reply = self._conditional(request, self._dispatch(request))
            response = _finish(request, reply, started)
        await response(scope, receive, send)

    def _dispatch(self, request: Request) -> _Reply:
        path = _normalize_path(request.scope["path"])
        method = request.method
        if method == "POST" and _KINESIS.fullmatch(path):
            return _Reply(403, b"", {"cache-control": "no-cache", **_RAILS_DEFAULT_HEADERS})
        if method in ("GET", "HEAD"):
            if path == "/":
                return _render(200, {"revision": self._revision})
            for pattern, handler in self._routes:
                match = pattern.fullmatch(path)
                if match is not None:
                    return _answer(request, handler, match)
        return _exceptions_app(404, request, None)

    @staticmethod
    def _conditional(request: Request, reply: _Reply) -> _Reply:
        """Rack::ConditionalGet: an exact ``If-None-Match`` match turns a 200 into a bare 304."""
        etag = reply.headers.get("etag")
        if (
            reply.status == 200
            and request.method in ("GET", "HEAD")
            and etag is not None
            and request.headers.get("if-none-match") == etag
        ):
            headers = {k: v for k, v in reply.headers.items() if k != "content-type"}
            return _Reply(304, b"", headers)
        return reply


def _answer(request: Request, handler: _Handler, match: re.Match[str]) -> _Reply:
    """Run a stats route, rendering its refusals as its controller or the exceptions app would."""
    groups = match.groupdict()
    try:
        params = _Params.parse(request.scope["query_string"])
        payload = handler(params, groups.get("id"), request.headers.get("authorization"))
    except _Rejection as rejection:
        return _render(rejection.status, {"error": rejection.message})
    except _Crash as crash:
        return _exceptions_app(crash.status, request, groups.get("format"))
    return _render(200, payload)


def _is_preflight(request: Request) -> bool:
    return (
        request.method == "OPTIONS"
        and "origin" in request.headers
        and "access-control-request-method" in request.headers
    )


def _preflight(request: Request) -> Response:
    headers = {**_CORS_HEADERS, "vary": "Origin"}
    requested = request.headers.get("access-control-request-headers")
    if requested is not None:
        headers["access-control-allow-headers"] = requested
    return Response(b"", status_code=200, headers=headers)


def _finish(request: Request, reply: _Reply, started: float) -> Response:
    headers = dict(reply.headers)
    headers["x-request-id"] = _request_id(request.headers.get("x-request-id"))
    headers["x-runtime"] = f"{time.perf_counter() - started:.6f}"
    if "origin" in request.headers:
        headers.update(_CORS_HEADERS)
    headers["vary"] = "Origin"
    # For HEAD the body goes too, so Content-Length matches GET; the server drops the body itself.
    return Response(reply.body, status_code=reply.status, headers=headers)


def build_eras_emulator(
    dataset: ErasDataset | None = None,
    *,
    today: Callable[[], date] | None = None,
    revision: str = REVISION,
) -> EmulatorApp:
    """An ERAS emulator over ``dataset`` (default: generated up to today), ready to ``serve()``.

    ``today`` is the server's UTC date, read on each request; it matters to ``/classifications``
    (§6.2). Tests pass a fixed one.
    """
    clock = today or utc_today
    data = dataset if dataset is not None else ErasDataset.generate(end=clock())
    endpoint = _Endpoint(_Eras(data, clock), revision)
    return EmulatorApp.wrap(Starlette(routes=[Route("/{path:path}", endpoint)]))
