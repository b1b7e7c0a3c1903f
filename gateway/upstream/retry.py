"""Asking upstreams politely: retries that help and never hurt, and the pressure put on each upstream.

``Retrying`` retries a call that failed with a connection error, 502, 503, 504 or 429, with
exponential backoff and full jitter (tenacity), never sooner than the upstream's ``Retry-After``
and never past the call's deadline. Every request the gateway makes is idempotent (GETs, and
Figshare's read-only ``POST /count/articles``), so every one may be retried.

``Pressure`` admits requests to one upstream: none while the upstream has asked for a pause (a
429 or 503 with ``Retry-After``), at most ``max_rps`` per second when set (each waits its turn
within its deadline), and at most ``max_in_flight`` at once, so the connection pool never holds
thousands of queued requests.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from gateway.errors import UpstreamUnavailable
from gateway.metrics import NO_METRICS, Metrics

T = TypeVar("T")
# Wake a little after a pause ends, so the retry is not turned away by the pause it waited for.
_PAUSE_MARGIN_S = 0.01


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamUnavailable) and exc.retryable


class _PastDeadline(stop_base):
    """Stop when the next wait would end at or after the deadline."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() + (retry_state.upcoming_sleep or 0.0) >= self.deadline


class Retrying:
    """How one upstream's calls are retried."""

    def __init__(
        self, retries: int, backoff_s: float = 0.1, *, source: str = "", metrics: Metrics = NO_METRICS
    ):
        self.retries = retries
        self.backoff_s = backoff_s
        self.source = source
        self.metrics = metrics

    def _wait(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        # tenacity counts the retries only: the call's first attempt came before it.
        return self._wait_after(exc, retry_state.attempt_number + 1)

    def _wait_after(self, exc: BaseException | None, failures: int) -> float:
        """Exponential backoff with full jitter, never shorter than the upstream's Retry-After."""
        jitter = random.uniform(0, self.backoff_s * 2 ** (failures - 1))
        retry_after = getattr(exc, "retry_after_s", None)
        return jitter if retry_after is None else max(jitter, retry_after + _PAUSE_MARGIN_S)

    def _before_sleep(self, retry_state: RetryCallState) -> None:
        self.metrics.retry(self.source)

    async def call(self, attempt: Callable[[], Awaitable[T]], deadline: float) -> T:
        # Most calls succeed at once: only a failure worth retrying pays for tenacity's machinery.
        try:
            return await attempt()
        except UpstreamUnavailable as exc:
            if self.retries == 0 or not _worth_retrying(exc):
                raise
            first = exc
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries) | _PastDeadline(deadline),
            wait=self._wait,
            retry=retry_if_exception(_worth_retrying),
            before_sleep=self._before_sleep,
            reraise=True,
        )

        async def again() -> T:  # a coroutine function, which tenacity awaits (it calls others plainly)
            return await attempt()

        # The first failure counts: the first retry waits as if tenacity had seen it.
        pause = self._wait_after(first, 1)
        if time.monotonic() + pause >= deadline:
            raise first
        self.metrics.retry(self.source)
        await asyncio.sleep(pause)  # the backoff is the behaviour: nothing to await but time
        return await retrying(again)


class Pressure:
    """What one upstream is asked, from this process (shared by replicas through ``board``)."""

    def __init__(
        self,
        source: str,
        *,
        max_in_flight: int = 64,
        max_rps: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.max_rps = max_rps
        self.clock = clock
        self._slots = asyncio.Semaphore(max_in_flight)
        self._paused_until = 0.0
        self._next_turn = 0.0  # when the next request may go, under max_rps

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self.clock())

    def pause(self, seconds: float) -> None:
        """The upstream asked for a pause: send it nothing for ``seconds``."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    async def admit(self, deadline: float) -> None:
        """Take a turn to send one request (``release`` it after), or raise when none comes in time."""
        left = self.paused_for()
        if left > 0:
            raise self._refused(f"{self.source} asked not to be called for a while", left)
        if self.max_rps > 0:
            now = self.clock()
            turn = max(now, self._next_turn)
            if turn >= deadline:
                raise self._refused(f"{self.source} is being called at its rate limit", turn - now)
            self._next_turn = turn + 1.0 / self.max_rps
            if turn > now:
                await asyncio.sleep(turn - now)  # the turn is the behaviour: callers queue in time
        await self._slots.acquire()

    def release(self) -> None:
        self._slots.release()

    def _refused(self, why: str, retry_after_s: float) -> UpstreamUnavailable:
        return UpstreamUnavailable(
            f"{why}; retry in {max(1, round(retry_after_s))} s.",
            source=self.source,
            retry_after_s=retry_after_s,
        )
