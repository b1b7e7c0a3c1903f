"""Collect what sibling fields need during one turn of the event loop, then act once.

GraphQL executes the fields of one object concurrently: each resolver runs until its first await.
A ``Batch`` gathers the keys registered during that turn and hands them to one callback, so the
fields of a stats object can share one upstream request, and every group count of an operation
can go in one POST.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Batch(Generic[K, V]):
    """``await batch.load(key)``; ``dispatch(keys)`` answers every key of one turn at once."""

    def __init__(self, dispatch: Callable[[Sequence[K]], Awaitable[Sequence[V]]]) -> None:
        self._dispatch = dispatch
        self._pending: dict[K, asyncio.Future[V]] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def load(self, key: K) -> asyncio.Future[V]:
        future = self._pending.get(key)
        if future is None:
            future = self._pending[key] = asyncio.get_running_loop().create_future()
        if not self._scheduled:
            self._scheduled = True
            loop = asyncio.get_running_loop()
            # Two hops: let every sibling resolver started in this turn register first.
            loop.call_soon(loop.call_soon, self._flush)
        return future

    def _flush(self) -> None:
        pending, self._pending, self._scheduled = self._pending, {}, False
        task = asyncio.ensure_future(self._run(pending))
        self._tasks.add(task)  # held until done, so it is not collected mid-flight
        task.add_done_callback(self._tasks.discard)

    async def _run(self, pending: dict[K, asyncio.Future[V]]) -> None:
        keys = list(pending)
        try:
            values = await self._dispatch(keys)
        except BaseException as exc:
            for future in pending.values():
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for key, value in zip(keys, values, strict=True):
            future = pending[key]
            if not future.done():
                if isinstance(value, BaseException):
                    future.set_exception(value)
                else:
                    future.set_result(value)
