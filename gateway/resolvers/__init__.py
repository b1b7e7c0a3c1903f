"""Field arguments to upstream requests, and answers to schema values: one module a source.

``operation_loader`` makes the DataLoaders those modules batch with, the same way for each.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from strawberry.dataloader import Batch, DataLoader, dispatch_batch

A = TypeVar("A")
K = TypeVar("K")
V = TypeVar("V")


class TurnLoader(DataLoader[K, V]):
    """strawberry's DataLoader dispatching each batch at the next turn of the event loop (uncached,
    batches unbounded: ``cache`` and ``max_batch_size`` are not read).

    strawberry's own schedules a callback at the first key that then makes the batch's task, whose
    first step runs a turn later again: two turns before the upstream request is sent. Under load
    each turn waits for every other connection's ready work, so the second one only added to every
    answer's latency. Here the task is made at the first key and runs strawberry's own
    ``dispatch_batch``: the keys asked during that turn make the batch.

    ``settle``: wait instead until a whole turn passes with no new key. graphql-core reaches the
    fields of one operation over several turns (sibling fields that await are gathered as tasks, a
    turn later than a lone one); a batch promised to hold every key of an operation waits for them.
    """

    def __init__(self, *args: Any, settle: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._settle = settle

    def load(self, key: K) -> Awaitable[V]:
        batch = self.batch
        if batch is None or batch.dispatched:
            batch = self.batch = Batch()
            batch._dispatch_task = self.loop.create_task(self._dispatch(batch))
        future: asyncio.Future[V] = self.loop.create_future()
        batch.add_task(key, future)
        return future

    async def _dispatch(self, batch: Batch[K, V]) -> None:
        if self._settle:
            seen = 0
            while len(batch.tasks) != seen:
                seen = len(batch.tasks)
                await asyncio.sleep(0)  # one turn for other fields to add theirs; nothing to await
        await dispatch_batch(self, batch)


def operation_loader(
    load: Callable[[A, Sequence[K]], Awaitable[list[V | BaseException]]], api: A, *, settle: bool = False
) -> DataLoader[K, V]:
    """One operation's DataLoader over ``load(api, keys)``, on the running loop (``settle``: see
    ``TurnLoader``).

    Not a cache (the operation's memo and the upstream cache keep answers). The load function is a
    plain function holding the data source, never a bound method of the loader's owner: that would
    make the loader, its batches and every answer and error in them a reference cycle, left to the
    garbage collector after each operation instead of freed with it.
    """
    return TurnLoader(
        load_fn=functools.partial(load, api), cache=False, loop=asyncio.get_running_loop(), settle=settle
    )
