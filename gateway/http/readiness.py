"""``/readyz``: whether this replica should get traffic, and what it sees of each upstream.

The status code follows the cache backend alone: 200 when it answers, 503 with the reason when it
does not (a replica cut off from a shared Redis is the one to drain; the others are fine). Each
upstream's state is reported in the body but never turns the replica unready: an upstream outage
is shared by every replica, and draining them all for it would turn a partial outage (the other
upstream, cached and stale answers still served) into a total one, while fixing nothing.

An upstream's state is what this process's own calls to it found, so it needs no probe of its own:

- ``ok``: the last call got an answer (or none has been made yet);
- ``failing``: the last calls failed (no connection, timeout, 5xx or 429), fewer than it takes to
  open the circuit;
- ``circuit-open``: enough calls failed in a row that it is not being called for a while (after
  ``GATEWAY_BREAKER_RESET_S`` one trial call goes through, and its answer closes the circuit);
- ``paused``: it answered 429/503 with ``Retry-After``, and is left alone until then.

``reachable`` is false for ``failing`` and ``circuit-open``. The state changes with the next call:
the upstream client reconnects on its own, so the first call that works sets it back to ``ok``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gateway.cache import GuardedCache
from gateway.upstream.client import Upstream


def upstream_state(upstream: Upstream) -> dict[str, Any]:
    """What this process's calls found of ``upstream``, for ``/readyz``'s body."""
    failures = upstream.breaker.consecutive_failures
    if upstream.breaker.is_open:
        return {
            "reachable": False,
            "state": "circuit-open",
            "consecutiveFailures": failures,
            "retryInSeconds": math.ceil(upstream.breaker.retry_in()),
            "reason": f"{failures} calls in a row failed: not called until a trial call goes through",
        }
    if failures:
        return {
            "reachable": False,
            "state": "failing",
            "consecutiveFailures": failures,
            "reason": f"the last {failures} call(s) failed (no connection, timeout, 5xx or 429)",
        }
    paused = upstream.pressure.paused_for()
    if paused > 0:
        return {"reachable": True, "state": "paused", "retryAfter": math.ceil(paused)}
    return {"reachable": True, "state": "ok"}


async def readiness(cache: GuardedCache, upstreams: Mapping[str, Upstream]) -> tuple[int, dict[str, Any]]:
    """The status code and body of ``/readyz``."""
    reason = await cache.check()
    body: dict[str, Any] = {"status": "ready", "cache": cache.name}
    if reason is not None:
        body = {"status": "unavailable", "cache": cache.name, "reason": reason}
    body["upstreams"] = {source: upstream_state(upstream) for source, upstream in upstreams.items()}
    return (200 if reason is None else 503), body
