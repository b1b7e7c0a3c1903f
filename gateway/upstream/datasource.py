"""Per-operation data sources, the shape of datasource-rest's ``RESTDataSource``.

A subclass per upstream (``ErasAPI``, ``FigshareAPI``) is made for each operation in
``context.py``. It holds what belongs to the caller (their credentials, the operation's call log,
today) and offers typed methods that build a request, fetch it and read the answer in one call.
The process-wide part of each call (cache, single-flight, retries, breaker) is its ``Upstream``.

    typed method -> forwarding (auth.py) -> budget -> memo -> Upstream.fetch -> parse_body -> read
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from typing import Any, ClassVar

import orjson

from gateway.auth import Access, Auth, CallerCredentials, Forwarding
from gateway.errors import UpstreamBadResponse, UpstreamError, from_status
from gateway.upstream.calls import CallLog, CallRecord, UpstreamRequest, settling
from gateway.upstream.client import Upstream

Path = list[str | int]
Paths = Sequence[Sequence[Path]]  # for each request, the fields it serves


class DataSource:
    """One upstream, as one operation sees it. Subclasses set ``source`` and add typed methods."""

    source: ClassVar[str] = "UPSTREAM"
    # Where the upstream's error bodies hold its own message: {"<message_key>": "..."}.
    message_key: ClassVar[str] = "message"
    # The settings that configure this upstream are named ``<settings_prefix>_url`` and so on.
    settings_prefix: ClassVar[str] = ""

    def __init__(
        self, upstream: Upstream, auth: Auth, caller: CallerCredentials, calls: CallLog, today: date
    ) -> None:
        self.upstream = upstream
        self.auth = auth
        self.caller = caller
        self.calls = calls
        self.today = today
        self._forwarded: dict[Access, Forwarding] = {}

    def forwarding(self, access: Access, what: str) -> Forwarding:
        """What of the caller's credential goes with a request to a route of ``access``.

        The same for every request of this operation to routes of that access: made once (its
        scope is an HMAC of the credential), as a failure (UNAUTHENTICATED) is raised each time."""
        if access is not Access.PUBLIC:
            self.calls.consulted_credentials = True
        found = self._forwarded.get(access)
        if found is None:
            found = self._forwarded[access] = self.auth.forwarding(
                self.source, access, self.caller, what=what
            )
        return found

    async def fetch(self, request: UpstreamRequest, path: Path | None = None) -> Any:
        """The parsed answer to ``request`` (which serves the field at ``path``), budgeted."""
        key = self.upstream.cache_key(request)
        self.calls.reserve((key,))
        return await self._shared(request, key, () if path is None else (path,))

    async def fetch_all(
        self,
        requests: Sequence[UpstreamRequest],
        paths: Paths | None = None,
        *,
        return_exceptions: bool = False,
        detached: bool = False,
    ) -> list[Any]:
        """Answers to all ``requests`` (one field's), budgeted together: all are sent or none.

        ``paths[i]`` are the fields request ``i`` serves. ``detached``: the caller runs in a task
        no client's request owns (a DataLoader's batch), see ``Upstream.fetch``.
        """
        keys = [self.upstream.cache_key(r) for r in requests]
        self.calls.reserve(keys)
        served = paths or [()] * len(requests)
        if len(requests) == 1:  # no gather, no task: most fields need one request
            try:
                return [await self._shared(requests[0], keys[0], served[0], detached)]
            except Exception as exc:
                if return_exceptions:
                    return [exc]
                raise
        # gather runs each in a task of its own, which the caller's cancellation cancels.
        answers = await asyncio.gather(
            *(self._shared(r, k, p) for r, k, p in zip(requests, keys, served, strict=True)),
            return_exceptions=return_exceptions,
        )
        return list(answers)

    async def _shared(
        self, request: UpstreamRequest, key: str, paths: Sequence[Path], detached: bool = False
    ) -> Any:
        """Identical requests of one operation are made (and read) once: the first asker fetches."""
        for path in paths:
            self.calls.served(key, path)
        shared = self.calls.memo.get(key)
        if shared is not None:
            return await asyncio.shield(shared)  # one asker going away leaves it to the others
        shared = self.calls.memo[key] = asyncio.get_running_loop().create_future()
        return await settling(shared, self._load(request, key, detached))

    async def _load(self, request: UpstreamRequest, key: str, detached: bool = False) -> Any:
        answer = await self.upstream.fetch(request, key, self, detached=detached)
        now = self.upstream.cache.clock()
        self.calls.add(
            CallRecord(
                source=self.source,
                method=request.method,
                target=request.target,
                outcome=answer.outcome,
                age_s=answer.entry.age(now),
                ttl_left_s=answer.entry.remaining(now),
                credentialed=request.forwarding.credentialed,
                key=key,
            )
        )
        return self.parse_body(answer.body) if answer.value is None else answer.value

    # ------------------------------------------------------------------ hooks

    def parse_body(self, body: bytes) -> Any:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamBadResponse(
                f"{self.source} answered with a body that is not JSON.", source=self.source
            ) from None

    def error_message(self, body: bytes) -> str | None:
        """The upstream's own error text, if its body has one."""
        try:
            said = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        text = said.get(self.message_key) if isinstance(said, dict) else None
        return text if isinstance(text, str) else None

    def error_from_response(
        self, request: UpstreamRequest, status: int, body: bytes, retry_after_s: float | None
    ) -> UpstreamError:
        return from_status(self.source, status, self.error_message(body), retry_after_s=retry_after_s)
