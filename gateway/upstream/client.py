"""The life of a call to one upstream, shared by every operation of the process.

    cache -> single-flight (process, then replicas) -> pause / rate / slot -> send (retries)
          -> stale-if-error -> store

``Upstream`` is made once per upstream by the lifespan. Identical requests are made once: among
concurrent operations of this process (led by a task no single caller's cancellation stops: one of
its own, or a DataLoader's batch), and among processes sharing a Redis cache (leases, a bounded
wait). Only answers are cached, never errors; when a call fails with a transient error, an expired
answer still held within the maximum staleness is served as ``stale``.

Sending goes through an ``httpx`` transport directly, without the client's cookie jar, redirects
and proxies (half the cost of a call, bench/README.md); it is the test seam (``MockTransport``).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from gateway import __version__
from gateway.cache import Entry, GuardedCache, Lease
from gateway.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable, from_transport
from gateway.telemetry.metrics import NO_METRICS, Metrics
from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.calls import (
    Outcome,
    ResponseHooks,
    TtlPolicy,
    UpstreamRequest,
    canonical_json,
    settling,
)
from gateway.upstream.retry import Pressure, Refused, Retrying, retry_after_s

log = logging.getLogger("gateway.upstream")

USER_AGENT = f"stats-gateway/{__version__}"
NO_LEASE = Lease("", "")  # fetching alone: nothing to release


# Not frozen (one per request; frozen sets each field through object.__setattr__). Never changed.
@dataclass(slots=True)
class Answer:
    """An upstream body, the entry it is (or was) cached as, and how it was obtained. ``value`` is
    the parsed body when this call parsed it (a fetch, shared by coalesced callers: treat it as
    immutable), None when it came from the cache."""

    body: bytes
    entry: Entry
    outcome: Outcome
    value: Any = None


class Upstream:
    """One upstream service: its address, transport, cache, breaker and the pressure put on it."""

    def __init__(
        self,
        source: str,
        *,
        base_url: str,
        transport: httpx.AsyncBaseTransport,
        cache: GuardedCache,
        policy: TtlPolicy,
        timeout_s: float,
        breaker: CircuitBreaker,
        retrying: Retrying | None = None,
        pressure: Pressure | None = None,
        lock_wait_s: float = 5.0,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self.cache = cache
        self.policy = policy
        self.timeout_s = timeout_s
        self.breaker = breaker
        self.retrying = retrying or Retrying(retries=0)
        self.pressure = pressure or Pressure(source)
        self.lock_wait_s = lock_wait_s
        self.metrics = metrics
        self._inflight: dict[str, asyncio.Future[Answer]] = {}
        self._circuit_reported: bool | None = None

    def cache_key(self, request: UpstreamRequest) -> str:
        """From the request itself plus the credential scope: never the credential.

        The scope is the one ``auth.Auth.forwarding`` produced with the forwarded headers: public
        requests share entries, credentialed ones are filed under an HMAC of the credential.
        """
        material = orjson.dumps(
            [
                self.source,
                self.base_url,
                request.method,
                request.path,
                sorted(request.params),
                canonical_json(request.body),
                request.forwarding.scope,
            ]
        )
        return f"v2:{self.source}:{hashlib.sha256(material).hexdigest()}"

    # ------------------------------------------------------------------ lifecycle

    async def fetch(
        self, request: UpstreamRequest, key: str, hooks: ResponseHooks, *, detached: bool = False
    ) -> Answer:
        """The answer to ``request``, from cache or the network, shared with concurrent callers.

        ``detached``: the caller runs in a task no client's request owns (a DataLoader's batch),
        which no caller going away cancels; a fetch it leads then runs in it directly.

        With tracing on, the call is a span, current while it runs: the requests sent for it
        (retries included) are its children."""
        fetching = self._fetch(request, key, hooks, detached)
        return await self.metrics.upstream_call(self.source, request, fetching)

    async def _fetch(
        self, request: UpstreamRequest, key: str, hooks: ResponseHooks, detached: bool
    ) -> Answer:
        held = await self.cache.get(key)
        if held is not None and held.fresh(self.cache.clock()):
            self.metrics.cache_lookup(self.source, "hit")
            return Answer(held.value, held, "hit")
        task = self._inflight.get(key)
        led = task is None
        if task is None and detached:
            return await self._lead_here(request, key, held, hooks)
        if task is None:
            # One task per key does the work for every concurrent caller; a caller that goes away
            # (its client disconnected) does not cancel it for the others.
            task = asyncio.ensure_future(self._lead(request, key, held, hooks))
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._landed, key))
        answer = await asyncio.shield(task)
        if not led and answer.outcome != "stale":
            answer = Answer(answer.body, answer.entry, "coalesced", answer.value)
        self.metrics.cache_lookup(self.source, answer.outcome)
        return answer

    async def _lead_here(
        self, request: UpstreamRequest, key: str, held: Entry | None, hooks: ResponseHooks
    ) -> Answer:
        """Lead in the caller's own (detached) task, which no caller going away cancels: no task of
        its own, nor a shield per caller (2% of an uncached operation). The others await ``flight``."""
        flight: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._inflight[key] = flight
        try:
            answer = await settling(flight, self._lead(request, key, held, hooks))
        finally:
            self._landed(key, flight)
        self.metrics.cache_lookup(self.source, answer.outcome)
        return answer

    def _landed(self, key: str, task: asyncio.Future[Answer]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # seen: every waiting caller gets it anyway

    async def _lead(
        self, request: UpstreamRequest, key: str, held: Entry | None, hooks: ResponseHooks
    ) -> Answer:
        """Fetch as the one caller in this process; coordinate with other processes."""
        # Held for as long as one fetch may take; a holder that dies frees it by expiry.
        hold_for = self.timeout_s + 1
        # Only a shared cache has other processes to coordinate with.
        lease = await self.cache.acquire(key, hold_for) if self.cache.shared else NO_LEASE
        try:
            entry = await self.cache.get(key) if self.cache.shared else None
            if entry is not None and entry.fresh(self.cache.clock()):
                # Filled by another process since the first look.
                return Answer(entry.value, entry, "hit" if lease is not None else "coalesced")
            if lease is None:
                # Another process is fetching: wait for its answer (bounded), then read it. If the
                # holder failed, or died and its lease is still running out, fetch ourselves.
                if not await self.cache.wait(key, min(self.lock_wait_s, hold_for)):
                    log.info(
                        "%s: the process fetching the same request did not finish; fetching", self.source
                    )
                entry = await self.cache.get(key)
                if entry is not None and entry.fresh(self.cache.clock()):
                    return Answer(entry.value, entry, "coalesced")
            held = entry or held
            try:
                body = await self._send(request, hooks)
                # Read before storing: a body that is not JSON is a failure, never cached.
                value = hooks.parse_body(body)
            except UpstreamError as exc:
                now = self.cache.clock()
                if exc.transient and held is not None and held.age(now) <= held.ttl + self.policy.max_stale_s:
                    log.info("%s failed; serving an answer %.0fs old", self.source, held.age(now))
                    return Answer(held.value, held, "stale")
                raise
            ttl = self.policy.ttl(request)
            entry = Entry(body, self.cache.clock(), ttl)
            if ttl > 0:
                await self.cache.set(key, entry, keep_for=ttl + self.policy.max_stale_s)
            return Answer(body, entry, "miss", value)
        finally:
            if lease is not None and lease.token:
                await self.cache.release(lease)

    async def _send(self, request: UpstreamRequest, hooks: ResponseHooks) -> bytes:
        """Send with retries, within one deadline; the breaker sees the call's final outcome."""
        pressure = self.pressure
        if pressure.joining is not None:
            await pressure.join()
        # A pause first: it sends nothing, so it is no trial call and no failure for the breaker.
        if pressure.paused_until:
            pressure.check()
        if not self.breaker.allow():
            raise UpstreamUnavailable(
                f"{self.source} is not being called for a while after repeated failures.",
                source=self.source,
                retry_after_s=self.breaker.retry_in(),
            )
        deadline = time.monotonic() + self.timeout_s
        try:
            body = await self.retrying.call(lambda: self._attempt(request, hooks, deadline), deadline)
        except UpstreamError as exc:
            if isinstance(exc, Refused) and not exc.after_failure:
                self.breaker.abstain()  # nothing was sent: nothing learnt
            elif exc.transient:
                self.breaker.failure()
            else:
                self.breaker.success()  # it answered, if only to refuse
            self._report_circuit()
            raise
        self.breaker.success()
        self._report_circuit()
        return body

    def _report_circuit(self) -> None:
        """The breaker's state for the metrics, when it changed (and after the first call)."""
        is_open = self.breaker.is_open
        if is_open is not self._circuit_reported:
            self._circuit_reported = is_open
            self.metrics.circuit(self.source, is_open)

    async def _attempt(self, request: UpstreamRequest, hooks: ResponseHooks, deadline: float) -> bytes:
        """One request on the wire, admitted by the upstream's pressure and bounded by the deadline."""
        headers = [("Accept", "application/json"), ("User-Agent", USER_AGENT), *request.forwarding.headers]
        if request.body is not None:
            headers.append(("Content-Type", "application/json"))
        started = 0.0
        try:
            async with asyncio.timeout(deadline - time.monotonic()):
                await self.pressure.admit(deadline)
                try:
                    if time.monotonic() >= deadline:
                        # Admitted as its deadline passed (a slot freed by another call's timeout,
                        # before this call's own timer ran): nothing is sent that cannot be awaited.
                        raise TimeoutError
                    started = time.monotonic()
                    log.debug("%s %s %s", self.source, request.method, request.target)
                    url = _url(self.base_url + request.target)
                    # As a stream: httpx then skips preparing headers the transport sets anyway.
                    content = httpx.ByteStream(request.body or b"")
                    outgoing = httpx.Request(request.method, url, headers=headers, stream=content)
                    response = await self.transport.handle_async_request(outgoing)
                    try:
                        body = await response.aread()
                    finally:
                        await response.aclose()
                finally:
                    self.pressure.release()
        except UpstreamError:
            raise
        except (TimeoutError, httpx.TransportError) as exc:
            error = from_transport(exc, self.source, self.timeout_s)
            if started:
                outcome = "timeout" if isinstance(error, UpstreamTimeout) else "connect_error"
                self.metrics.upstream_request(self.source, outcome, time.monotonic() - started)
            raise error from exc
        status = response.status_code
        self.metrics.upstream_request(self.source, f"{status // 100}xx", time.monotonic() - started)
        if status >= 300:
            retry_after = retry_after_s(response.headers.get("retry-after")) if status in (429, 503) else None
            if retry_after:
                await self.pressure.pause(retry_after)
            raise hooks.error_from_response(request, status, body, retry_after)
        return body


# Parsing a URL is most of what building an httpx request costs; the same ones come back often.
_url = functools.lru_cache(maxsize=4096)(httpx.URL)
