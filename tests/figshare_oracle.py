"""Figshare's expected answers, computed straight from the data set (not with the emulator's code).

Shared by the emulator's tests and the gateway's, so both check against one independent reading of
figshare-stats-api.md: which articles an item covers, its event rows in a window, the timeline and
breakdown answers, and the rankings of the tops routes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from gateway.emulators.figshare_data import Article, EventRow, FigshareDataset, ScopeData
from tests import calendar_oracle
from tests.calendar_oracle import bucket_start, bucket_sums, within

Narrowing = tuple[str, str] | None  # (sub_item, sub_item_id)
RankKey = Callable[[Article, EventRow], Iterable[str]]
Places = dict[str, dict[str | None, int]]  # country -> city (None: no city) -> events


def scope_of(dataset: FigshareDataset, slug: str | None) -> ScopeData:
    """The public scope (``slug`` None) or one institution's."""
    return dataset.public if slug is None else dataset.institutions[slug]


def ids_of(article: Article, item: str) -> tuple[int, ...]:
    """The ids of the items of kind ``item`` that ``article`` counts for."""
    if item == "article":
        return (article.id,)
    if item == "author":
        return article.author_ids
    if item == "group":
        return (article.group_id,)
    if item == "collection":
        return article.collection_ids
    if item == "project":
        return () if article.project_id is None else (article.project_id,)
    raise ValueError(f"not an item kind: {item}")


def belongs(article: Article, item: str, item_id: int) -> bool:
    """Whether ``article``'s events count for the item ``item``/``item_id``."""
    return item_id in ids_of(article, item)


def kept(article: Article, narrowed: Narrowing) -> bool:
    """Whether ``sub_item``/``sub_item_id`` keep ``article`` (an item type, or a category id)."""
    if narrowed is None:
        return True
    sub_item, value = narrowed
    if sub_item == "item_type":
        return article.item_type == value
    return int(value) in article.category_ids


def rows_of(
    scope: ScopeData,
    item: str,
    item_id: int,
    counter: str,
    first: date | None = None,
    last: date | None = None,
    narrowed: Narrowing = None,
) -> list[EventRow]:
    """The event rows an item's ``counter`` counts in the window ``first``..``last``."""
    ids = {a.id for a in scope.articles.values() if belongs(a, item, item_id) and kept(a, narrowed)}
    return [
        r for r in scope.rows if r.article_id in ids and r.counter == counter and within(r.day, first, last)
    ]


def total(rows: Iterable[EventRow]) -> int:
    return sum(r.events for r in rows)


def public_articles(scope: ScopeData, group_id: int) -> int:
    """What ``POST /count/articles`` answers for a group: its public articles."""
    return sum(1 for a in scope.articles.values() if a.group_id == group_id and a.is_public)


# ---------------------------------------------------------------------- timelines and breakdowns


def bucket_key(day: date, granularity: str) -> str:
    """The upstream's key of a bucket start: ``YYYY-MM-DD``, ``YYYY-MM``, ``YYYY`` or ``total``."""
    return {"day": day.isoformat(), "month": day.isoformat()[:7], "year": day.isoformat()[:4]}.get(
        granularity, "total"
    )


def timeline_of(rows: Sequence[EventRow], granularity: str) -> dict[str, int] | None:
    """A ``timeline`` answer: events per bucket key, and None (the upstream's null) when empty."""
    if granularity == "total":
        return {"total": total(rows)} if rows else None
    sums = bucket_sums(((r.day, r.events) for r in rows), granularity)
    return {bucket_key(day, granularity): n for day, n in sums.items()} or None


def series(rows: Iterable[EventRow], period: str) -> list[dict[str, Any]]:
    """The gateway's ``series`` of those rows."""
    return calendar_oracle.series(((r.day, r.events) for r in rows), period)


def places(rows: Iterable[EventRow]) -> Places:
    """Events per country and city, every one of them (before the upstream's cuts)."""
    tree: Places = {}
    for r in rows:
        cities = tree.setdefault(r.country, {})
        cities[r.city] = cities.get(r.city, 0) + r.events
    return tree


def breakdown_tree(rows: Iterable[EventRow], granularity: str) -> dict[str, Places]:
    """A ``breakdown`` answer before the cuts: bucket key -> country -> city -> events."""
    parts: dict[str, list[EventRow]] = {}
    for r in rows:
        start = r.day if granularity == "total" else bucket_start(r.day, granularity)
        parts.setdefault(bucket_key(start, granularity), []).append(r)
    return {key: places(part) for key, part in parts.items()}


# ---------------------------------------------------------------------- rankings


def rank_key(item: str, sub_item: str | None = None, item_id: int | None = None) -> RankKey:
    """What a tops answer ranks (contract §4 R5): referrers, categories or item types with
    ``sub_item``; the articles inside an item with ``item_id``; else the items of kind ``item``."""
    if sub_item == "referral":
        return lambda _a, r: () if r.referral is None else (r.referral,)
    if sub_item == "category":
        return lambda a, _r: [str(c) for c in a.category_ids]
    if sub_item == "item_type":
        return lambda a, _r: (a.item_type,)
    if item_id is not None:
        return lambda a, _r: (str(a.id),)
    return lambda a, _r: [str(i) for i in ids_of(a, item)]


def ranking(
    scope: ScopeData,
    counter: str,
    item: str,
    first: date | None = None,
    last: date | None = None,
    *,
    item_id: int | None = None,
    sub_item: str | None = None,
) -> dict[str, int]:
    """A tops answer's full ranking before the cut to ``count``."""
    key = rank_key(item, sub_item, item_id)
    articles = {a.id: a for a in scope.articles.values() if item_id is None or belongs(a, item, item_id)}
    ranked: dict[str, int] = {}
    for r in scope.rows:
        article = articles.get(r.article_id)
        if article is None or r.counter != counter or not within(r.day, first, last):
            continue
        for name in key(article, r):
            ranked[name] = ranked.get(name, 0) + r.events
    return ranked


def assert_top(
    got: Sequence[tuple[str, int]], full: Mapping[str, int], limit: int, *, ordered: bool = True
) -> None:
    """``got`` is a top-``limit`` cut of ``full`` (ties broken either way); highest first when
    ``ordered`` (the upstream's own answers are objects, in no order)."""
    assert len(got) == min(limit, len(full))
    counts = [n for _, n in got]
    if ordered:
        assert counts == sorted(counts, reverse=True)
    for key, n in got:
        assert full[key] == n, key
    shown = dict(got)
    left_out = [n for key, n in full.items() if key not in shown]
    if got and left_out:
        assert max(left_out) <= min(counts)
