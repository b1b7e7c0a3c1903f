"""Zooniverse (ERAS) types: shapes, and field methods that ask a resolver or their stats handle."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.federation import type as federated

from gateway.context import GatewayContext
from gateway.resolvers import zooniverse
from gateway.resolvers.args import non_negative, numeric_id
from gateway.resolvers.selection import children, selects
from gateway.resolvers.zooniverse import COUNT, RECENTS, Need, StatsHandle
from gateway.types.common import SERIES_DESCRIPTION, Bucket, CountSeries, Date, Period, paced, path_of
from gateway.upstream.eras import ErasBucket, ErasContribution, ErasCounts, ErasRoute

Info = strawberry.Info[GatewayContext, None]


def _buckets(items: Iterable[ErasBucket], with_time: bool) -> list[Bucket]:
    return paced(
        Bucket(start=Date(b.start), count=b.count, time_spent=b.session_time if with_time else None)
        for b in items
    )


S = TypeVar("S")


# What the plain fields read of an answer (they read it at once: see StatsHandle.read).
def _total(counts: ErasCounts) -> int | None:
    return counts.total


def _time_spent(counts: ErasCounts) -> float | None:
    return counts.time_spent


def _active_users(counts: ErasCounts) -> int | None:
    return counts.active_users


async def _stats(info: Info, kind: Callable[..., S], route: ErasRoute, **arguments: Any) -> S:
    """A stats object whose selected fields' needs are fetched before it resolves."""
    query = zooniverse.query_of(info.context, route, **arguments)
    return kind(handle=await zooniverse.stats(info.context, children(info), path_of(info), query))


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
class ClassificationCounts(CountSeries):
    handle: strawberry.Private[StatsHandle]

    @strawberry.field(description="Sum over the whole window.")
    def total(self) -> int | None:
        return self.handle.read(_total)

    @strawberry.field(description=SERIES_DESCRIPTION)
    async def series(self, info: Info, period: Period, fill_gaps: bool = False) -> list[Bucket] | None:
        return await _series(self.handle, info, period, fill_gaps, timed=False)


@strawberry.type
class CommentCounts(CountSeries):
    handle: strawberry.Private[StatsHandle]

    @strawberry.field(description="Sum over the whole window.")
    def total(self) -> int | None:
        return self.handle.read(_total)

    @strawberry.field(description=SERIES_DESCRIPTION)
    async def series(self, info: Info, period: Period, fill_gaps: bool = False) -> list[Bucket] | None:
        return await _series(self.handle, info, period, fill_gaps, timed=False)


@strawberry.enum
class ContributionOrder(Enum):
    COUNT = strawberry.enum_value("COUNT", description="Most classifications first.")
    RECENTS = strawberry.enum_value("RECENTS", description="Most recently classified first.")


@strawberry.type
class ProjectContribution:
    project: ZooniverseProject
    count: int
    time_spent: float | None = strawberry.field(
        default=None, description="Seconds; null where the source does not report it for this view."
    )


def _contributions(items: tuple[ErasContribution, ...] | None) -> list[ProjectContribution]:
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
        return _contributions(counts.contributions)


@strawberry.type
class Contributor:
    user: ZooniverseUser
    count: int
    time_spent: float


@strawberry.type
class MemberStats:
    user: ZooniverseUser
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
        return _contributions(counts.contributions)

    @strawberry.field(description="The members with the most classifications in the window, most first.")
    async def top_contributors(self, limit: int = 10) -> list[Contributor] | None:
        non_negative("limit", limit)
        counts = await self.handle.counts(Need(top=limit))
        return [
            Contributor(
                user=ZooniverseUser(id=strawberry.ID(c.user_id)),
                count=c.count,
                time_spent=c.session_time,
            )
            for c in (counts.top_contributors or ())[:limit]
        ]


@federated(keys=["id"])
class ZooniverseProject:
    id: strawberry.ID

    @strawberry.field
    async def classifications(
        self, info: Info, start_date: Date | None = None, end_date: Date | None = None
    ) -> ClassificationCounts | None:
        return await _stats(
            info,
            ClassificationCounts,
            ErasRoute.CLASSIFICATIONS,
            project_ids=[self.id],
            start=start_date,
            end=end_date,
        )

    @strawberry.field
    async def comments(
        self, info: Info, start_date: Date | None = None, end_date: Date | None = None
    ) -> CommentCounts | None:
        return await _stats(
            info, CommentCounts, ErasRoute.COMMENTS, project_ids=[self.id], start=start_date, end=end_date
        )

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> ZooniverseProject:
        return cls(id=strawberry.ID(numeric_ref("ZooniverseProject", id)))


@federated(keys=["id"])
class ZooniverseWorkflow:
    id: strawberry.ID

    @strawberry.field
    async def classifications(
        self, info: Info, start_date: Date | None = None, end_date: Date | None = None
    ) -> ClassificationCounts | None:
        return await _stats(
            info,
            ClassificationCounts,
            ErasRoute.CLASSIFICATIONS,
            workflow_ids=[self.id],
            start=start_date,
            end=end_date,
        )

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> ZooniverseWorkflow:
        return cls(id=strawberry.ID(numeric_ref("ZooniverseWorkflow", id)))


@federated(keys=["id"])
class ZooniverseUser:
    id: strawberry.ID

    @strawberry.field(description="Needs the caller's bearer token (the volunteer themself or an admin).")
    async def classifications(
        self,
        info: Info,
        project_ids: list[strawberry.ID] | None = None,
        workflow_ids: list[strawberry.ID] | None = None,
        start_date: Date | None = None,
        end_date: Date | None = None,
    ) -> UserClassificationStats | None:
        return await _stats(
            info,
            UserClassificationStats,
            ErasRoute.USER,
            subject_id=self.id,
            project_ids=project_ids,
            workflow_ids=workflow_ids,
            start=start_date,
            end=end_date,
        )

    @strawberry.field(description="Comments this volunteer wrote. Public.")
    async def comments(
        self,
        info: Info,
        project_ids: list[strawberry.ID] | None = None,
        start_date: Date | None = None,
        end_date: Date | None = None,
    ) -> CommentCounts | None:
        return await _stats(
            info,
            CommentCounts,
            ErasRoute.COMMENTS,
            user_ids=[self.id],
            project_ids=project_ids,
            start=start_date,
            end=end_date,
        )

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> ZooniverseUser:
        return cls(id=strawberry.ID(numeric_ref("ZooniverseUser", id)))


@federated(keys=["id"])
class ZooniverseUserGroup:
    id: strawberry.ID

    @strawberry.field
    async def classifications(
        self,
        info: Info,
        project_ids: list[strawberry.ID] | None = None,
        workflow_ids: list[strawberry.ID] | None = None,
        start_date: Date | None = None,
        end_date: Date | None = None,
    ) -> GroupClassificationStats | None:
        return await _stats(
            info,
            GroupClassificationStats,
            ErasRoute.USER_GROUP,
            subject_id=self.id,
            project_ids=project_ids,
            workflow_ids=workflow_ids,
            start=start_date,
            end=end_date,
        )

    @strawberry.field(
        description="Every member who classified in the window: totals and per-project counts, "
        "most classifications first."
    )
    async def member_stats(
        self, info: Info, start_date: Date | None = None, end_date: Date | None = None
    ) -> list[MemberStats] | None:
        query = zooniverse.query_of(
            info.context, ErasRoute.USER_GROUP, subject_id=self.id, start=start_date, end=end_date
        )
        return [
            MemberStats(
                user=ZooniverseUser(id=strawberry.ID(m.user_id)),
                count=m.count,
                time_spent=m.session_time,
                project_contributions=_contributions(m.projects),
            )
            for m in await zooniverse.members(info.context, query, path_of(info))
        ]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> ZooniverseUserGroup:
        return cls(id=strawberry.ID(numeric_ref("ZooniverseUserGroup", id)))


def numeric_ref(type_name: str, value: object) -> str:
    return numeric_id(f"{type_name}.id", value)


@strawberry.type
class Zooniverse:
    @strawberry.field(
        description="Classifications site-wide, or summed over the given projects or workflows "
        "(not both at once). Public."
    )
    async def classifications(
        self,
        info: Info,
        project_ids: list[strawberry.ID] | None = None,
        workflow_ids: list[strawberry.ID] | None = None,
        start_date: Date | None = None,
        end_date: Date | None = None,
    ) -> ClassificationCounts | None:
        return await _stats(
            info,
            ClassificationCounts,
            ErasRoute.CLASSIFICATIONS,
            project_ids=project_ids,
            workflow_ids=workflow_ids,
            start=start_date,
            end=end_date,
        )

    @strawberry.field(description="Talk comments site-wide, or filtered by projects and/or authors. Public.")
    async def comments(
        self,
        info: Info,
        project_ids: list[strawberry.ID] | None = None,
        user_ids: list[strawberry.ID] | None = None,
        start_date: Date | None = None,
        end_date: Date | None = None,
    ) -> CommentCounts | None:
        return await _stats(
            info,
            CommentCounts,
            ErasRoute.COMMENTS,
            project_ids=project_ids,
            user_ids=user_ids,
            start=start_date,
            end=end_date,
        )

    @strawberry.field
    def project(self, id: strawberry.ID) -> ZooniverseProject | None:
        return ZooniverseProject.resolve_reference(id)

    @strawberry.field
    def workflow(self, id: strawberry.ID) -> ZooniverseWorkflow | None:
        return ZooniverseWorkflow.resolve_reference(id)

    @strawberry.field(
        description="A volunteer. Classification stats need the caller's bearer token: the "
        "volunteer themself or an admin."
    )
    def user(self, id: strawberry.ID) -> ZooniverseUser | None:
        return ZooniverseUser.resolve_reference(id)

    @strawberry.field(
        description="A user group. Who may see its stats is decided upstream by the group's stats visibility."
    )
    def user_group(self, id: strawberry.ID) -> ZooniverseUserGroup | None:
        return ZooniverseUserGroup.resolve_reference(id)


ZOONIVERSE_ENTITIES = [ZooniverseProject, ZooniverseWorkflow, ZooniverseUser, ZooniverseUserGroup]
