"""Zooniverse (ERAS) entities and the root field: projects, workflows, volunteers and user groups.

Each stats field checks its arguments and asks a resolver for a stats object (types/zooniverse_stats.py)
whose selected fields' needs are fetched before it resolves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry
from strawberry.federation import type as federated

from gateway.context import GatewayContext
from gateway.resolvers import zooniverse
from gateway.resolvers.args import numeric_id
from gateway.resolvers.selection import children
from gateway.types.common import Date, path_of
from gateway.types.zooniverse_stats import (
    ClassificationCounts,
    CommentCounts,
    GroupClassificationStats,
    MemberStats,
    UserClassificationStats,
    contributions,
)
from gateway.upstream.eras import ErasRoute

Info = strawberry.Info[GatewayContext, None]
S = TypeVar("S")


async def _stats(info: Info, kind: Callable[..., S], route: ErasRoute, **arguments: Any) -> S:
    """A stats object whose selected fields' needs are fetched before it resolves."""
    query = zooniverse.query_of(info.context, route, **arguments)
    return kind(handle=await zooniverse.stats(info.context, children(info), path_of(info), query))


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
                project_contributions=contributions(m.projects),
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


@strawberry.type
class ZooniverseQuery:
    """The root field of Zooniverse stats (schema.py merges every upstream's into ``Query``)."""

    @strawberry.field(description="Zooniverse stats, answered by the ERAS stats service.")
    def zooniverse(self) -> Zooniverse:
        return Zooniverse()
