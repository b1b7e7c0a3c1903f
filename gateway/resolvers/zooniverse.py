"""Zooniverse stats: field arguments to ERAS requests, with one request per parameter set.

The fields selected together on one stats object (total, timeSpent, series, projectContributions,
topContributors, activeUsers) each register a ``Need`` with the operation's ``ErasPlanner``. At the
end of the event-loop turn the planner merges the needs of each distinct query into as few ERAS
requests as possible (one, unless several periods or contribution orders are asked for), sends
them concurrently, and answers every field from the request that carries what it needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from gateway.auth import CallerCredentials, CredentialRouter, Forwarding
from gateway.dates import Granularity, InvalidDate, Window, bucket_starts
from gateway.errors import BadUserInput
from gateway.resolvers.args import id_list, numeric_id
from gateway.resolvers.batching import Batch
from gateway.resolvers.selection import SelectedField, enum_name, int_value, selects
from gateway.upstream.base import CallLog
from gateway.upstream.eras import (
    ErasBucket,
    ErasClient,
    ErasCounts,
    ErasFlags,
    ErasMember,
    ErasQuery,
    ErasRoute,
)

COUNT, RECENTS = "count", "recents"


@dataclass(frozen=True)
class Need:
    """What one field needs from a stats request."""

    period: str | None = None
    time_spent: bool = False
    contributions: str | None = None  # COUNT or RECENTS
    top: int | None = None


@dataclass(frozen=True)
class _Key:
    query: ErasQuery
    forwarding: Forwarding
    need: Need


def plan(route: ErasRoute, needs: Sequence[Need]) -> tuple[list[ErasFlags], list[int]]:
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
                requests[slot],
                period=period,
                project_contributions=True,
                order_by_recents=order == RECENTS,
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

    return requests, [serving(n) for n in needs]


class ErasPlanner:
    """The operation's ERAS requests: merged per query, made once, sent concurrently."""

    def __init__(self, client: ErasClient, calls: CallLog, today: date) -> None:
        self.client = client
        self.calls = calls
        self.today = today
        self._batch: Batch[_Key, ErasCounts | BaseException] = Batch(self._dispatch)

    async def counts(self, query: ErasQuery, forwarding: Forwarding, need: Need) -> ErasCounts:
        result = await self._batch.load(_Key(query, forwarding, need))
        if isinstance(result, BaseException):
            raise result
        return result

    async def breakdown(self, query: ErasQuery, forwarding: Forwarding) -> tuple[ErasMember, ...]:
        request = self.client.request(query, ErasFlags(breakdown=True), forwarding, today=self.today)
        return await self.client.breakdown(request, self.calls)

    async def _dispatch(self, keys: Sequence[_Key]) -> list[ErasCounts | BaseException]:
        groups: dict[tuple[ErasQuery, Forwarding], list[int]] = {}
        for index, key in enumerate(keys):
            groups.setdefault((key.query, key.forwarding), []).append(index)
        results: dict[int, ErasCounts | BaseException] = {}

        async def run(query: ErasQuery, forwarding: Forwarding, indexes: list[int]) -> None:
            requests, serving = plan(query.route, [keys[i].need for i in indexes])
            answers = await asyncio.gather(
                *(
                    self.client.counts(
                        self.client.request(query, flags, forwarding, today=self.today),
                        self.calls,
                    )
                    for flags in requests
                ),
                return_exceptions=True,
            )
            for index, slot in zip(indexes, serving, strict=True):
                results[index] = answers[slot]

        await asyncio.gather(*(run(q, f, idx) for (q, f), idx in groups.items()))
        return [results[index] for index in range(len(keys))]


@dataclass
class StatsHandle:
    """A stats object's query, and the answers fetched for what its fields need."""

    planner: ErasPlanner
    query: ErasQuery
    forwarding: Forwarding
    answers: dict[Need, ErasCounts] = field(default_factory=dict)

    async def prefetch(self, needs: Iterable[Need]) -> None:
        """Fetch what the selected fields need (merged with their siblings'); raise any failure.

        Raising here nulls the stats object with one error, instead of one error per sub-field.
        """
        wanted = list(dict.fromkeys(needs))
        results = await asyncio.gather(
            *(self.planner.counts(self.query, self.forwarding, n) for n in wanted),
            return_exceptions=True,
        )
        for need, result in zip(wanted, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            self.answers[need] = result

    async def counts(self, need: Need = Need()) -> ErasCounts:
        """The answer for ``need``: prefetched, or fetched now if the look-ahead missed it."""
        answer = self.answers.get(need)
        if answer is None:
            answer = self.answers[need] = await self.planner.counts(self.query, self.forwarding, need)
        return answer

    async def members(self) -> tuple[ErasMember, ...]:
        return await self.planner.breakdown(self.query, self.forwarding)

    def no_filters(self, field_name: str) -> None:
        if self.query.filtered:
            raise BadUserInput(
                f"{field_name} is not available when projectIds or workflowIds are given.",
                argument=field_name,
            )

    async def buckets(
        self, granularity: Granularity, fill_gaps: bool, *, time_spent: bool = False
    ) -> list[ErasBucket]:
        counts = await self.counts(Need(period=granularity.value, time_spent=time_spent))
        buckets = list(counts.buckets or ())
        if fill_gaps:
            buckets = fill(buckets, self.query.window, granularity, self.planner.today)
        return buckets


def needs_of(route: ErasRoute, filtered: bool, selected: Iterable[SelectedField]) -> list[Need]:
    """What the selected sub-fields of a stats object will ask for (see the types' fields).

    Fields whose own arguments are invalid are left out: they fail on their own, costing nothing.
    """
    needs: list[Need] = []
    for child in selected:
        args = child.arguments
        if child.name in {"total", "activeUsers"}:
            needs.append(Need())
        elif child.name == "timeSpent":
            needs.append(Need(time_spent=route is ErasRoute.USER))
        elif child.name == "series" and args.get("period") is not None:
            timed = route is ErasRoute.USER and selects(child, "timeSpent")
            needs.append(Need(period=enum_name(args["period"]).lower(), time_spent=timed))
        elif child.name == "projectContributions" and not filtered:
            order = RECENTS if enum_name(args.get("orderBy", "COUNT")) == "RECENTS" else COUNT
            needs.append(Need(contributions=order))
        elif child.name == "topContributors":
            limit = int_value(args.get("limit", 10))
            if limit is not None and limit >= 0:
                needs.append(Need(top=limit))
    return needs


def fill(
    buckets: list[ErasBucket], window: Window, granularity: Granularity, today: date
) -> list[ErasBucket]:
    """Every bucket of the window, zeros included; open ends: first bucket returned, today."""
    first = window.start or (buckets[0].start if buckets else None)
    if first is None:
        return []
    last = window.end or today
    have = {b.start: b for b in buckets}
    zero_time = 0.0 if any(b.session_time is not None for b in buckets) else None
    filled = [
        have.get(start, ErasBucket(start, 0, zero_time))
        for start in bucket_starts(first, max(first, last), granularity)
    ]
    # Buckets outside the window (the upstream's own "today" handling) are kept, not dropped.
    extra = [b for b in buckets if b.start not in {f.start for f in filled}]
    return sorted(filled + extra, key=lambda b: b.start)


@dataclass(frozen=True)
class ZooniverseSource:
    """Builds the stats handles of the Zooniverse fields for one operation."""

    planner: ErasPlanner
    router: CredentialRouter
    credentials: CallerCredentials
    max_ids: int

    def handle(
        self,
        route: ErasRoute,
        *,
        subject_id: object | None = None,
        project_ids: Sequence[object] | None = None,
        workflow_ids: Sequence[object] | None = None,
        user_ids: Sequence[object] | None = None,
        start: date | InvalidDate | None = None,
        end: date | InvalidDate | None = None,
    ) -> StatsHandle:
        """Check the arguments (BAD_USER_INPUT, UNAUTHENTICATED) before anything is sent."""
        window = Window.of(start, end)
        projects = id_list("projectIds", project_ids, self.max_ids)
        workflows = id_list("workflowIds", workflow_ids, self.max_ids)
        users = id_list("userIds", user_ids, self.max_ids)
        if projects is not None and workflows is not None:
            raise BadUserInput(
                "Give projectIds or workflowIds, not both: ERAS counts by one or the other.",
                argument="workflowIds",
            )
        subject = None if subject_id is None else numeric_id("id", subject_id)
        query = ErasQuery(route, subject, projects, workflows, users, window)
        forwarding = self.router.route(
            "ERAS",
            route.access,
            self.credentials.eras,
            what="A volunteer's classification stats",
            hint="send Authorization: Bearer <Panoptes token> of that volunteer or of an admin",
        )
        return StatsHandle(self.planner, query, forwarding)
