"""A small circuit breaker: stop calling an upstream that keeps failing, then try it again.

It sees each call's final outcome, after its retries: a call a retry rescued is a success. What
counts as a failure is what says nothing about the caller's request: no connection, a timeout, a
5xx or 429, a body that cannot be read. Any other answer (even a 4xx) shows the upstream is there
and closes the circuit. A call refused before sending (a pause, a rate limit) counts for nothing.
"""

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
    def consecutive_failures(self) -> int:
        """Calls that failed in a row since the last answer (any answer resets the count)."""
        return self._consecutive

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

    def retry_in(self) -> float:
        """Seconds until a trial call may go (while the circuit is open)."""
        if self._opened_at is None:
            return 0.0
        since = self._opened_at if self._trial_since is None else self._trial_since
        return max(0.0, since + self.reset_s - self.clock())

    def abstain(self) -> None:
        """The call let through sent nothing after all: a trial it held goes to the next caller."""
        self._trial_since = None

    def success(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._trial_since = None

    def failure(self) -> None:
        self._consecutive += 1
        self._trial_since = None
        if self.failures and self._consecutive >= self.failures:
            self._opened_at = self.clock()
