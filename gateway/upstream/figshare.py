"""Figshare stats (stats.figshare.com): its route families and the shapes of their answers.

Every family exists in the public scope (``/total/...``) and in an institution's scope
(``/{institution}/total/...``). Institution-scoped timeline, breakdown and top need the caller's
Basic credentials; totals and the article count never do. Answers are read defensively: keys come
in any order, empty timelines are ``null``, zero buckets are missing, tops may be bare or wrapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import orjson

from gateway.auth import Access, Forwarding
from gateway.dates import Window
from gateway.upstream.body import BodyReader, window_params
from gateway.upstream.calls import UpstreamRequest
from gateway.upstream.datasource import DataSource, Path

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


Countries = dict[str, tuple[int, dict[str, int]]]


def read_breakdown(raw: Any, into: Countries | None = None) -> Countries:
    """Country -> (total, city counts), summed over the answer's buckets (and onto ``into``)."""
    body = _read.obj(raw, "the answer")
    if "breakdown" not in body:
        raise _read.fail("no breakdown")
    countries: Countries = {} if into is None else into
    breakdown = {} if body["breakdown"] is None else body["breakdown"]
    for bucket in _read.obj(breakdown, "breakdown").values():
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


class FigshareAPI(DataSource):
    """Figshare's stats routes, as one operation asks them."""

    source = SOURCE
    settings_prefix = "figshare"

    def _forwarding(self, scope: Scope, access: Access, what: str) -> Forwarding:
        return self.forwarding(access, f"{what} in the {scope.institution!r} institution scope")

    async def totals(
        self, scope: Scope, counter: str, item: str, item_id: str, path: Path | None = None
    ) -> int:
        """All-time total: public in every scope."""
        request = UpstreamRequest("GET", f"{scope.prefix}/total/{counter}/{item}/{item_id}")
        return read_totals(await self.fetch(request, path))

    async def timeline(self, s: Series, granularity: str, path: Path | None = None) -> list[tuple[date, int]]:
        """Bucket start days and counts, oldest first; ``granularity`` as the upstream names it."""
        request = self._series("timeline", s, granularity, "A timeline")
        return [(_bucket_day(key), count) for key, count in read_timeline(await self.fetch(request, path))]

    async def timeline_total(self, s: Series, path: Path | None = None) -> int:
        """The sum over the window, read from the ``total`` timeline."""
        request = self._series("timeline", s, "total", "A windowed total")
        return sum(count for _, count in read_timeline(await self.fetch(request, path)))

    async def countries(self, s: Series, windows: Sequence[Window], path: Path | None = None) -> Countries:
        """Geolocation over ``windows`` (parts of the series' window), summed."""
        requests = [self._series("breakdown", replace(s, window=w), "total", "Geolocation") for w in windows]
        merged: Countries = {}
        for answer in await self.fetch_all(requests, [[path] if path else []] * len(requests)):
            read_breakdown(answer, into=merged)
        return merged

    async def top(
        self,
        scope: Scope,
        counter: str,
        item: str,
        *,
        count: int,
        window: Window,
        item_id: str | None = None,
        sub_item: str | None = None,
        path: Path | None = None,
    ) -> list[tuple[str, int]]:
        params: list[tuple[str, str]] = []
        if item_id is not None:
            params.append(("item_id", item_id))
        if sub_item is not None:
            params.append(("sub_item", sub_item))
        params.append(("count", str(count)))
        params += window_params(window)
        request = UpstreamRequest(
            "GET",
            f"{scope.prefix}/top/{counter}/{item}",
            params=tuple(params),
            forwarding=self._forwarding(scope, scope.protected, "A ranking"),
            settled=window.settled(self.today),
        )
        return read_top(await self.fetch(request, path))

    async def count_articles(self, group_ids: Sequence[str], paths: Sequence[Path] = ()) -> dict[str, int]:
        """Public article counts of groups, in one request (a read-only POST)."""
        body = orjson.dumps({"groups": [{"id": int(g)} for g in group_ids]})
        [answer] = await self.fetch_all([UpstreamRequest("POST", "/count/articles", body=body)], [paths])
        return read_article_counts(answer)

    def _series(self, family: str, s: Series, granularity: str, what: str) -> UpstreamRequest:
        params = window_params(s.window)
        if s.narrowing is not None:
            params += s.narrowing.params()
        return UpstreamRequest(
            "GET",
            f"{s.scope.prefix}/{family}/{granularity}/{s.counter}/{s.item}/{s.item_id}",
            params=tuple(params),
            forwarding=self._forwarding(s.scope, s.scope.protected, what),
            settled=s.window.settled(self.today),
        )
