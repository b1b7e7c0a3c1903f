"""Field arguments to upstream requests, and answers to schema values: one module a source.

``operation_loader`` makes the DataLoaders those modules batch with, the same way for each.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from strawberry.dataloader import DataLoader

A = TypeVar("A")
K = TypeVar("K")
V = TypeVar("V")


def operation_loader(
    load: Callable[[A, Sequence[K]], Awaitable[list[V | BaseException]]], api: A
) -> DataLoader[K, V]:
    """One operation's DataLoader over ``load(api, keys)``, on the running loop.

    Not a cache (the operation's memo and the upstream cache keep answers). The load function is a
    plain function holding the data source, never a bound method of the loader's owner: that would
    make the loader, its batches and every answer and error in them a reference cycle, left to the
    garbage collector after each operation instead of freed with it.
    """
    return DataLoader(load_fn=functools.partial(load, api), cache=False, loop=asyncio.get_running_loop())
