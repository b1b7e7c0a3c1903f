"""The ERAS planner: the needs of one stats object's fields, merged into as few requests as possible.

The fields selected together on one stats object (total, timeSpent, series, projectContributions,
topContributors, activeUsers) each need something of one ``ErasQuery``. The loader gathers every
need asked during one turn of the event loop, merges the needs of each distinct query into the
fewest ERAS requests (one, unless several periods or contribution orders are asked for), sends
them concurrently, and answers every need from the request that carries it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace

from strawberry.dataloader import DataLoader

from gateway.upstream.datasource import Path
from gateway.upstream.eras import ErasAPI, ErasCounts, ErasFlags, ErasQuery, ErasRoute

COUNT, RECENTS = "count", "recents"


@dataclass(frozen=True)
class Need:
    """What one field needs from a stats request."""

    period: str | None = None
    time_spent: bool = False
    contributions: str | None = None  # COUNT or RECENTS
    top: int | None = None


PLAIN = Need()  # the counts alone: what total and activeUsers read


@dataclass(frozen=True)
class Ask:
    """One need of the stats object at ``path``."""

    query: ErasQuery
    need: Need
    path: tuple[str | int, ...] = ()


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

    return requests, [serving(n) for n in needs]


class ErasLoader:
    """The operation's ERAS counts: merged per query, made once, sent concurrently."""

    def __init__(self, api: ErasAPI) -> None:
        self.api = api
        self._loader: DataLoader[Ask, ErasCounts] = DataLoader(load_fn=self._dispatch, cache=False)

    async def counts(self, query: ErasQuery, need: Need, path: tuple[str | int, ...] = ()) -> ErasCounts:
        return await self._loader.load(Ask(query, need, path))

    async def _dispatch(self, asks: Sequence[Ask]) -> list[ErasCounts | BaseException]:
        groups: dict[ErasQuery, list[int]] = {}
        for index, ask in enumerate(asks):
            groups.setdefault(ask.query, []).append(index)
        results: list[ErasCounts | BaseException] = [RuntimeError("not planned")] * len(asks)

        async def run(query: ErasQuery, indexes: list[int]) -> None:
            flags, serving = plan(query.route, [asks[i].need for i in indexes])
            paths: list[list[Path]] = [[] for _ in flags]
            for index, slot in zip(indexes, serving, strict=True):
                if asks[index].path and list(asks[index].path) not in paths[slot]:
                    paths[slot].append(list(asks[index].path))
            try:
                answers = await self.api.counts_each(query, flags, paths)
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
