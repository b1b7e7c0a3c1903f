"""A small circuit breaker: stop calling an upstream that keeps failing, then try it again."""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """Opens after ``failures`` consecutive failures; after ``reset_s`` one trial call is let
    through (half-open), and its outcome closes or re-opens the circuit. ``failures=0`` disables it.
    """

    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.reset_s = reset_s
        self.clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def allow(self) -> bool:
        """Whether a call may go out now."""
        if self._opened_at is None:
            return True
        if self.clock() - self._opened_at >= self.reset_s and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def success(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._trial_running = False

    def failure(self) -> None:
        self._consecutive += 1
        self._trial_running = False
        if self.failures and self._consecutive >= self.failures:
            self._opened_at = self.clock()
