"""Deadlines for cache operations, judged against how late this process's own event loop ran.

A Redis operation that outlasts its deadline means Redis is slow or gone, unless the time was lost
here: an event loop starved of CPU (other processes on the cores, a burst of work in this one)
runs every callback late, the reading of Redis's answer included. Counting that as an outage would
send every request of the process to the upstreams (and end single-flight across replicas) just
when the machine is busiest.

So a ``LoopLag`` ticks while operations are in flight and adds up how late its ticks ran, and
``fair_timeout(t)`` fires only once the operation has had ``t`` seconds of a loop free to read its
answer: its wall time less the time the loop was not free, which is the larger of how late the
ticks ran meanwhile (the process was not scheduled, or a callback ran long) and the CPU time the
loop's thread spent meanwhile (its own work queued ahead). A dead Redis still fails at once
(connection refused) and a hung one after ``t`` (a loop waiting on Redis is idle, so nothing is
excused); past ``t + MAX_EXCUSE_S`` nothing more is excused.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from types import TracebackType

TICK_S = 0.02
# Ticks always run a little late (timer resolution, a callback or two ahead of them); only more
# than this counts as the loop being starved.
SLACK_S = 0.005
MAX_EXCUSE_S = 5.0

_monitors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLag] = weakref.WeakKeyDictionary()


class LoopLag:
    """How late one event loop has run its callbacks, measured while anyone asks."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.total = 0.0  # seconds of lateness seen by the ticks so far
        self.active = 0  # operations in flight: the ticker runs only while there are some
        self._due = 0.0
        self._ticking = False

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> LoopLag:
        monitor = _monitors.get(loop)
        if monitor is None:
            monitor = _monitors[loop] = cls(loop)
        return monitor

    def lateness(self, now: float) -> float:
        """Lateness so far, including the tick that is due and has not run yet."""
        pending = now - self._due if self._ticking else 0.0
        return self.total + (pending if pending > SLACK_S else 0.0)

    def begin(self) -> float:
        self.active += 1
        now = self.loop.time()
        if not self._ticking:
            self._ticking = True
            self._due = now + TICK_S
            self.loop.call_at(self._due, self._tick)
        return self.lateness(now)

    def end(self) -> None:
        self.active -= 1

    def _tick(self) -> None:
        now = self.loop.time()
        late = now - self._due
        if late > SLACK_S:
            self.total += late
        if self.active > 0:
            self._due = now + TICK_S
            self.loop.call_at(self._due, self._tick)
        else:
            self._ticking = False


class fair_timeout:  # lower case: used like asyncio.timeout
    """``async with fair_timeout(t):`` raises ``TimeoutError`` once the block has had ``t`` seconds
    of a responsive event loop (see the module's text), and after ``t + MAX_EXCUSE_S`` at most."""

    __slots__ = (
        "_cancelling",
        "_cpu0",
        "_expired",
        "_handle",
        "_lag",
        "_lag0",
        "_limit",
        "_start",
        "_task",
        "_when",
        "timeout",
    )

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    async def __aenter__(self) -> fair_timeout:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("fair_timeout is used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._lag = LoopLag.of(loop)
        self._lag0 = self._lag.begin()
        self._cpu0 = time.thread_time()
        self._start = loop.time()
        self._limit = self._start + self.timeout + MAX_EXCUSE_S
        self._when = self._start + self.timeout
        self._expired = False
        self._handle = loop.call_at(self._when, self._check)
        return self

    def _check(self) -> None:
        loop = self._lag.loop
        now = loop.time()
        # The loop was not free to read the answer while it ran late or ran this thread's own
        # work (the two overlap, so the larger of them is excused).
        busy = time.thread_time() - self._cpu0
        excused = max(self._lag.lateness(now) - self._lag0, busy, now - self._when)
        owed = self.timeout - (now - self._start - excused)
        if owed > SLACK_S and now < self._limit:
            self._when = min(now + owed, self._limit)
            self._handle = loop.call_at(self._when, self._check)
            return
        self._expired = True
        self._task.cancel()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._handle.cancel()
        self._lag.end()
        # As asyncio.timeout does: only the cancellation this deadline asked for becomes a timeout.
        if self._expired and self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc
