"""Figshare stats (stats.figshare.com): its route families and the shapes of their answers.

Every family exists in the public scope (``/total/...``) and in an institution's scope
(``/{institution}/total/...``). Institution-scoped timeline, breakdown and top need the caller's
Basic credentials; totals and the article count never do. Answers are read defensively: keys come
in any order, empty timelines are ``null``, zero buckets are missing, tops may be bare or wrapped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from gateway.auth import PUBLIC, Access, Forwarding
from gateway.dates import Window
from gateway.upstream.base import Upstream, UpstreamRequest
from gateway.upstream.wire import BodyReader, window_params

SOURCE = "FIGSHARE"
FAMILIES = frozenset({"total", "timeline", "breakdown", "top", "count"})


@dataclass(frozen=True)
class Scope:
    """The public scope (institution None) or one institution's."""

    institution: str | None = None

    @property
    def prefix(self) -> str:
        return f"/{self.institution}" if self.institution else ""

    @property
    def protected(self) -> Access:
        """Access of the timeline, breakdown and top families in this scope."""
        return Access.REQUIRED if self.institution else Access.PUBLIC


@dataclass(frozen=True)
class Narrowing:
    """``sub_item``/``sub_item_id``: counts of one category or one item type only."""

    sub_item: str
    sub_item_id: str

    def params(self) -> list[tuple[str, str]]:
        return [("sub_item", self.sub_item), ("sub_item_id", self.sub_item_id)]


@dataclass(frozen=True)
class Series:
    """What a timeline or breakdown request counts."""

    scope: Scope
    counter: str  # views | downloads | shares
    item: str  # article | author | collection | group | project
    item_id: str
    narrowing: Narrowing | None = None
    window: Window = field(default_factory=Window)


@dataclass(frozen=True)
class CountryCounts:
    country: str
    count: int
    cities: tuple[tuple[str, int], ...]


_read = BodyReader(SOURCE, "Figshare")


def _bucket_day(key: str) -> date:
    """``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``: the day the bucket starts."""
    try:
        if len(key) == 10:
            return date.fromisoformat(key)
        if len(key) == 7:
            return date(int(key[:4]), int(key[5:7]), 1)
        if len(key) == 4:
            return date(int(key), 1, 1)
    except ValueError:
        pass
    raise _read.fail(f"bucket key {key[:20]!r}")


def read_totals(raw: Any) -> int:
    body = _read.obj(raw, "the answer")
    if "totals" not in body:
        raise _read.fail("no totals")
    return 0 if body["totals"] is None else _read.count(body["totals"], "totals")


def read_timeline(raw: Any) -> list[tuple[str, int]]:
    """Bucket key and count pairs, oldest first; ``null`` and ``{}`` are both empty."""
    body = _read.obj(raw, "the answer")
    if "timeline" not in body:
        raise _read.fail("no timeline")
    timeline = body["timeline"]
    if timeline is None:
        return []
    items = _read.obj(timeline, "timeline")
    return sorted((str(k), _read.count(v, "a timeline count")) for k, v in items.items())


def read_dated_timeline(raw: Any) -> list[tuple[date, int]]:
    return [(_bucket_day(key), count) for key, count in read_timeline(raw)]


def read_breakdown(raw: Any) -> dict[str, tuple[int, dict[str, int]]]:
    """Country -> (total, city counts), summed over the answer's buckets."""
    body = _read.obj(raw, "the answer")
    if "breakdown" not in body:
        raise _read.fail("no breakdown")
    countries: dict[str, tuple[int, dict[str, int]]] = {}
    for bucket in _read.obj(body["breakdown"] or {}, "breakdown").values():
        for country, places in _read.obj(bucket, "a breakdown bucket").items():
            cities = {
                city: _read.count(n, "a city count")
                for city, n in _read.obj(places, "a country").items()
                if city != "total"
            }
            total = places.get("total")
            # A country's total may exceed its (truncated) cities; without one, use their sum.
            country_total = sum(cities.values()) if total is None else _read.count(total, "total")
            have_total, have_cities = countries.get(country, (0, {}))
            for city, n in cities.items():
                have_cities[city] = have_cities.get(city, 0) + n
            countries[country] = (have_total + country_total, have_cities)
    return countries


def read_top(raw: Any) -> list[tuple[str, int]]:
    """Ranking pairs, highest first (ties by key); the answer may be wrapped in ``top`` or bare."""
    body = _read.obj(raw, "the answer")
    # The documented answers are {"top": {...}}; some documented examples are bare objects.
    ranking = body.get("top", body)
    if ranking is None:
        return []
    pairs = [(str(k), _read.count(v, "a ranking count")) for k, v in _read.obj(ranking, "top").items()]
    return sorted(pairs, key=lambda kv: (-kv[1], kv[0]))


def read_article_counts(raw: Any) -> dict[str, int]:
    body = _read.obj(raw, "the answer")
    return {str(k): _read.count(v, "an article count") for k, v in body.items()}


class FigshareClient(Upstream):
    """Figshare's stats routes, on the shared request lifecycle."""

    source = SOURCE

    def totals(self, scope: Scope, counter: str, item: str, item_id: str) -> UpstreamRequest:
        return UpstreamRequest("GET", f"{scope.prefix}/total/{counter}/{item}/{item_id}")

    def timeline(
        self, series: Series, granularity: str, forwarding: Forwarding, *, today: date
    ) -> UpstreamRequest:
        return self._series("timeline", series, granularity, forwarding, today)

    def breakdown(
        self, series: Series, granularity: str, forwarding: Forwarding, *, today: date
    ) -> UpstreamRequest:
        return self._series("breakdown", series, granularity, forwarding, today)

    def _series(
        self, family: str, s: Series, granularity: str, forwarding: Forwarding, today: date
    ) -> UpstreamRequest:
        params = window_params(s.window)
        if s.narrowing is not None:
            params += s.narrowing.params()
        return UpstreamRequest(
            "GET",
            f"{s.scope.prefix}/{family}/{granularity}/{s.counter}/{s.item}/{s.item_id}",
            params=tuple(params),
            forwarding=forwarding,
            settled=s.window.settled(today),
        )

    def top(
        self,
        scope: Scope,
        counter: str,
        item: str,
        *,
        count: int,
        window: Window,
        forwarding: Forwarding,
        today: date,
        item_id: str | None = None,
        sub_item: str | None = None,
    ) -> UpstreamRequest:
        params: list[tuple[str, str]] = []
        if item_id is not None:
            params.append(("item_id", item_id))
        if sub_item is not None:
            params.append(("sub_item", sub_item))
        params.append(("count", str(count)))
        params += window_params(window)
        return UpstreamRequest(
            "GET",
            f"{scope.prefix}/top/{counter}/{item}",
            params=tuple(params),
            forwarding=forwarding,
            settled=window.settled(today),
        )

    def count_articles(self, group_ids: list[str]) -> UpstreamRequest:
        body = json.dumps({"groups": [{"id": int(g)} for g in group_ids]}, separators=(",", ":"))
        return UpstreamRequest("POST", "/count/articles", body=body, forwarding=PUBLIC)

    def error_message(self, response: httpx.Response) -> str | None:
        try:
            body = response.json()
        except ValueError:
            return None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return str(body["message"])
        return None
