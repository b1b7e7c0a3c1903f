"""One operation's upstream requests: what is sent, what each call did, and the call budget.

``UpstreamRequest`` is complete enough to send and to key a cache entry; ``TtlPolicy`` says how
long its answer stays fresh, ``ResponseHooks`` how its data source reads the answer. ``CallLog``
is made per operation: it remembers each distinct request (so identical ones are made once),
counts them against the operation's budget as they are planned, and records what each call did
for the ``X-Stats-Trace`` extension, ``Cache-Control`` and the response cache's lifetime.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlencode

import orjson

from gateway.auth import PUBLIC, Forwarding
from gateway.errors import BudgetExceeded, UpstreamError

Outcome = Literal["hit", "miss", "stale", "coalesced"]
T = TypeVar("T")


# Not frozen (one per request; frozen sets each field through object.__setattr__). Never changed.
@dataclass(slots=True)
class UpstreamRequest:
    """A request to one upstream, complete enough to send and to key a cache entry."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None  # canonical JSON, for POST
    forwarding: Forwarding = PUBLIC
    # True when the answer cannot change any more (its window ended before today).
    settled: bool = False

    def __post_init__(self) -> None:
        # The cache scope comes with the forwarded credential; a request carrying one without the
        # other would file a private answer under the public scope.
        if self.forwarding.headers and not self.forwarding.credentialed:
            raise ValueError("a request that forwards a credential needs that credential's cache scope")

    @property
    def target(self) -> str:
        """Path and query as sent; id lists keep their commas, as the upstream's clients send."""
        if not self.params:
            return self.path
        return f"{self.path}?{urlencode(self.params, safe=',')}"


# Not frozen (one per request; frozen sets each field through object.__setattr__). Never changed.
@dataclass(slots=True)
class CallRecord:
    """What one upstream call of an operation did."""

    source: str
    method: str
    target: str
    outcome: Outcome
    age_s: float
    ttl_left_s: float
    credentialed: bool
    key: str = ""

    @property
    def stale(self) -> bool:
        return self.outcome == "stale"


@dataclass
class CallLog:
    """The upstream calls of one operation (appended to from concurrent resolvers)."""

    budget: int = 50
    records: list[CallRecord] = field(default_factory=list)
    memo: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    planned: set[str] = field(default_factory=set)
    # Response paths each request served (by cache key), for the trace.
    paths: dict[str, list[list[str | int]]] = field(default_factory=dict)
    # Whether any field's answer depended on the caller's credentials (forwarded or not).
    consulted_credentials: bool = False
    refusals: int = 0

    def reserve(self, keys: Iterable[str]) -> None:
        """Count a field's distinct requests against the budget, all or none of them."""
        new = set(keys) - self.planned
        if len(self.planned) + len(new) > self.budget:
            self.refusals += 1
            raise BudgetExceeded(self.budget, len(new))
        self.planned |= new

    def add(self, record: CallRecord) -> None:
        self.records.append(record)

    def served(self, key: str, path: list[str | int]) -> None:
        self.paths.setdefault(key, []).append(path)

    def trace(self) -> list[dict[str, Any]]:
        """Each call, what it did and which fields it served (the ``X-Stats-Trace`` extension)."""
        return [
            {
                "source": r.source,
                "method": r.method,
                "target": r.target,
                "cache": r.outcome,
                "ageSeconds": round(r.age_s, 3),
                "ttlSeconds": round(max(0.0, r.ttl_left_s), 3),
                "credentialed": r.credentialed,
                "paths": self.paths.get(r.key, []),
            }
            for r in self.records
        ]

    @property
    def stale(self) -> list[CallRecord]:
        return [r for r in self.records if r.stale]

    @property
    def credentialed(self) -> bool:
        return any(r.credentialed for r in self.records)

    def ttl_left(self) -> float:
        """The shortest remaining freshness of the answers used (how long the response may live)."""
        return min((r.ttl_left_s for r in self.records), default=0.0)


class ResponseHooks(Protocol):
    """What the source's data source says about its answers (``datasource.DataSource``)."""

    def parse_body(self, body: bytes) -> Any: ...

    def error_from_response(
        self, request: UpstreamRequest, status: int, body: bytes, retry_after_s: float | None
    ) -> UpstreamError: ...


@dataclass(frozen=True)
class TtlPolicy:
    """How long answers stay fresh, and how long past that they may be served on failure."""

    past_s: float = 86_400
    recent_s: float = 60
    private_s: float = 60
    max_stale_s: float = 86_400

    def ttl(self, request: UpstreamRequest) -> float:
        ttl = self.past_s if request.settled else self.recent_s
        if request.forwarding.credentialed:
            ttl = min(ttl, self.private_s)
        return ttl


def canonical_json(body: bytes | None) -> str | None:
    """JSON bodies with sorted keys and no spacing, so equal bodies key equally."""
    if body is None:
        return None
    try:
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")


async def settling(shared: asyncio.Future[T], work: Awaitable[T]) -> T:
    """``work``'s answer, which also settles ``shared`` for every other caller waiting on it: the
    same answer, the same failure (marked seen: the waiters get it, none may be left to), or a
    cancellation when the one doing the work is cancelled."""
    try:
        value = await work
    except BaseException as exc:
        if isinstance(exc, asyncio.CancelledError):
            shared.cancel()
        else:
            shared.set_exception(exc)
            shared.exception()
        raise
    shared.set_result(value)
    return value
