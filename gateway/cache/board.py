"""What replicas sharing a Redis cache tell each other about the upstreams: pauses and turns.

Pauses. An upstream that answers 429 (or 503) with ``Retry-After`` is left alone by every replica
until then. The process that got the answer writes ``<namespace>:pause:<source>`` (expiring when
the pause ends; a longer pause in force is kept) and announces it on ``<namespace>:pressure``.
Every process listens and keeps the pauses it hears of in memory, so the request path checks a
number, never Redis. A process reads the pause keys when it starts (before its first upstream
request), whenever its subscription is made again, and after every ``RESYNC_S`` of silence, so a
note it missed is caught up with. Between a 429 and its note's arrival (about a round trip to
Redis) another replica may still send a request: a pause is as shared as pub/sub is prompt.

Turns. An upstream's outbound rate is a token bucket in ``<namespace>:rate:<source>``, kept as the
time its next request may go (GCRA: a bucket of one token, refilled every ``1/rate`` seconds); a
Lua script takes a turn atomically on Redis's own clock, so replicas' clocks need not agree. A
call whose turn would come after its deadline takes none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from gateway.cache.base import CacheTrouble
from gateway.cache.fair import fair_timeout

log = logging.getLogger("gateway.upstream")

RESYNC_S = 10.0
RECONNECT_S = (0.5, 30.0)  # first and longest wait before subscribing again

# Told how many seconds the upstream is paused for; says whether that was news to the process.
Listener = Callable[[float], bool]

# Sets the pause unless a longer one is in force, then tells every listening process.
_ANNOUNCE = """
if redis.call('pttl', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2])
end
return redis.call('publish', KEYS[2], ARGV[3])
"""

# GCRA on Redis's clock, in microseconds: {1, wait} takes the turn that comes after ``wait``;
# {0, wait} takes none, as that turn would come too late (ARGV[2] is the longest acceptable wait).
_TAKE_TURN = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local turn = tonumber(redis.call('get', KEYS[1]) or '0')
if turn < now then turn = now end
local wait = turn - now
if wait >= tonumber(ARGV[2]) then
  return {0, math.floor(wait)}
end
local after = turn + tonumber(ARGV[1])
redis.call('set', KEYS[1], string.format('%.0f', after), 'px', math.ceil((after - now) / 1000) + 1000)
return {1, math.floor(wait)}
"""


def reason(exc: BaseException) -> str:
    """The exception's class, and Redis's own error text for refusals (e.g. OOM): never a key."""
    name = type(exc).__name__
    if name == "ResponseError":
        said = str(exc).split(" ", 1)[0][:40]
        return f"{name} {said}"
    return name


class RedisBoard:
    """The pauses and rate limits of the upstreams, shared by the replicas of one Redis namespace."""

    def __init__(self, client: Any, subscriber: Any, namespace: str, op_timeout_s: float) -> None:
        self._client = client
        self._subscriber = subscriber  # a pool of its own: a subscription holds its connection
        self.namespace = namespace
        self.op_timeout_s = op_timeout_s
        self.channel = f"{namespace}:pressure"
        # Tells this process's own notes apart: it paused itself already, and exactly.
        self.origin = secrets.token_hex(8)
        self._announce = client.register_script(_ANNOUNCE)
        self._take_turn = client.register_script(_TAKE_TURN)
        self._listening: asyncio.Task[None] | None = None

    def _pause_key(self, source: str) -> str:
        return f"{self.namespace}:pause:{source}"

    async def announce_pause(self, source: str, seconds: float) -> None:
        ms = max(1, math.ceil(seconds * 1000))
        try:
            async with fair_timeout(self.op_timeout_s):
                await self._announce(
                    keys=[self._pause_key(source), self.channel],
                    args=[self.origin, ms, f"{self.origin} {source} {ms}"],
                )
        except Exception as exc:
            raise CacheTrouble(f"redis pause note failed: {reason(exc)}") from exc

    async def take_turn(self, source: str, interval_s: float, within_s: float) -> tuple[bool, float]:
        """Whether a turn to send was taken, and how long until it (or until the next one)."""
        try:
            async with fair_timeout(self.op_timeout_s):
                taken, wait_us = await self._take_turn(
                    keys=[f"{self.namespace}:rate:{source}"],
                    args=[max(1, round(interval_s * 1e6)), max(0, int(within_s * 1e6))],
                )
        except Exception as exc:
            raise CacheTrouble(f"redis rate limit failed: {reason(exc)}") from exc
        return bool(taken), int(wait_us) / 1e6

    def start(self, listeners: Mapping[str, Listener]) -> asyncio.Future[None]:
        """Listen for pauses; the future is done once those in force were read (or could not be)."""
        loop = asyncio.get_running_loop()
        joined: asyncio.Future[None] = loop.create_future()
        self._listening = loop.create_task(self._listen(dict(listeners), joined))
        return joined

    async def close(self) -> None:
        task, self._listening = self._listening, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self, listeners: dict[str, Listener], joined: asyncio.Future[None]) -> None:
        failures = 0
        while True:
            pubsub = self._subscriber.pubsub()
            try:
                async with fair_timeout(self.op_timeout_s):
                    await pubsub.subscribe(self.channel)
                await self._catch_up(listeners)  # subscribed first: no note falls in between
                if failures:
                    log.info("pauses are shared with the other replicas again")
                failures = 0
                if not joined.done():
                    joined.set_result(None)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=RESYNC_S)
                    if message is None:
                        await self._catch_up(listeners)
                    else:
                        self._heard(message.get("data"), listeners)
            except Exception as exc:
                if not failures:
                    log.info("pauses are not shared with the other replicas for now: %s", reason(exc))
                failures += 1
            finally:
                if not joined.done():
                    joined.set_result(None)  # the process starts on what it knows itself
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(min(RECONNECT_S[1], RECONNECT_S[0] * 2 ** (failures - 1)))

    async def _catch_up(self, listeners: dict[str, Listener]) -> None:
        """Read the pauses in force (a note may have been missed while not subscribed)."""
        sources = list(listeners)
        async with fair_timeout(self.op_timeout_s), self._client.pipeline(transaction=False) as pipe:
            for source in sources:
                pipe.get(self._pause_key(source))
                pipe.pttl(self._pause_key(source))
            found = await pipe.execute()
        for source, origin, ms in zip(sources, found[::2], found[1::2], strict=True):
            # This process's own pauses are known already, and exactly.
            if isinstance(ms, int) and ms > 0 and origin not in (self.origin, self.origin.encode()):
                self._tell(listeners[source], source, ms / 1000)

    def _heard(self, data: Any, listeners: dict[str, Listener]) -> None:
        text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
        words = text.split() if isinstance(text, str) else []
        if len(words) != 3 or words[0] == self.origin or not words[2].isdigit():
            return
        listener = listeners.get(words[1])
        if listener is not None:
            self._tell(listener, words[1], int(words[2]) / 1000)

    @staticmethod
    def _tell(listener: Listener, source: str, seconds: float) -> None:
        if listener(seconds):
            log.info("%s was paused by another replica: nothing is sent to it for %.1f s", source, seconds)
