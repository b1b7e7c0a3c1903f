"""Emulator of the Figshare Statistics service (stats.figshare.com).

It follows shared/upstreams/figshare-stats-api.md ("the contract"): routes R1-R6 with the
optional ``/{institution}`` prefix, the enumerations and their exact 400 bodies, Basic auth on the
institution-scope timeline, breakdown and tops (403 otherwise), the default date windows, the
breakdown clamp and truncation, the empty forms, and the best guesses of its §10.

Where the contract is silent and §10 has no guess, the choices made here are:

- Checks run in this order: route (404), credentials (403), path enumerations in path order,
  ``sub_item``, missing ``sub_item_id``, dates, then the tops' ``item_id`` and ``count``.
  Credentials come first because an auth gate normally runs before a handler validates input.
- A query parameter given empty (``start_date=``) counts as not given.
- A non-numeric item id (in the path, or ``item_id`` on tops) is 400 ``InvalidParams``; an
  unknown numeric id is 200 with the empty result.
- ``start_date`` after ``end_date`` is reported against ``start_date``.
- Tops with ``item_id`` but no ``sub_item`` rank the articles inside that object; without
  ``sub_item`` a missing date bound is open (all time on that side).
- Breakdown truncation (200 countries, 10 cities) applies within each bucket.
- A non-numeric category ``sub_item_id`` matches nothing (empty result), like an unknown
  item-type name.
- Any method or path outside R1-R6, including ``/{inst}/count/articles``, is the 404 body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.emulators.figshare_data import (
    COUNTERS,
    ITEM_KINDS,
    Article,
    FigshareDataset,
    ScopeData,
    item_ids_of,
    utc_today,
)
from gateway.emulators.recorder import EmulatorApp

CONTENT_TYPE = "application/json; charset=UTF-8"
"""The Content-Type of every answer, as the real service sends it."""

FAMILIES: frozenset[str] = frozenset({"total", "timeline", "breakdown", "top", "count"})
"""First path segments of the public scope; any other first segment names an institution."""

GRANULARITIES: tuple[str, ...] = ("day", "month", "year", "total")
SERIES_SUB_ITEMS: tuple[str, ...] = ("category", "item_type")
TOP_SUB_ITEMS: tuple[str, ...] = ("category", "item_type", "referral")

BREAKDOWN_MAX_YEARS: dict[str, int] = {"day": 1, "month": 2, "year": 5, "total": 1}
"""Longest breakdown span per granularity, in calendar years.

"N years" means the same month and day N years after ``start_date`` (29 February goes to
28 February): with ``start_date=2021-03-15`` and granularity ``day``, an ``end_date`` after
2022-03-15 is quietly replaced by 2022-03-15.
"""

MAX_COUNTRIES = 200
MAX_CITIES = 10
TOP_DEFAULT_COUNT = 10
TOP_MAX_COUNT = 100

_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INT_RE = re.compile(r"[0-9]+")


class StatsError(Exception):
    """An error answer of the service: its HTTP status and JSON body."""

    def __init__(self, status: int, body: dict[str, object]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def not_found() -> StatsError:
    """404 for an unknown route or institution (contract §10 Q11)."""
    return StatsError(404, {"message": "Not Found", "code": "NotFound", "data": None})


def forbidden() -> StatsError:
    """403 for missing, wrong or foreign credentials on a protected route (§5, §10 Q8)."""
    return StatsError(403, {"data": None, "code": "Forbidden", "message": "Unauthorized request"})


def invalid_params(param: str, extra: str) -> StatsError:
    """400 ``InvalidParams`` naming one parameter, as in the documented counter example."""
    return StatsError(
        400,
        {
            "data": {"extra": extra, "invalid_params": param},
            "code": "InvalidParams",
            "message": f"Invalid or unsupported params: {param}",
        },
    )


def missing_params(param: str, parameters: Mapping[str, str], path: str) -> StatsError:
    """400 ``MissingParams``, echoing the query (as strings) and the path without the query."""
    return StatsError(
        400,
        {
            "data": {"missing_params": param, "parameters": dict(parameters), "path": path},
            "code": "MissingParams",
            "message": f"Missing required params: {param}",
        },
    )


@dataclass(frozen=True)
class StatsRequest:
    """What the service looks at in a request."""

    method: str
    path: str
    params: Mapping[str, str]
    authorization: str | None = None
    body: bytes = b""

    def param(self, name: str) -> str | None:
        """The query parameter, or None when it is absent or empty."""
        value = self.params.get(name)
        return value if value else None


@dataclass(frozen=True)
class Window:
    """Inclusive day bounds of the events counted; None is open on that side."""

    first: date | None
    last: date | None


ArticleFilter = Callable[[Article], bool]


class FigshareStatsService:
    """The service's behaviour, independent of HTTP: ``respond`` gives (status, JSON body)."""

    def __init__(
        self,
        dataset: FigshareDataset,
        *,
        today: Callable[[], date] = utc_today,
        inclusive_end: bool = True,
    ) -> None:
        self.dataset = dataset
        self.today = today
        # Contract §10 Q2: whether events on end_date count is unsettled, so it is a switch.
        self.inclusive_end = inclusive_end

    # -- routing -------------------------------------------------------------------------------

    def respond(self, request: StatsRequest) -> tuple[int, object]:
        """Answer one request: (HTTP status, JSON-serialisable body)."""
        try:
            return 200, self._dispatch(request)
        except StatsError as error:
            return error.status, error.body

    def _dispatch(self, request: StatsRequest) -> object:
        segments = request.path.split("/")[1:]
        slug: str | None = None
        if segments and segments[0] not in FAMILIES:
            slug = segments[0]
            if slug not in self.dataset.institutions:
                raise not_found()
            segments = segments[1:]
        if not segments:
            raise not_found()
        family, args = segments[0], segments[1:]
        if family == "count":
            if slug is None and args == ["articles"] and request.method == "POST":
                return self._count_articles(request.body)
            raise not_found()
        if request.method != "GET":
            raise not_found()
        scope = self.dataset.scope(slug)
        if family == "total" and len(args) == 3:
            return self._totals(scope, args)
        if family == "total" and len(args) == 2:
            return self._combined_totals(scope, args)
        if family in ("timeline", "breakdown") and len(args) == 4:
            self._authorize(slug, request.authorization)
            if family == "timeline":
                return self._timeline(scope, args, request)
            return self._breakdown(scope, args, request)
        if family == "top" and len(args) == 2:
            # Only the ?item_id= form exists; /top/{counter}/{item}/{id} is a 404 (§10 Q9).
            self._authorize(slug, request.authorization)
            return self._top(scope, args, request)
        raise not_found()

    def _authorize(self, slug: str | None, header: str | None) -> None:
        """Public routes need nothing; institution routes need that institution's Basic pair."""
        if slug is None:
            return
        if header is None:
            raise forbidden()
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "basic":
            raise forbidden()
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise forbidden() from None
        username, colon, password = decoded.partition(":")
        if not colon or (username, password) != self.dataset.credentials[slug]:
            raise forbidden()

    # -- R1, R2: totals ----------------------------------------------------------------------

    def _totals(self, scope: ScopeData, args: list[str]) -> object:
        counter, item = check_counter(args[0]), check_item(args[1])
        item_id = parse_item_id(args[2])
        articles = scope.articles_of(item, item_id)
        return {"totals": _sum_events(scope, articles, counter, Window(None, None))}

    def _combined_totals(self, scope: ScopeData, args: list[str]) -> object:
        item, item_id = check_item(args[0]), parse_item_id(args[1])
        articles = scope.articles_of(item, item_id)
        body: dict[str, int] = {
            counter: _sum_events(scope, articles, counter, Window(None, None)) for counter in COUNTERS
        }
        # Citations are no counter: they exist only as this key (contract §3).
        body["cites"] = sum(a.cites for a in articles)
        return body

    # -- R3: timeline -------------------------------------------------------------------------

    def _timeline(self, scope: ScopeData, args: list[str], request: StatsRequest) -> object:
        granularity, counter, item, item_id = check_series_path(args)
        keep = sub_item_filter(request)
        window = self._inclusive(self._series_dates(request))
        buckets: dict[str, int] = {}
        for article in scope.articles_of(item, item_id):
            if not keep(article):
                continue
            for row in scope.rows_for(article.id, counter, window.first, window.last):
                key = bucket_key(row.day, granularity)
                buckets[key] = buckets.get(key, 0) + row.events
        return {"timeline": buckets or None}

    # -- R4: breakdown ------------------------------------------------------------------------

    def _breakdown(self, scope: ScopeData, args: list[str], request: StatsRequest) -> object:
        granularity, counter, item, item_id = check_series_path(args)
        keep = sub_item_filter(request)
        start, end = self._series_dates(request)
        if request.param("start_date") and request.param("end_date"):
            # The cap only applies when the client gave both dates (contract §4, R4).
            end = min(end, add_years(start, BREAKDOWN_MAX_YEARS[granularity]))
        window = self._inclusive((start, end))
        # bucket -> country -> city (None: no city known) -> events
        tree: dict[str, dict[str, dict[str | None, int]]] = {}
        for article in scope.articles_of(item, item_id):
            if not keep(article):
                continue
            for row in scope.rows_for(article.id, counter, window.first, window.last):
                cities = tree.setdefault(bucket_key(row.day, granularity), {}).setdefault(row.country, {})
                cities[row.city] = cities.get(row.city, 0) + row.events
        if not tree:
            return {"breakdown": None}
        return {"breakdown": {bucket: truncate_countries(c) for bucket, c in tree.items()}}

    # -- R5: tops -----------------------------------------------------------------------------

    def _top(self, scope: ScopeData, args: list[str], request: StatsRequest) -> object:
        counter, item = check_counter(args[0]), check_item(args[1])
        sub_item = request.param("sub_item")
        if sub_item is not None and sub_item not in TOP_SUB_ITEMS:
            raise invalid_params("sub_item", f"Sub item type not supported: {sub_item}")
        raw_item_id = request.param("item_id")
        item_id = None if raw_item_id is None else parse_item_id(raw_item_id)
        if sub_item is not None:
            window = self._inclusive(self._series_dates(request))
        else:
            # Without sub_item there are no default dates: the ranking is over all time.
            window = self._inclusive(open_dates(request))
        count = parse_count(request.param("count"))
        articles = list(scope.articles.values()) if item_id is None else scope.articles_of(item, item_id)
        ranking: dict[str, int] = {}
        for article in articles:
            rows = scope.rows_for(article.id, counter, window.first, window.last)
            if not rows:
                continue
            if sub_item == "referral":
                for row in rows:
                    if row.referral is not None:
                        ranking[row.referral] = ranking.get(row.referral, 0) + row.events
                continue
            events = sum(row.events for row in rows)
            for key in top_keys(article, item, item_id, sub_item):
                ranking[key] = ranking.get(key, 0) + events
        best = sorted(ranking.items(), key=lambda kv: (-kv[1], kv[0]))[:count]
        return {"top": dict(best)}

    # -- R6: count articles -------------------------------------------------------------------

    def _count_articles(self, body: bytes) -> object:
        group_ids = parse_groups(body)
        counts = dict.fromkeys(group_ids, 0)
        for article in self.dataset.public.articles.values():
            if article.is_public and article.group_id in counts:
                counts[article.group_id] += 1
        return {str(group_id): n for group_id, n in counts.items()}

    # -- dates --------------------------------------------------------------------------------

    def _series_dates(self, request: StatsRequest) -> tuple[date, date]:
        """Timeline/breakdown dates (and tops' with sub_item), defaults applied (§4, §10 Q1)."""
        start = parse_date(request, "start_date")
        end = parse_date(request, "end_date")
        if start is None and end is None:
            today = self.today()
            start, end = today.replace(day=1), today
        elif end is None:
            end = self.today()
        elif start is None:
            start = end.replace(day=1)
        assert start is not None
        assert end is not None
        check_order(start, end)
        return start, end

    def _inclusive(self, dates: tuple[date | None, date | None]) -> Window:
        start, end = dates
        if end is not None and not self.inclusive_end:
            end -= timedelta(days=1)
        return Window(start, end)


# ---------------------------------------------------------------------------------------------
# Parameter checks (each raises the service's 400 body)
# ---------------------------------------------------------------------------------------------


def check_counter(value: str) -> str:
    """``views``, ``downloads`` or ``shares``."""
    if value not in COUNTERS:
        raise invalid_params("counter", f"Counter type not supported: {value}")
    return value


def check_item(value: str) -> str:
    """``article``, ``author``, ``collection``, ``group`` or ``project``."""
    if value not in ITEM_KINDS:
        raise invalid_params("item", f"Item type not supported: {value}")
    return value


def check_granularity(value: str) -> str:
    """``day``, ``month``, ``year`` or ``total``."""
    if value not in GRANULARITIES:
        raise invalid_params("granularity", f"Granularity not supported: {value}")
    return value


def parse_item_id(value: str) -> int:
    """A non-negative integer id."""
    if not _INT_RE.fullmatch(value):
        raise invalid_params("item_id", f"Item id not supported: {value}")
    return int(value)


def check_series_path(args: list[str]) -> tuple[str, str, str, int]:
    """``{granularity}/{counter}/{item}/{item_id}``, checked in path order."""
    granularity = check_granularity(args[0])
    counter = check_counter(args[1])
    item = check_item(args[2])
    return granularity, counter, item, parse_item_id(args[3])


def sub_item_filter(request: StatsRequest) -> ArticleFilter:
    """The article filter named by ``sub_item``/``sub_item_id`` on timeline and breakdown."""
    sub_item = request.param("sub_item")
    if sub_item is None:
        return lambda _article: True
    if sub_item not in SERIES_SUB_ITEMS:
        raise invalid_params("sub_item", f"Sub item type not supported: {sub_item}")
    sub_item_id = request.param("sub_item_id")
    if sub_item_id is None:
        raise missing_params("sub_item_id", request.params, request.path)
    if sub_item == "item_type":
        return lambda article: article.item_type == sub_item_id
    if not _INT_RE.fullmatch(sub_item_id):
        return lambda _article: False
    category = int(sub_item_id)
    return lambda article: category in article.category_ids


def parse_date(request: StatsRequest, name: str) -> date | None:
    """A ``YYYY-MM-DD`` query date, None when absent (§10 Q12 for the error)."""
    raw = request.param(name)
    if raw is None:
        return None
    label = "Start date" if name == "start_date" else "End date"
    if not _DATE_RE.fullmatch(raw):
        raise invalid_params(name, f"{label} not supported: {raw}")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise invalid_params(name, f"{label} not supported: {raw}") from None


def check_order(start: date, end: date) -> None:
    """``start_date`` must not be after ``end_date``."""
    if start > end:
        raise invalid_params(
            "start_date",
            f"Start date not supported: {start.isoformat()} is after {end.isoformat()}",
        )


def open_dates(request: StatsRequest) -> tuple[date | None, date | None]:
    """Dates of a tops call without ``sub_item``: no defaults, a missing bound is open."""
    start, end = parse_date(request, "start_date"), parse_date(request, "end_date")
    if start is not None and end is not None:
        check_order(start, end)
    return start, end


def parse_count(raw: str | None) -> int:
    """Tops' ``count``: default 10, a positive integer, capped at 100 (§10 Q7)."""
    if raw is None:
        return TOP_DEFAULT_COUNT
    if not _INT_RE.fullmatch(raw) or int(raw) == 0:
        raise invalid_params("count", f"Count not supported: {raw}")
    return min(int(raw), TOP_MAX_COUNT)


def parse_groups(body: bytes) -> list[int]:
    """Group ids of a count-articles body ``{"groups": [{"id": 327}, ...]}``, in order, once."""
    try:
        payload = json.loads(body)
        groups = payload["groups"]
        if not isinstance(groups, list):
            raise TypeError("groups is not a list")
        ids = [_group_id(group) for group in groups]
    except (ValueError, TypeError, KeyError, AttributeError):
        text = body.decode("utf-8", errors="replace")[:200]
        raise invalid_params("groups", f"Groups not supported: {text}") from None
    return list(dict.fromkeys(ids))


def _group_id(group: object) -> int:
    if not isinstance(group, dict):
        raise TypeError("group is not an object")
    value = group["id"]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError("group id is not an integer")
    # Clients that build JSON by hand send ids as strings; they are accepted if numeric.
    if isinstance(value, str) and not _INT_RE.fullmatch(value):
        raise ValueError("group id is not an integer")
    return int(value)


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    """The same month and day ``years`` later; 29 February becomes 28 February; the calendar's
    last day past 9999."""
    if day.year + years > date.max.year:
        return date.max
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def bucket_key(day: date, granularity: str) -> str:
    """Timeline/breakdown bucket key: YYYY-MM-DD, YYYY-MM, YYYY or the literal "total"."""
    if granularity == "day":
        return day.isoformat()
    if granularity == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if granularity == "year":
        return f"{day.year:04d}"
    return "total"


def truncate_countries(countries: Mapping[str, Mapping[str | None, int]]) -> dict[str, object]:
    """The top 200 countries, each with its top 10 cities and its full ``total``.

    The total includes the cities cut off and the events with no city, so it can be more than
    the sum of the cities listed, as in the real service. Ties are broken by name.
    """
    totals = {country: sum(cities.values()) for country, cities in countries.items()}
    kept = _top_keys(totals, MAX_COUNTRIES)
    body: dict[str, object] = {}
    for country in kept:
        named = {city: n for city, n in countries[country].items() if city is not None}
        row: dict[str, int] = {city: named[city] for city in _top_keys(named, MAX_CITIES)}
        row["total"] = totals[country]
        body[country] = row
    return body


def _top_keys(counts: Mapping[str, int], limit: int) -> list[str]:
    return sorted(counts, key=lambda key: (-counts[key], key))[:limit]


def top_keys(article: Article, item: str, item_id: int | None, sub_item: str | None) -> list[str]:
    """The ranking keys an article's events count for, in a tops call."""
    if sub_item == "category":
        return [str(category) for category in article.category_ids]
    if sub_item == "item_type":
        return [article.item_type]
    if item_id is not None:
        # Ranking inside one author/group/collection/project: its articles.
        return [str(article.id)]
    return [str(object_id) for object_id in item_ids_of(article, item)]


def _sum_events(scope: ScopeData, articles: Iterable[Article], counter: str, window: Window) -> int:
    return sum(
        row.events
        for article in articles
        for row in scope.rows_for(article.id, counter, window.first, window.last)
    )


def shuffled(value: object, rng: random.Random) -> object:
    """A copy of a JSON value with the keys of every object in a random order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: shuffled(item, rng) for key, item in items}
    if isinstance(value, list):
        return [shuffled(item, rng) for item in value]
    return value


def key_order_rng(path: str, query_string: str) -> random.Random:
    """A random stream fixed by the request, so the same request gets the same key order."""
    digest = hashlib.sha256(f"{path}?{query_string}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def build_figshare_app(service: FigshareStatsService, *, shuffle_keys: bool = True) -> Starlette:
    """The Starlette app serving ``service``; every path and method goes to the service."""

    async def endpoint(request: Request) -> Response:
        path: str = request.scope["path"]
        query_string = request.scope["query_string"].decode("latin-1")
        stats_request = StatsRequest(
            method=request.method,
            path=path,
            params=dict(request.query_params),
            authorization=request.headers.get("authorization"),
            body=await request.body(),
        )
        status, body = service.respond(stats_request)
        if shuffle_keys:
            # Key order carries no meaning upstream (§6); shuffling catches clients relying on it.
            body = shuffled(body, key_order_rng(path, query_string))
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return Response(content, status_code=status, media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=_ALL_METHODS)])


def build_figshare_emulator(
    dataset: FigshareDataset | None = None,
    *,
    today: Callable[[], date] | None = None,
    shuffle_keys: bool = True,
    inclusive_end: bool = True,
) -> EmulatorApp:
    """A recording, fault-injectable Figshare Statistics emulator ready to ``serve()``.

    ``dataset`` defaults to ``FigshareDataset.generate()``; ``today`` (default: today in UTC)
    drives the default date windows; ``inclusive_end`` decides whether events on ``end_date``
    count (contract §10 Q2); ``shuffle_keys`` shuffles the keys of every JSON object.
    """
    service = FigshareStatsService(
        FigshareDataset.generate() if dataset is None else dataset,
        today=utc_today if today is None else today,
        inclusive_end=inclusive_end,
    )
    return EmulatorApp.wrap(build_figshare_app(service, shuffle_keys=shuffle_keys))
