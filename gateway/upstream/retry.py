"""Asking upstreams politely: retries that help and never hurt, and the pressure put on each upstream.

``Retrying`` retries a call that failed with a connection error, 502, 503, 504 or 429, with
exponential backoff and full jitter (tenacity), never sooner than the upstream's ``Retry-After``
and never past the call's deadline (a ``Retry-After`` that points past it is not waited for). Every
request the gateway makes is idempotent (GETs, and Figshare's read-only ``POST /count/articles``),
so every one may be retried. The first attempt runs outside tenacity: most calls succeed at once.

``Pressure`` admits requests to one upstream: none while the upstream has asked for a pause (a
429 or 503 with ``Retry-After``), at most ``max_rps`` per second when set (each waits its turn
within its deadline), and at most ``max_in_flight`` at once, so the connection pool never holds
thousands of queued requests. With a shared cache, pauses and turns are shared by the replicas
through its ``board`` (``gateway/cache/board.py``); a pause in force is known in memory, so
checking for one costs no round trip.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from gateway.cache import CacheTrouble
from gateway.errors import UpstreamUnavailable
from gateway.telemetry.metrics import NO_METRICS, Metrics

log = logging.getLogger("gateway.upstream")

T = TypeVar("T")
# Wake a little after a pause ends, so the retry is not turned away by the pause it waited for.
_PAUSE_MARGIN_S = 0.01
# The longest pause honoured: a Retry-After (or HTTP date) further out is most likely a mistake.
MAX_PAUSE_S = 3600.0


class Refused(UpstreamUnavailable):
    """Not sent: the upstream asked for a pause, or no turn under its rate limit comes in time.

    Nothing was asked of the upstream, so the circuit breaker learns nothing from it, unless an
    earlier attempt of the same call failed (``after_failure``).
    """

    after_failure = False


class Board(Protocol):
    """Pauses and turns shared by the replicas (``gateway.cache.board.RedisBoard``)."""

    async def announce_pause(self, source: str, seconds: float) -> None: ...

    async def take_turn(self, source: str, interval_s: float, within_s: float) -> tuple[bool, float]: ...


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
            try:
                return await attempt()
            except Refused as exc:
                exc.after_failure = True  # the call's first attempt did fail upstream
                raise

        # The first failure counts: the first retry waits as if tenacity had seen it.
        pause = self._wait_after(first, 1)
        if time.monotonic() + pause >= deadline:
            raise first
        self.metrics.retry(self.source)
        await asyncio.sleep(pause)  # the backoff is the behaviour: nothing to await but time
        return await retrying(again)


class Pressure:
    """What one upstream is asked, from this process and, through ``board``, from every replica."""

    def __init__(
        self,
        source: str,
        *,
        max_in_flight: int = 64,
        max_rps: float = 0.0,
        board: Board | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.max_rps = max_rps
        self.board = board
        self.clock = clock
        # Done once the pauses other replicas announced before this process started are known.
        self.joining: asyncio.Future[None] | None = None
        self._slots = asyncio.Semaphore(max_in_flight)
        self.paused_until = 0.0  # monotonic time; 0 while no pause was ever asked for
        self._next_turn = 0.0  # when the next request may go, under max_rps, in this process
        self._board_trouble = False

    def paused_for(self) -> float:
        return max(0.0, self.paused_until - self.clock())

    def heard(self, seconds: float) -> bool:
        """A pause told by the board (another replica got the 429, or it was in force at start-up);
        True when it ends later than what this process knew (by more than a note's delivery)."""
        until = self.clock() + min(seconds, MAX_PAUSE_S)
        news = until > self.paused_until + _PAUSE_MARGIN_S
        self.paused_until = max(self.paused_until, until)
        return news

    async def pause(self, seconds: float) -> None:
        """The upstream asked for a pause: send it nothing for ``seconds``, nor let the replicas."""
        seconds = min(seconds, MAX_PAUSE_S)
        self.heard(seconds)
        log.warning("%s asked for a pause: nothing is sent to it for %.1f s", self.source, seconds)
        if self.board is not None:
            try:
                await self.board.announce_pause(self.source, seconds)
            except CacheTrouble as exc:
                log.info("the pause of %s is kept by this process only: %s", self.source, exc)

    async def join(self) -> None:
        """Once, before the first request: wait for the pauses in force to be read from the board."""
        if self.joining is not None:
            await self.joining
            self.joining = None

    def check(self) -> None:
        """Raise ``Refused`` while a pause is in force (``paused_until`` says whether to call it)."""
        left = self.paused_until - self.clock()
        if left > 0:
            raise self.refused(f"{self.source} asked not to be called for a while", left)
        self.paused_until = 0.0  # over: the next calls need not look at the clock

    async def admit(self, deadline: float) -> None:
        """Take a turn to send one request (``release`` it after), or raise when none comes in time."""
        if self.paused_until:
            self.check()
        if self.max_rps > 0:
            wait = await self._turn(deadline)
            if wait > 0:
                await asyncio.sleep(wait)  # the turn is the behaviour: callers queue in time
        await self._slots.acquire()

    def release(self) -> None:
        self._slots.release()

    async def _turn(self, deadline: float) -> float:
        """How long until this call's turn under ``max_rps``; ``Refused`` when it comes too late."""
        interval = 1.0 / self.max_rps
        now = self.clock()
        if self.board is not None:
            try:
                taken, wait = await self.board.take_turn(self.source, interval, deadline - now)
            except CacheTrouble as exc:
                if not self._board_trouble:
                    log.info("%s: the rate limit is kept by this process alone for now: %s", self.source, exc)
                self._board_trouble = True
            else:
                if self._board_trouble:
                    log.info("the rate limit of %s is shared with the other replicas again", self.source)
                self._board_trouble = False
                if not taken:
                    raise self.refused(f"{self.source} is being called at its rate limit", wait)
                return wait
        turn = max(now, self._next_turn)
        if turn >= deadline:
            raise self.refused(f"{self.source} is being called at its rate limit", turn - now)
        self._next_turn = turn + interval
        return turn - now

    def refused(self, why: str, retry_after_s: float) -> Refused:
        # Whole seconds, rounded up: a caller told to come back sooner would be refused again.
        seconds = max(1, math.ceil(retry_after_s))
        return Refused(f"{why}; retry in {seconds} s.", source=self.source, retry_after_s=seconds)


def retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
