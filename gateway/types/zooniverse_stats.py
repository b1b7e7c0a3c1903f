"""Zooniverse (ERAS) stats objects: counts, series, contributions, contributors and members.

Their fields read the answers their stats handle fetched ahead (see resolvers/zooniverse.py); the
entities they point to (projects, users) are in types/zooniverse.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from gateway.context import GatewayContext
from gateway.resolvers.args import non_negative
from gateway.resolvers.selection import selects
from gateway.resolvers.zooniverse import COUNT, RECENTS, Need, StatsHandle
from gateway.types.common import SERIES_DESCRIPTION, Bucket, CountSeries, Date, Period, paced
from gateway.upstream.eras import ErasBucket, ErasContribution, ErasCounts, ErasRoute

if TYPE_CHECKING:
    from gateway.types.zooniverse import ZooniverseProject, ZooniverseUser

Info = strawberry.Info[GatewayContext, None]
# The entities these objects point to live with the other Zooniverse types (they point back here).
Project = Annotated["ZooniverseProject", strawberry.lazy("gateway.types.zooniverse")]
User = Annotated["ZooniverseUser", strawberry.lazy("gateway.types.zooniverse")]


def _buckets(items: Iterable[ErasBucket], with_time: bool) -> list[Bucket]:
    return paced(
        Bucket(start=Date(b.start), count=b.count, time_spent=b.session_time if with_time else None)
        for b in items
    )


# What the plain fields read of an answer (they read it at once: see StatsHandle.read).
def _total(counts: ErasCounts) -> int | None:
    return counts.total


def _time_spent(counts: ErasCounts) -> float | None:
    return counts.time_spent


def _active_users(counts: ErasCounts) -> int | None:
    return counts.active_users


async def _series(
    handle: StatsHandle, info: Info, period: Period, fill_gaps: bool, *, timed: bool
) -> list[Bucket]:
    """``timed``: the route reports session time per bucket (users on request, groups always)."""
    wants_time = timed and any(selects(f, "timeSpent") for f in info.selected_fields)
    items = await handle.buckets(
        period.granularity,
        fill_gaps,
        info.context.limits,
        time_spent=wants_time and handle.query.route is ErasRoute.USER,
    )
    return _buckets(items, wants_time)


@strawberry.type
class _PlainCounts(CountSeries):
    """Counts and their series, no more: what classifications and comments of a site, project or
    workflow answer (two GraphQL types of the same shape)."""

    handle: strawberry.Private[StatsHandle]

    @strawberry.field(description="Sum over the whole window.")
    def total(self) -> int | None:
        return self.handle.read(_total)

    @strawberry.field(description=SERIES_DESCRIPTION)
    async def series(self, info: Info, period: Period, fill_gaps: bool = False) -> list[Bucket] | None:
        return await _series(self.handle, info, period, fill_gaps, timed=False)


@strawberry.type
class ClassificationCounts(_PlainCounts):
    pass


@strawberry.type
class CommentCounts(_PlainCounts):
    pass


@strawberry.enum
class ContributionOrder(Enum):
    COUNT = strawberry.enum_value("COUNT", description="Most classifications first.")
    RECENTS = strawberry.enum_value("RECENTS", description="Most recently classified first.")


@strawberry.type
class ProjectContribution:
    project: Project
    count: int
    time_spent: float | None = strawberry.field(
        default=None, description="Seconds; null where the source does not report it for this view."
    )


def contributions(items: tuple[ErasContribution, ...] | None) -> list[ProjectContribution]:
    from gateway.types.zooniverse import ZooniverseProject  # imported here: that module imports this one

    return [
        ProjectContribution(
            project=ZooniverseProject(id=strawberry.ID(c.project_id)),
            count=c.count,
            time_spent=c.session_time,
        )
        for c in items or ()
    ]


@strawberry.type
class UserClassificationStats(CountSeries):
    handle: strawberry.Private[StatsHandle]

    @strawberry.field(description="Sum over the whole window.")
    def total(self) -> int | None:
        return self.handle.read(_total)

    @strawberry.field(
        description="Approximate seconds spent classifying (the source caps each classification "
        "at 3 hours; Talk time is not included)."
    )
    def time_spent(self) -> float | None:
        return self.handle.read(_time_spent, Need(time_spent=True))

    @strawberry.field(description=SERIES_DESCRIPTION)
    async def series(self, info: Info, period: Period, fill_gaps: bool = False) -> list[Bucket] | None:
        return await _series(self.handle, info, period, fill_gaps, timed=True)

    @strawberry.field(
        description="Counts per project over the window. Not available when projectIds or "
        "workflowIds were given (BAD_USER_INPUT)."
    )
    async def project_contributions(
        self, order_by: ContributionOrder = ContributionOrder.COUNT
    ) -> list[ProjectContribution] | None:
        self.handle.no_filters("projectContributions")
        order = RECENTS if order_by is ContributionOrder.RECENTS else COUNT
        counts = await self.handle.counts(Need(contributions=order))
        return contributions(counts.contributions)


@strawberry.type
class Contributor:
    user: User
    count: int
    time_spent: float


@strawberry.type
class MemberStats:
    user: User
    count: int
    time_spent: float
    project_contributions: list[ProjectContribution]


@strawberry.type
class GroupClassificationStats(CountSeries):
    handle: strawberry.Private[StatsHandle]

    @strawberry.field(description="Sum over the whole window.")
    def total(self) -> int | None:
        return self.handle.read(_total)

    @strawberry.field
    def time_spent(self) -> float | None:
        return self.handle.read(_time_spent)

    @strawberry.field(
        description="Members with at least one classification in the window (not the group's size)."
    )
    def active_users(self) -> int | None:
        return self.handle.read(_active_users)

    @strawberry.field(description=SERIES_DESCRIPTION)
    async def series(self, info: Info, period: Period, fill_gaps: bool = False) -> list[Bucket] | None:
        return await _series(self.handle, info, period, fill_gaps, timed=True)

    @strawberry.field(
        description="Counts per project, most first. Not available when projectIds or workflowIds "
        "were given (BAD_USER_INPUT)."
    )
    async def project_contributions(self) -> list[ProjectContribution] | None:
        self.handle.no_filters("projectContributions")
        counts = await self.handle.counts(Need(contributions=COUNT))
        return contributions(counts.contributions)

    @strawberry.field(description="The members with the most classifications in the window, most first.")
    async def top_contributors(self, limit: int = 10) -> list[Contributor] | None:
        non_negative("limit", limit)
        counts = await self.handle.counts(Need(top=limit))
        from gateway.types.zooniverse import ZooniverseUser  # imported here: that module imports this one

        return [
            Contributor(
                user=ZooniverseUser(id=strawberry.ID(c.user_id)),
                count=c.count,
                time_spent=c.session_time,
            )
            for c in (counts.top_contributors or ())[:limit]
        ]
