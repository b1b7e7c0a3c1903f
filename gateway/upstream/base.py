"""One request lifecycle for every upstream call, with named hooks.

    forwarding (auth.py) -> cache key -> cache / single-flight -> send -> parse -> map errors

``Upstream.fetch`` runs it. Subclasses (``eras.py``, ``figshare.py``) name their resources and may
override ``error_from_response`` and ``parse_body``. Nothing here knows about GraphQL.

Identical requests are made once: within an operation (``memo``), among concurrent operations of
this process (one shared task per cache key, which no single caller's cancellation stops), and
among processes sharing a Redis cache (cache leases with a bounded wait). Only answers are cached,
never errors. When a call fails with a transient error and an expired answer is still held within
the maximum staleness, that answer is served and the call is recorded as ``stale``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

import httpx

from gateway.auth import PUBLIC, Forwarding
from gateway.cache import Entry, GuardedCache
from gateway.errors import (
    Forbidden,
    NotFound,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRejectedInput,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.upstream.breaker import CircuitBreaker

log = logging.getLogger("gateway.upstream")

Outcome = Literal["hit", "miss", "stale", "coalesced"]
USER_AGENT = "stats-gateway/0.1"


@dataclass(frozen=True)
class UpstreamRequest:
    """A request to one upstream, complete enough to send and to key a cache entry."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: str | None = None  # canonical JSON text, for POST
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
        """Path and query as sent; ids lists keep their commas, as the upstream's clients send."""
        if not self.params:
            return self.path
        return f"{self.path}?{urlencode(self.params, safe=',')}"


@dataclass(frozen=True)
class CallRecord:
    """What one upstream call of an operation did, for tracing and ``Cache-Control``."""

    source: str
    method: str
    target: str
    outcome: Outcome
    age_s: float
    ttl_left_s: float
    credentialed: bool

    @property
    def stale(self) -> bool:
        return self.outcome == "stale"

    def as_trace(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "method": self.method,
            "target": self.target,
            "cache": self.outcome,
            "ageSeconds": round(self.age_s, 3),
            "ttlSeconds": round(max(0.0, self.ttl_left_s), 3),
            "credentialed": self.credentialed,
        }


@dataclass
class CallLog:
    """The upstream calls of one operation (appended from concurrent resolvers)."""

    records: list[CallRecord] = field(default_factory=list)
    memo: dict[str, asyncio.Future[Any]] = field(default_factory=dict)

    def add(self, record: CallRecord) -> None:
        self.records.append(record)


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


class Upstream:
    """The life of a call to one upstream service. Subclasses set ``source``."""

    source: ClassVar[str] = "UPSTREAM"
    # Errors worth answering with an expired entry: the upstream did not give a real answer.
    STALE_ON: ClassVar[tuple[type[UpstreamError], ...]] = (
        UpstreamTimeout,
        UpstreamUnavailable,
        UpstreamBadResponse,
    )

    def __init__(
        self,
        *,
        base_url: str,
        client: httpx.AsyncClient,
        cache: GuardedCache,
        policy: TtlPolicy,
        timeout_s: float,
        breaker: CircuitBreaker,
        lock_wait_s: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.cache = cache
        self.policy = policy
        self.timeout_s = timeout_s
        self.breaker = breaker
        self.lock_wait_s = lock_wait_s
        self._inflight: dict[str, asyncio.Future[tuple[Any, Entry, Outcome]]] = {}

    # ------------------------------------------------------------------ hooks

    def cache_key(self, request: UpstreamRequest) -> str:
        """From the request itself plus the credential scope: never the credential.

        The scope is the one ``auth.CredentialRouter`` produced with the forwarded headers: public
        requests share entries, credentialed ones are filed under an HMAC of the credential.
        """
        material = json.dumps(
            [
                self.source,
                self.base_url,
                request.method.upper(),
                request.path,
                sorted(request.params),
                _canonical_body(request.body),
                request.forwarding.scope,
            ],
            separators=(",", ":"),
        )
        return f"v1:{self.source}:{hashlib.sha256(material.encode()).hexdigest()}"

    def parse_body(self, request: UpstreamRequest, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise UpstreamBadResponse(
                f"{self.source} answered with a body that is not JSON.",
                source=self.source,
                status=response.status_code,
            ) from None

    def error_message(self, response: httpx.Response) -> str | None:
        """The upstream's own error text, if its body has one."""
        return None

    def error_from_response(self, request: UpstreamRequest, response: httpx.Response) -> UpstreamError:
        """Map an HTTP error status to the gateway's error tree, most specific first."""
        status = response.status_code
        said = self.error_message(response)
        detail = f": {said}" if said else "."
        src = self.source
        if status == 400:
            return UpstreamRejectedInput(f"{src} rejected the arguments{detail}", source=src, status=status)
        if status in (401, 403):
            return Forbidden(f"{src} refused the credentials{detail}", source=src, status=status)
        if status == 404:
            return NotFound(f"{src} has no such resource{detail}", source=src, status=status)
        if status == 429:
            return UpstreamUnavailable(f"{src} is rate limiting.", source=src, status=status)
        if status >= 500:
            return UpstreamUnavailable(f"{src} failed with status {status}.", source=src, status=status)
        return UpstreamBadResponse(
            f"{src} answered with unexpected status {status}.", source=src, status=status
        )

    # ------------------------------------------------------------------ lifecycle

    async def fetch(self, request: UpstreamRequest, calls: CallLog | None = None) -> Any:
        """The upstream's answer to ``request`` (parsed JSON), from cache or the network."""
        key = self.cache_key(request)
        if calls is None:
            return await self._fetch(request, key, None)
        shared = calls.memo.get(key)
        if shared is None:
            shared = calls.memo[key] = asyncio.ensure_future(self._fetch(request, key, calls))
            shared.add_done_callback(_retrieve)
        return await asyncio.shield(shared)

    async def _fetch(self, request: UpstreamRequest, key: str, calls: CallLog | None) -> Any:
        now = self.cache.clock()
        held = await self.cache.get(key)
        if held is not None and held.fresh(now):
            self._record(calls, request, "hit", held, now)
            return held.value

        task = self._inflight.get(key)
        led = task is None
        if task is None:
            # One task per key does the work for every concurrent caller; a caller that goes away
            # (its client disconnected) does not cancel it for the others.
            task = asyncio.ensure_future(self._lead(request, key, held))
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._landed, key))
        value, entry, outcome = await asyncio.shield(task)
        if not led and outcome != "stale":
            outcome = "coalesced"
        self._record(calls, request, outcome, entry, self.cache.clock())
        return value

    def _landed(self, key: str, task: asyncio.Future[tuple[Any, Entry, Outcome]]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        _retrieve(task)

    async def _lead(
        self, request: UpstreamRequest, key: str, held: Entry | None
    ) -> tuple[Any, Entry, Outcome]:
        """Fetch as the one caller in this process; coordinate with other processes."""
        # Held for as long as one fetch may take; a holder that dies frees it by expiry.
        hold_for = self.timeout_s + 1
        lease = await self.cache.acquire(key, hold_for)
        try:
            entry = await self.cache.get(key)
            if entry is not None and entry.fresh(self.cache.clock()):
                # Filled since the first look, by another process or by a leader here that
                # finished in between.
                return entry.value, entry, "hit" if lease is not None else "coalesced"
            if lease is None:
                # Another process is fetching: wait for its answer (bounded), then read it. If the
                # holder failed, or died and its lease is still running out, fetch ourselves.
                if not await self.cache.wait(key, min(self.lock_wait_s, hold_for)):
                    log.info(
                        "%s: the process fetching the same request did not finish; fetching", self.source
                    )
                entry = await self.cache.get(key)
                if entry is not None and entry.fresh(self.cache.clock()):
                    return entry.value, entry, "coalesced"
            held = entry or held
            try:
                value = await self._send(request)
            except self.STALE_ON:
                now = self.cache.clock()
                if held is not None and held.age(now) <= held.ttl + self.policy.max_stale_s:
                    log.info("%s failed; serving an answer %.0fs old", self.source, held.age(now))
                    return held.value, held, "stale"
                raise
            ttl = self.policy.ttl(request)
            entry = Entry(value, self.cache.clock(), ttl)
            if ttl > 0:
                await self.cache.set(key, entry, keep_for=ttl + self.policy.max_stale_s)
            return value, entry, "miss"
        finally:
            if lease is not None:
                await self.cache.release(lease)

    async def _send(self, request: UpstreamRequest) -> Any:
        src = self.source
        if not self.breaker.allow():
            raise UpstreamUnavailable(
                f"{src} is not being called for a while after repeated failures.", source=src
            )
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        headers.update(request.forwarding.headers)
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        url = f"{self.base_url}{request.target}"
        log.debug("%s %s %s", src, request.method, request.target)
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self.client.request(
                    request.method, url, content=request.body, headers=headers
                )
        except (TimeoutError, httpx.TimeoutException):
            self.breaker.failure()
            raise UpstreamTimeout(f"{src} did not answer within {self.timeout_s:g} s.", source=src) from None
        except httpx.HTTPError as exc:
            self.breaker.failure()
            raise UpstreamUnavailable(
                f"{src} could not be reached ({type(exc).__name__}).", source=src
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            self.breaker.failure()
            raise self.error_from_response(request, response)
        self.breaker.success()
        if response.status_code >= 300:
            raise self.error_from_response(request, response)
        return self.parse_body(request, response)

    def _record(
        self,
        calls: CallLog | None,
        request: UpstreamRequest,
        outcome: Outcome,
        entry: Entry,
        now: float,
    ) -> None:
        if calls is None:
            return
        calls.add(
            CallRecord(
                source=self.source,
                method=request.method,
                target=request.target,
                outcome=outcome,
                age_s=entry.age(now),
                ttl_left_s=entry.remaining(now),
                credentialed=request.forwarding.credentialed,
            )
        )


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a shared task's failure as seen: every caller still waiting gets it anyway, and one
    whose callers all went away must not be reported as never retrieved."""
    if not task.cancelled():
        task.exception()


def _canonical_body(body: str | None) -> str | None:
    """JSON bodies with sorted keys and no spacing, so equal bodies key equally."""
    if body is None:
        return None
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return body
