"""What the gateway counts, for operators: the interface, and a do-nothing twin.

The request path reports through a ``Metrics`` object passed in, never through a global, so tests
and benchmarks can run without a registry. Label values are bounded: a source name, an outcome
class, a cache result; never a credential, an id, a date or query text.
"""

from __future__ import annotations


class Metrics:
    """Reports nothing; ``gateway.observability`` provides the Prometheus one."""

    def cache_lookup(self, source: str, result: str) -> None:
        """``result``: hit, miss, stale or coalesced."""

    def upstream_request(self, source: str, outcome: str, seconds: float) -> None:
        """One request sent upstream; ``outcome``: 2xx..5xx, timeout or connect_error."""

    def retry(self, source: str) -> None:
        """A request about to be sent again."""

    def circuit(self, source: str, is_open: bool) -> None:
        """The breaker's state after a call."""

    def operation(self, outcome: str, seconds: float) -> None:
        """One GraphQL operation; ``outcome``: ok, partial or error."""

    def budget_refusal(self) -> None:
        """A field refused for passing the operation's upstream call budget."""


NO_METRICS = Metrics()
