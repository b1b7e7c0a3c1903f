"""Figshare types: a scope, its five item kinds, their counts and rankings; fields ask resolvers."""

from __future__ import annotations

from enum import Enum
from typing import Any, ClassVar, Self

import strawberry
from strawberry.federation import type as federated

from gateway.context import GatewayContext
from gateway.resolvers import figshare
from gateway.resolvers.args import numeric_id
from gateway.types.common import SERIES_DESCRIPTION, Bucket, CountSeries, Date, Period, paced, path_of
from gateway.upstream.figshare import Scope

Info = strawberry.Info[GatewayContext, None]


@strawberry.enum
class FigshareCounter(Enum):
    VIEWS = "views"
    DOWNLOADS = "downloads"
    SHARES = "shares"


@strawberry.enum
class FigshareItemKind(Enum):
    ARTICLE = "article"
    AUTHOR = "author"
    COLLECTION = "collection"
    GROUP = "group"
    PROJECT = "project"


@strawberry.enum
class FigshareTopDimension(Enum):
    CATEGORY = "category"
    ITEM_TYPE = "item_type"
    REFERRAL = "referral"


@strawberry.input(description="Narrows counts to one category or one item type (exactly one of the two).")
class FigshareFilter:
    category_id: strawberry.ID | None = None
    item_type: str | None = strawberry.field(
        default=None, description='Lower-case item type name, e.g. "dataset", "fileset", "figure".'
    )


@strawberry.type
class CityCount:
    city: str
    count: int


@strawberry.type
class CountryCount:
    country: str
    count: int
    cities: list[CityCount] = strawberry.field(
        description="At most the top ten cities the upstream lists; their sum can be less than count."
    )


@strawberry.type
class TopEntry:
    key: str = strawberry.field(
        description="An item id, a category id, an item type name or a referring host, by what was ranked."
    )
    count: int


@strawberry.type(
    description="Counts of one counter (views, downloads or shares) of one Figshare item over a "
    "window. Without dates the window is all time for total; series and countries then cover the "
    "upstream's default window (the current month) unless dates are given."
)
class FigshareCounts(CountSeries):
    counts: strawberry.Private[figshare.Counts]

    @strawberry.field(description="Sum over the whole window.")
    async def total(self, info: Info) -> int | None:
        return await figshare.total(self.counts, path_of(info))

    @strawberry.field(
        description=SERIES_DESCRIPTION
        + " WEEK is computed by the gateway from daily counts (the upstream has no weeks)."
    )
    async def series(self, info: Info, period: Period, fill_gaps: bool = False) -> list[Bucket] | None:
        pairs = await figshare.series(self.counts, period.granularity, fill_gaps, path_of(info))
        return paced(Bucket(start=Date(start), count=count) for start, count in pairs)

    @strawberry.field(
        description="Where the events came from, most first. Windows longer than the upstream's "
        "limit are fetched in parts and summed."
    )
    async def countries(self, info: Info, limit: int | None = None) -> list[CountryCount] | None:
        found = await figshare.countries(self.counts, limit, path_of(info))
        return [
            CountryCount(
                country=c.country,
                count=c.count,
                cities=[CityCount(city=city, count=n) for city, n in c.cities],
            )
            for c in found
        ]


def _counter(counter: FigshareCounter) -> Any:
    """The field of one counter (views, downloads, shares) of an item: the three differ in nothing else."""

    def resolve(
        root: FigshareItem,
        info: Info,
        start_date: Date | None = None,
        end_date: Date | None = None,
        filter: FigshareFilter | None = None,
    ) -> FigshareCounts | None:
        narrowed = None if filter is None else figshare.narrowing(filter.category_id, filter.item_type)
        return FigshareCounts(
            counts=figshare.counts(
                info.context, root.scope, counter.value, root.kind, root.id, start_date, end_date, narrowed
            )
        )

    return strawberry.field(resolver=resolve)


@strawberry.interface
class FigshareItem:
    """The fields every Figshare item kind shares; ``kind`` names it in the upstream's paths."""

    kind: ClassVar[str] = ""
    id: strawberry.ID
    scope: strawberry.Private[Scope]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Self:
        """An entity from another subgraph: its stats are read in the public scope."""
        return cls(id=strawberry.ID(numeric_id(f"{cls.__name__}.id", id)), scope=Scope())

    @strawberry.field(
        description="The institution scope this item's stats are read in, or null for the public scope."
    )
    def institution(self) -> str | None:
        return self.scope.institution

    views = _counter(FigshareCounter.VIEWS)
    downloads = _counter(FigshareCounter.DOWNLOADS)
    shares = _counter(FigshareCounter.SHARES)

    @strawberry.field(
        description="Within this item: the categories, item types or referring hosts with the most "
        "events, highest first."
    )
    async def top(
        self,
        info: Info,
        counter: FigshareCounter,
        by: FigshareTopDimension,
        limit: int = 10,
        start_date: Date | None = None,
        end_date: Date | None = None,
    ) -> list[TopEntry] | None:
        pairs = await figshare.top(
            info.context,
            self.scope,
            counter.value,
            self.kind,
            limit,
            start_date,
            end_date,
            path_of(info),
            item_id=self.id,
            sub_item=by.value,
        )
        return [TopEntry(key=k, count=n) for k, n in pairs]


@federated(keys=["id"])
class FigshareArticle(FigshareItem):
    kind: ClassVar[str] = "article"


@federated(keys=["id"])
class FigshareAuthor(FigshareItem):
    kind: ClassVar[str] = "author"


@federated(keys=["id"])
class FigshareCollection(FigshareItem):
    kind: ClassVar[str] = "collection"


@federated(keys=["id"])
class FigshareGroup(FigshareItem):
    kind: ClassVar[str] = "group"

    @strawberry.field(
        description="Public articles in this group. All groups asked for in one operation are "
        "counted in one upstream request."
    )
    async def public_article_count(self, info: Info) -> int | None:
        return await figshare.public_article_count(info.context, self.id, path_of(info))


@federated(keys=["id"])
class FigshareProject(FigshareItem):
    kind: ClassVar[str] = "project"


@strawberry.type
class Figshare:
    scope: strawberry.Private[Scope]

    @classmethod
    def open(cls, institution: str | None) -> Figshare:
        return cls(scope=figshare.scope_of(institution))

    @strawberry.field(
        description="The institution short name this scope was opened with, or null for the public scope."
    )
    def institution(self) -> str | None:
        return self.scope.institution

    @strawberry.field
    def article(self, id: strawberry.ID) -> FigshareArticle | None:
        return FigshareArticle(id=_id("id", id), scope=self.scope)

    @strawberry.field
    def author(self, id: strawberry.ID) -> FigshareAuthor | None:
        return FigshareAuthor(id=_id("id", id), scope=self.scope)

    @strawberry.field
    def collection(self, id: strawberry.ID) -> FigshareCollection | None:
        return FigshareCollection(id=_id("id", id), scope=self.scope)

    @strawberry.field
    def group(self, id: strawberry.ID) -> FigshareGroup | None:
        return FigshareGroup(id=_id("id", id), scope=self.scope)

    @strawberry.field
    def project(self, id: strawberry.ID) -> FigshareProject | None:
        return FigshareProject(id=_id("id", id), scope=self.scope)

    @strawberry.field(
        description="The most viewed, downloaded or shared items of one kind, highest first: all "
        "time unless dates are given."
    )
    async def top(
        self,
        info: Info,
        counter: FigshareCounter,
        item_kind: FigshareItemKind = FigshareItemKind.ARTICLE,
        limit: int = 10,
        start_date: Date | None = None,
        end_date: Date | None = None,
    ) -> list[TopEntry] | None:
        pairs = await figshare.top(
            info.context,
            self.scope,
            counter.value,
            item_kind.value,
            limit,
            start_date,
            end_date,
            path_of(info),
        )
        return [TopEntry(key=k, count=n) for k, n in pairs]


def _id(name: str, value: object) -> strawberry.ID:
    return strawberry.ID(numeric_id(name, value))


@strawberry.type
class FigshareQuery:
    """The root field of Figshare stats (schema.py merges every upstream's into ``Query``)."""

    @strawberry.field(
        description="Figshare stats, answered by the Figshare stats service. Without institution: "
        "the public scope. With it (the portal's short name, e.g. \"lboro\"): that institution's "
        "scope, whose timelines, geolocation and rankings need the caller's Figshare stats "
        "credentials."
    )
    def figshare(self, institution: str | None = None) -> Figshare | None:
        return Figshare.open(institution)


FIGSHARE_TYPES = [
    FigshareArticle,
    FigshareAuthor,
    FigshareCollection,
    FigshareGroup,
    FigshareProject,
]
