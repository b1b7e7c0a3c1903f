"""A small circuit breaker: stop calling an upstream that keeps failing, then try it again."""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """Opens after ``failures`` consecutive failures; after ``reset_s`` one trial call is let
    through (half-open), and its outcome closes or re-opens the circuit. ``failures=0`` disables it.

    A trial whose outcome never arrives (its caller was cancelled) does not keep the circuit open
    for good: after another ``reset_s`` a new trial is let through.
    """

    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.reset_s = reset_s
        self.clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_since: float | None = None

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def allow(self) -> bool:
        """Whether a call may go out now."""
        if self._opened_at is None:
            return True
        now = self.clock()
        if now - self._opened_at < self.reset_s:
            return False
        if self._trial_since is not None and now - self._trial_since < self.reset_s:
            return False
        self._trial_since = now
        return True

    def success(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._trial_since = None

    def failure(self) -> None:
        self._consecutive += 1
        self._trial_since = None
        if self.failures and self._consecutive >= self.failures:
            self._opened_at = self.clock()
