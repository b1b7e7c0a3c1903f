"""Figshare stats: field arguments to Figshare requests.

``total`` without dates reads the all-time totals route; with dates (or a filter, which totals do
not take) it reads the ``total`` timeline over the window. ``series`` reads the timeline of its
period; weeks are summed here from the daily timeline, as Figshare has none. ``countries`` reads
the ``total`` breakdown, fetching windows longer than the upstream's one-year clamp in parts.
Every ``publicArticleCount`` of an operation goes in one ``POST /count/articles``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from gateway.auth import CallerCredentials, CredentialRouter, Forwarding
from gateway.dates import Granularity, InvalidDate, Window, bucket_starts, rebucket, year_chunks
from gateway.errors import BadUserInput
from gateway.resolvers.args import numeric_id
from gateway.resolvers.batching import Batch
from gateway.upstream.base import CallLog
from gateway.upstream.figshare import (
    FAMILIES,
    CountryCounts,
    FigshareClient,
    Narrowing,
    Scope,
    Series,
    read_article_counts,
    read_breakdown,
    read_dated_timeline,
    read_timeline,
    read_top,
    read_totals,
)

INSTITUTION = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ITEM_TYPE = re.compile(r"^[a-z][a-z_]{0,31}$")
MAX_TOP = 100
# Totals take no dates or filters; a filtered all-time total is the timeline from here to today.
ALL_TIME_START = date(1970, 1, 1)


def scope_of(institution: str | None) -> Scope:
    if institution is None:
        return Scope()
    if not INSTITUTION.match(institution) or institution in FAMILIES:
        raise BadUserInput(
            "institution must be a Figshare portal short name (lower-case letters, digits, "
            f"'-' or '_'), not {institution[:70]!r}.",
            argument="institution",
        )
    return Scope(institution)


def narrowing(category_id: object | None, item_type: str | None) -> Narrowing | None:
    """The filter argument as ``sub_item``/``sub_item_id``: exactly one of its two fields."""
    if category_id is None and item_type is None:
        raise BadUserInput("filter needs categoryId or itemType.", argument="filter")
    if category_id is not None and item_type is not None:
        raise BadUserInput("filter takes categoryId or itemType, not both.", argument="filter")
    if category_id is not None:
        return Narrowing("category", numeric_id("filter.categoryId", category_id))
    assert item_type is not None
    if not ITEM_TYPE.match(item_type):
        raise BadUserInput(
            f'filter.itemType must be a lower-case item type name such as "dataset", not {item_type[:40]!r}.',
            argument="filter",
        )
    return Narrowing("item_type", item_type)


def top_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_TOP:
        raise BadUserInput(f"limit must be between 1 and {MAX_TOP}.", argument="limit")
    return limit


@dataclass(frozen=True)
class CountsHandle:
    """One counter of one item over a window: what a FigshareCounts object answers from."""

    source: FigshareSource
    series: Series


class FigshareSource:
    """The operation's Figshare requests."""

    def __init__(
        self,
        client: FigshareClient,
        router: CredentialRouter,
        credentials: CallerCredentials,
        calls: CallLog,
        today: date,
        *,
        credential_header: str,
    ) -> None:
        self.credential_header = credential_header
        self.client = client
        self.router = router
        self.credentials = credentials
        self.calls = calls
        self.today = today
        self._counts: Batch[str, int | BaseException] = Batch(self._count_articles)

    def _forwarding(self, scope: Scope, what: str) -> Forwarding:
        return self.router.route(
            "FIGSHARE",
            scope.protected,
            self.credentials.figshare,
            what=f"{what} in the {scope.institution!r} institution scope",
            hint=f"send {self.credential_header}: Basic <base64 of user:password>",
        )

    def counts(
        self,
        scope: Scope,
        counter: str,
        item: str,
        item_id: str,
        start: date | InvalidDate | None,
        end: date | InvalidDate | None,
        narrowed: Narrowing | None,
    ) -> CountsHandle:
        window = Window.of(start, end)
        return CountsHandle(self, Series(scope, counter, item, item_id, narrowed, window))

    async def total(self, s: Series) -> int:
        if s.window == Window() and s.narrowing is None:
            request = self.client.totals(s.scope, s.counter, s.item, s.item_id)
            return read_totals(await self.client.fetch(request, self.calls))
        if s.window.start is None:
            # A total's open start is all time, not the upstream's default (the end's month).
            s = replace(s, window=Window(ALL_TIME_START, s.window.end or self.today))
        forwarding = self._forwarding(s.scope, "A windowed total")
        request = self.client.timeline(s, "total", forwarding, today=self.today)
        return sum(count for _, count in read_timeline(await self.client.fetch(request, self.calls)))

    async def series(self, s: Series, granularity: Granularity, fill_gaps: bool) -> list[tuple[date, int]]:
        forwarding = self._forwarding(s.scope, "A timeline")
        upstream = "day" if granularity is Granularity.WEEK else granularity.value
        request = self.client.timeline(s, upstream, forwarding, today=self.today)
        buckets = rebucket(read_dated_timeline(await self.client.fetch(request, self.calls)), granularity)
        if not fill_gaps:
            return buckets
        first = s.window.start or (buckets[0][0] if buckets else None)
        if first is None:
            return []
        have = dict(buckets)
        last = max(first, s.window.end or self.today)
        return [(b, have.get(b, 0)) for b in bucket_starts(first, last, granularity)]

    async def countries(self, s: Series, limit: int | None) -> list[CountryCounts]:
        if limit is not None and limit < 0:
            raise BadUserInput("limit must not be negative.", argument="limit")
        forwarding = self._forwarding(s.scope, "Geolocation")
        windows = [s.window]
        if s.window.start is not None:
            # The upstream quietly clamps longer windows to one year: ask for each year apart.
            windows = [Window(a, b) for a, b in year_chunks(s.window.start, s.window.end or self.today)]
        answers = await asyncio.gather(
            *(
                self.client.fetch(
                    self.client.breakdown(replace(s, window=w), "total", forwarding, today=self.today),
                    self.calls,
                )
                for w in windows
            )
        )
        merged: dict[str, tuple[int, dict[str, int]]] = {}
        for answer in answers:
            for country, (total, cities) in read_breakdown(answer).items():
                have_total, have_cities = merged.get(country, (0, {}))
                for city, n in cities.items():
                    have_cities[city] = have_cities.get(city, 0) + n
                merged[country] = (have_total + total, have_cities)
        ranked = sorted(merged.items(), key=lambda kv: (-kv[1][0], kv[0]))
        if limit is not None:
            ranked = ranked[:limit]
        return [
            CountryCounts(
                country=country,
                count=total,
                cities=tuple(sorted(cities.items(), key=lambda kv: (-kv[1], kv[0]))[:10]),
            )
            for country, (total, cities) in ranked
        ]

    async def top(
        self,
        scope: Scope,
        counter: str,
        item: str,
        limit: int,
        start: date | InvalidDate | None,
        end: date | InvalidDate | None,
        *,
        item_id: str | None = None,
        sub_item: str | None = None,
    ) -> list[tuple[str, int]]:
        window = Window.of(start, end)
        top_limit(limit)
        forwarding = self._forwarding(scope, "A ranking")
        request = self.client.top(
            scope,
            counter,
            item,
            count=limit,
            window=window,
            forwarding=forwarding,
            today=self.today,
            item_id=item_id,
            sub_item=sub_item,
        )
        return read_top(await self.client.fetch(request, self.calls))[:limit]

    async def public_article_count(self, group_id: str) -> int:
        result = await self._counts.load(group_id)
        if isinstance(result, BaseException):
            raise result
        return result

    async def _count_articles(self, group_ids: Sequence[str]) -> list[int | BaseException]:
        ids = sorted(set(group_ids), key=int)
        try:
            answer = read_article_counts(await self.client.fetch(self.client.count_articles(ids), self.calls))
        except Exception as exc:
            return [exc] * len(group_ids)
        # Groups the upstream does not list have no public articles.
        return [answer.get(g, 0) for g in group_ids]
