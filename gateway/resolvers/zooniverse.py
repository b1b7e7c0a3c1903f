"""Zooniverse stats: field arguments to ERAS queries, and ERAS answers to the schema's values.

A stats field (``classifications``, ``comments``) checks its arguments first (BAD_USER_INPUT and
UNAUTHENTICATED cost nothing upstream), then looks ahead at its selected sub-fields and asks the
operation's ERAS loader for everything they will need at once; an upstream failure then nulls the
stats object with one error, instead of one error per sub-field. The sub-fields read the answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar, cast

from gateway.context import GatewayContext
from gateway.dates import Granularity, InvalidDate, Window, fill_gaps
from gateway.errors import BadUserInput
from gateway.loaders.eras import COUNT, PLAIN, RECENTS, ErasLoader, Need
from gateway.resolvers.args import Limits, id_list, numeric_id
from gateway.resolvers.selection import SelectedField, enum_name, int_value, selects
from gateway.upstream.eras import ErasBucket, ErasCounts, ErasMember, ErasQuery, ErasRoute

__all__ = ["COUNT", "RECENTS", "Need", "StatsHandle", "members", "needs_of", "stats"]

T = TypeVar("T")


@dataclass
class StatsHandle:
    """A stats object's query, and the answers fetched for what its fields need."""

    loader: ErasLoader
    query: ErasQuery
    today: date
    path: tuple[str | int, ...] = ()
    answers: dict[Need, ErasCounts] = field(default_factory=dict)

    async def prefetch(self, needs: Iterable[Need]) -> None:
        """Fetch what the selected fields need (merged with their siblings'); raise any failure."""
        wanted = list(dict.fromkeys(needs))
        if len(wanted) == 1:  # the common case: no gather, no task
            self.answers[wanted[0]] = await self.loader.counts(self.query, wanted[0], self.path)
            return
        results = await asyncio.gather(
            *(self.loader.counts(self.query, n, self.path) for n in wanted), return_exceptions=True
        )
        for need, result in zip(wanted, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            self.answers[need] = result

    async def counts(self, need: Need = PLAIN) -> ErasCounts:
        """The answer for ``need``: prefetched, or fetched now if the look-ahead missed it."""
        answer = self.answers.get(need)
        if answer is None:
            answer = self.answers[need] = await self.loader.counts(self.query, need, self.path)
        return answer

    def read(self, pick: Callable[[ErasCounts], T], need: Need = PLAIN) -> T:
        """``pick`` of the answer for ``need``, at once when the look-ahead fetched it (always, for
        the fields that read this way), else an awaitable that fetches it: graphql-core awaits
        whatever a resolver returns, and a plain value costs it no task."""
        answer = self.answers.get(need)
        if answer is not None:
            return pick(answer)
        return cast(T, self._fetch_and_pick(pick, need))

    async def _fetch_and_pick(self, pick: Callable[[ErasCounts], T], need: Need) -> T:
        return pick(await self.counts(need))

    def no_filters(self, field_name: str) -> None:
        if self.query.filtered:
            raise BadUserInput(
                f"{field_name} is not available when projectIds or workflowIds are given.",
                argument=field_name,
            )

    async def buckets(
        self, granularity: Granularity, fill: bool, limits: Limits, *, time_spent: bool = False
    ) -> Iterable[ErasBucket]:
        limits.check_series(self.query.window, granularity, self.today)
        buckets = list(
            (await self.counts(Need(period=granularity.value, time_spent=time_spent))).buckets or ()
        )
        if not fill:
            return buckets
        limits.check_series(
            self.query.window, granularity, self.today, first=buckets[0].start if buckets else None
        )
        zero_time = 0.0 if any(b.session_time is not None for b in buckets) else None
        return fill_gaps(
            buckets,
            lambda b: b.start,
            lambda day: ErasBucket(day, 0, zero_time),
            self.query.window,
            granularity,
            self.today,
        )


def query_of(
    context: GatewayContext,
    route: ErasRoute,
    *,
    subject_id: object | None = None,
    project_ids: Sequence[object] | None = None,
    workflow_ids: Sequence[object] | None = None,
    user_ids: Sequence[object] | None = None,
    start: date | InvalidDate | None = None,
    end: date | InvalidDate | None = None,
) -> ErasQuery:
    """Check a stats field's arguments (BAD_USER_INPUT, UNAUTHENTICATED) before anything is sent."""
    window = Window.of(start, end)
    max_ids = context.limits.max_ids
    projects = id_list("projectIds", project_ids, max_ids)
    workflows = id_list("workflowIds", workflow_ids, max_ids)
    users = id_list("userIds", user_ids, max_ids)
    if projects is not None and workflows is not None:
        raise BadUserInput(
            "Give projectIds or workflowIds, not both: ERAS counts by one or the other.",
            argument="workflowIds",
        )
    subject = None if subject_id is None else numeric_id("id", subject_id)
    query = ErasQuery(route, subject, projects, workflows, users, window)
    context.eras.check_access(route)
    return query


async def stats(
    context: GatewayContext, selected: Iterable[SelectedField], path: tuple[str | int, ...], query: ErasQuery
) -> StatsHandle:
    """A stats object whose selected fields' needs are fetched before it resolves."""
    handle = StatsHandle(context.eras_loader, query, context.today, path)
    await handle.prefetch(needs_of(query, selected, context.limits, context.today))
    return handle


async def members(
    context: GatewayContext, query: ErasQuery, path: tuple[str | int, ...]
) -> tuple[ErasMember, ...]:
    return await context.eras.breakdown(query, list(path))


def needs_of(query: ErasQuery, selected: Iterable[SelectedField], limits: Limits, today: date) -> list[Need]:
    """What the selected sub-fields of a stats object will ask for (see the types' fields).

    Fields whose own arguments are invalid are left out: they fail on their own, costing nothing.
    """
    route = query.route
    needs: list[Need] = []
    for child in selected:
        args = child.arguments
        if child.name in {"total", "activeUsers"}:
            needs.append(PLAIN)
        elif child.name == "timeSpent":
            needs.append(Need(time_spent=route is ErasRoute.USER))
        elif child.name == "series" and args.get("period") is not None:
            period = enum_name(args["period"]).lower()
            if period not in {g.value for g in Granularity} or not limits.series_fits(
                query.window, Granularity(period), today
            ):
                continue
            timed = route is ErasRoute.USER and selects(child, "timeSpent")
            needs.append(Need(period=period, time_spent=timed))
        elif child.name == "projectContributions" and not query.filtered:
            order = RECENTS if enum_name(args.get("orderBy", "COUNT")) == "RECENTS" else COUNT
            needs.append(Need(contributions=order))
        elif child.name == "topContributors":
            limit = int_value(args.get("limit", 10))
            if limit is not None and limit >= 0:
                needs.append(Need(top=limit))
    return needs
