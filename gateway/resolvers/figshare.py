"""Figshare stats: field arguments to Figshare data-source calls, and answers to the schema's values.

``total`` without dates reads the all-time totals route; with dates (or a filter, which totals do
not take) it reads the ``total`` timeline over the window. ``series`` reads the timeline of its
period; weeks are summed here from the daily timeline, as Figshare has none. ``countries`` reads
the ``total`` breakdown, asking for windows longer than the upstream's one-year clamp in parts.
Every ``publicArticleCount`` of an operation goes in one ``POST /count/articles``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from gateway.dates import Granularity, InvalidDate, Window, fill_gaps, rebucket, year_chunks
from gateway.errors import BadUserInput
from gateway.resolvers import operation_loader
from gateway.resolvers.args import matching, non_negative, numeric_id
from gateway.upstream.figshare import FAMILIES, CountryCounts, FigshareAPI, Narrowing, Scope, Series

if TYPE_CHECKING:
    from gateway.context import GatewayContext

INSTITUTION = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ITEM_TYPE = re.compile(r"[a-z][a-z_]{0,31}")
MAX_TOP = 100
MAX_CITIES = 10
# Totals take no dates or filters; a filtered all-time total is the timeline from here to today.
ALL_TIME_START = date(1970, 1, 1)

Path = tuple[str | int, ...]


def scope_of(institution: str | None) -> Scope:
    if institution is None:
        return Scope()
    matching(
        "institution",
        institution,
        INSTITUTION,
        "a Figshare portal short name (lower-case letters, digits, '-' or '_')",
    )
    if institution in FAMILIES:
        raise BadUserInput(f"institution {institution!r} is not a portal short name.", argument="institution")
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
    matching("filter.itemType", item_type, ITEM_TYPE, 'a lower-case item type name such as "dataset"')
    return Narrowing("item_type", item_type)


@dataclass(frozen=True)
class Counts:
    """One counter of one item over a window: what a FigshareCounts object answers from."""

    context: GatewayContext
    series: Series


def counts(
    context: GatewayContext,
    scope: Scope,
    counter: str,
    item: str,
    item_id: str,
    start: date | InvalidDate | None,
    end: date | InvalidDate | None,
    narrowed: Narrowing | None,
) -> Counts:
    return Counts(context, Series(scope, counter, item, item_id, narrowed, Window.of(start, end)))


async def total(c: Counts, path: Path) -> int:
    s, api = c.series, c.context.figshare
    if s.window == Window() and s.narrowing is None:
        return await api.totals(s.scope, s.counter, s.item, s.item_id, list(path))
    if s.window.start is None:
        # A total's open start is all time, not the upstream's default (the end's month).
        s = replace(s, window=Window(ALL_TIME_START, s.window.end or c.context.today))
    return await api.timeline_total(s, list(path))


async def series(c: Counts, granularity: Granularity, fill: bool, path: Path) -> Iterable[tuple[date, int]]:
    context, s = c.context, c.series
    context.limits.check_series(s.window, granularity, context.today)
    upstream = "day" if granularity is Granularity.WEEK else granularity.value
    buckets = rebucket(await context.figshare.timeline(s, upstream, list(path)), granularity)
    if not fill:
        return buckets
    context.limits.check_series(
        s.window, granularity, context.today, first=buckets[0][0] if buckets else None
    )
    return fill_gaps(buckets, lambda b: b[0], lambda day: (day, 0), s.window, granularity, context.today)


async def countries(c: Counts, limit: int | None, path: Path) -> list[CountryCounts]:
    if limit is not None:
        non_negative("limit", limit)
    context, s = c.context, c.series
    windows = [s.window]
    if s.window.start is not None:
        # The upstream quietly clamps longer windows to one year: ask for each year apart.
        chunks = year_chunks(s.window.start, s.window.end or context.today, most=context.budget)
        windows = [Window(a, b) for a, b in chunks]
    merged = await context.figshare.countries(s, windows, list(path))
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1][0], kv[0]))
    if limit is not None:
        ranked = ranked[:limit]
    return [
        CountryCounts(
            country=country,
            count=count,
            cities=tuple(sorted(cities.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CITIES]),
        )
        for country, (count, cities) in ranked
    ]


async def top(
    context: GatewayContext,
    scope: Scope,
    counter: str,
    item: str,
    limit: int,
    start: date | InvalidDate | None,
    end: date | InvalidDate | None,
    path: Path,
    *,
    item_id: str | None = None,
    sub_item: str | None = None,
) -> list[tuple[str, int]]:
    window = Window.of(start, end)
    if not 1 <= limit <= MAX_TOP:
        raise BadUserInput(f"limit must be between 1 and {MAX_TOP}.", argument="limit")
    pairs = await context.figshare.top(
        scope, counter, item, count=limit, window=window, item_id=item_id, sub_item=sub_item, path=list(path)
    )
    return pairs[:limit]


async def public_article_count(context: GatewayContext, group_id: str, path: Path) -> int:
    return await context.article_counts.count(group_id, path)


class ArticleCountLoader:
    """``await loader.count(group_id, path)``; one ``POST /count/articles`` for every group the
    operation asks for (the contract's promise), sent once a turn passes with no new group."""

    def __init__(self, api: FigshareAPI) -> None:
        self._loader: DataLoader[tuple[str, tuple[str | int, ...]], int] = operation_loader(
            _count_articles, api, settle=True
        )

    async def count(self, group_id: str, path: tuple[str | int, ...] = ()) -> int:
        return await self._loader.load((group_id, path))


async def _count_articles(
    api: FigshareAPI, asks: Sequence[tuple[str, tuple[str | int, ...]]]
) -> list[int | BaseException]:
    ids = sorted({g for g, _ in asks}, key=int)
    try:
        answer = await api.count_articles(ids, [list(p) for _, p in asks if p])
    except Exception as exc:
        return [exc] * len(asks)
    # Groups the upstream does not list have no public articles.
    return [answer.get(g, 0) for g, _ in asks]
