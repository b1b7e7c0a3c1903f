"""Zooniverse stats: field arguments to ERAS queries, and ERAS answers to the schema's values.

A stats field (``classifications``, ``comments``) checks its arguments first (BAD_USER_INPUT and
UNAUTHENTICATED cost nothing upstream), then looks ahead at its selected sub-fields and asks the
operation's ERAS loader for everything they will need at once; an upstream failure then nulls the
stats object with one error, instead of one error per sub-field. The sub-fields read the answers.

The loader (``ErasLoader``, on ``strawberry.dataloader``) is the planner: the fields selected
together on one stats object (total, timeSpent, series, projectContributions, topContributors,
activeUsers) each need something of one ``ErasQuery``; it gathers every need asked during one turn
of the event loop, merges the needs of each distinct query into the fewest ERAS requests (one,
unless several periods or contribution orders are asked for), sends them concurrently, and answers
every need from the request that carries it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, TypeVar, cast

from strawberry.dataloader import DataLoader

from gateway.dates import Granularity, InvalidDate, Window, fill_gaps
from gateway.errors import BadUserInput
from gateway.resolvers import operation_loader
from gateway.resolvers.args import Limits, id_list, numeric_id
from gateway.resolvers.selection import SelectedField, enum_name, int_value, selects
from gateway.upstream.datasource import Path
from gateway.upstream.eras import (
    ErasAPI,
    ErasBucket,
    ErasCounts,
    ErasFlags,
    ErasMember,
    ErasQuery,
    ErasRoute,
)

if TYPE_CHECKING:
    from gateway.context import GatewayContext

T = TypeVar("T")

COUNT, RECENTS = "count", "recents"


@dataclass(frozen=True)
class Need:
    """What one field needs from a stats request."""

    period: str | None = None
    time_spent: bool = False
    contributions: str | None = None  # COUNT or RECENTS
    top: int | None = None


PLAIN = Need()  # the counts alone: what total and activeUsers read


# Not frozen (one per request; frozen sets each field through object.__setattr__). Never changed.
@dataclass(slots=True)
class Ask:
    """One need of the stats object at ``path``."""

    query: ErasQuery
    need: Need
    path: tuple[str | int, ...] = ()


@functools.lru_cache(maxsize=512)  # operations ask the same few combinations again and again
def plan(route: ErasRoute, needs: tuple[Need, ...]) -> tuple[tuple[ErasFlags, ...], tuple[int, ...]]:
    """The requests that answer ``needs`` of one query, and which request serves each need."""
    periods = list(dict.fromkeys(n.period for n in needs if n.period))
    requests = [ErasFlags(period=p) for p in periods] or [ErasFlags()]
    order_slot: dict[str, int] = {}
    if route is ErasRoute.USER:
        # Only the users route takes project_contributions as a flag (groups always send them).
        for order in dict.fromkeys(n.contributions for n in needs if n.contributions):
            free = [i for i, r in enumerate(requests) if not r.project_contributions]
            if order == RECENTS:
                # Recency is judged by bucket: daily buckets order it best.
                free.sort(key=lambda i: requests[i].period != "day")
            if free:
                slot = free[0]
            else:
                requests.append(ErasFlags(period=requests[0].period))
                slot = len(requests) - 1
            period = requests[slot].period or ("day" if order == RECENTS else None)
            requests[slot] = replace(
                requests[slot], period=period, project_contributions=True, order_by_recents=order == RECENTS
            )
            order_slot[order] = slot
    time_spent = route is ErasRoute.USER and any(n.time_spent for n in needs)
    tops = [n.top for n in needs if n.top is not None]
    top = max(tops) if route is ErasRoute.USER_GROUP and tops else None
    requests = [replace(r, time_spent=time_spent, top_contributors=top) for r in requests]

    def serving(need: Need) -> int:
        if need.contributions and need.contributions in order_slot:
            return order_slot[need.contributions]
        if need.period:
            return next(i for i, r in enumerate(requests) if r.period == need.period)
        return 0

    return tuple(requests), tuple(serving(n) for n in needs)


class ErasLoader:
    """The operation's ERAS counts: merged per query, made once, sent concurrently."""

    def __init__(self, api: ErasAPI) -> None:
        self._loader: DataLoader[Ask, ErasCounts] = operation_loader(_load_counts, api)

    async def counts(self, query: ErasQuery, need: Need, path: tuple[str | int, ...] = ()) -> ErasCounts:
        return await self._loader.load(Ask(query, need, path))


async def _load_counts(api: ErasAPI, asks: Sequence[Ask]) -> list[ErasCounts | BaseException]:
    groups: dict[ErasQuery, list[int]] = {}
    for index, ask in enumerate(asks):
        groups.setdefault(ask.query, []).append(index)
    results: list[ErasCounts | BaseException] = [RuntimeError("not planned")] * len(asks)

    async def run(query: ErasQuery, indexes: list[int]) -> None:
        flags, serving = plan(query.route, tuple(asks[i].need for i in indexes))
        paths: list[list[Path]] = [[] for _ in flags]
        for index, slot in zip(indexes, serving, strict=True):
            if asks[index].path and list(asks[index].path) not in paths[slot]:
                paths[slot].append(list(asks[index].path))
        try:
            # In the DataLoader's batch task, which no field's cancellation reaches.
            answers = await api.counts_each(query, flags, paths, detached=True)
        except Exception as exc:  # refused before sending (credentials, budget): every need fails
            answers = [exc] * len(flags)
        for index, slot in zip(indexes, serving, strict=True):
            results[index] = answers[slot]

    if len(groups) == 1:
        [(query, indexes)] = groups.items()
        await run(query, indexes)
    else:
        await asyncio.gather(*(run(q, idx) for q, idx in groups.items()))
    return results


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
