"""``/graphql``: GraphQL over HTTP, with the response cache in front and the GraphiQL page for browsers.

    request -> parameters (graphql_http) -> persisted query -> response cache
            -> prepare (cached parse + validate) -> context (per operation) -> execute
            -> errors coded -> encode -> Cache-Control / ETag / trace -> response cache

A plain ASGI endpoint: every request, however malformed, gets a JSON answer in the shape of a
GraphQL response, each error with ``extensions.code``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import orjson
from graphql import ExecutionResult
from starlette.types import Receive, Scope, Send

from gateway.errors import INTERNAL_MESSAGE, graphql_error, request_error
from gateway.execution import is_query
from gateway.graphql_http import (
    ClientGone,
    GraphQLParams,
    RequestError,
    from_body,
    from_query_string,
    read_body,
    wants_graphql_response,
)
from gateway.persisted import PersistedQueryNotFound
from gateway.response_cache import Kept, etag_of

if TYPE_CHECKING:
    from gateway.context import GatewayContext
    from gateway.services import Services

log = logging.getLogger("gateway.view")

TRACE_HEADER = "x-stats-trace"
STALE_WARNING = b'110 stats-gateway "Response is Stale"'


@dataclass(slots=True)
class Incoming:
    """What the view reads of a request's headers, in one pass."""

    headers: list[tuple[bytes, bytes]]
    content_type: str = ""
    content_length: int = -1
    accept: str = ""
    if_none_match: str = ""
    trace: bool = False

    @classmethod
    def of(cls, scope: Scope) -> Incoming:
        incoming = cls(scope["headers"])
        for name, value in incoming.headers:
            if name == b"content-type":
                incoming.content_type = value.decode("latin-1")
            elif name == b"content-length":
                incoming.content_length = int(value) if value.isdigit() else -1
            elif name == b"accept":
                incoming.accept = value.decode("latin-1")
            elif name == b"if-none-match":
                incoming.if_none_match = value.decode("latin-1")
            elif name == b"x-stats-trace":
                incoming.trace = value.strip() in (b"1", b"true")
        return incoming


@dataclass(slots=True)
class Outgoing:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]
    content_type: bytes | None = None  # None: JSON, of the media type the client asked for

    async def send(self, send: Send, content_type: bytes) -> None:
        headers = [
            (b"content-type", self.content_type or content_type),
            (b"content-length", str(len(self.body)).encode()),
            *self.headers,
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})

    def unchanged(self, incoming: Incoming) -> Outgoing:
        """304 when the client holds this answer already (its ETag matches)."""
        etag = next((v for k, v in self.headers if k == b"etag"), None)
        if etag is not None and incoming.if_none_match and etag.decode() in incoming.if_none_match:
            return Outgoing(304, b"", self.headers)
        return self


def _errors_only(
    status: int, errors: list[dict[str, Any]], headers: list[tuple[bytes, bytes]] | None = None
) -> Outgoing:
    return Outgoing(
        status, orjson.dumps({"errors": errors}), [(b"cache-control", b"no-store"), *(headers or [])]
    )


class GraphQLView:
    """The ASGI endpoint. ``services`` is read per request: the lifespan makes them after routing."""

    def __init__(
        self,
        services: Callable[[], Services],
        today: Callable[[], date],
        *,
        graphiql_page: str | None,
        vary: str = "Authorization, X-Figshare-Authorization",
    ) -> None:
        self.services = services
        self.today = today
        self.page = None if graphiql_page is None else graphiql_page.encode()
        self.vary = vary.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = Incoming.of(scope)
        graphql_response = wants_graphql_response(incoming.accept)
        try:
            outgoing = await self._answer(scope, receive, incoming, graphql_response)
        except ClientGone:
            return
        except RequestError as exc:
            headers = [(k.lower().encode(), v.encode()) for k, v in exc.headers]
            outgoing = _errors_only(exc.status, [request_error(exc.message, exc.code)], headers)
        except Exception:
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            outgoing = _errors_only(500, [request_error(INTERNAL_MESSAGE, "INTERNAL_SERVER_ERROR")])
        if graphql_response:
            await outgoing.send(send, b"application/graphql-response+json; charset=utf-8")
        else:
            await outgoing.send(send, b"application/json")

    async def _answer(
        self, scope: Scope, receive: Receive, incoming: Incoming, graphql_response: bool
    ) -> Outgoing:
        services = self.services()
        settings = services.settings
        method = scope["method"]
        if method == "POST":
            body = await read_body(receive, incoming.content_length, settings.max_body_bytes)
            params = from_body(body, incoming.content_type)
        elif method == "GET":
            params = from_query_string(scope["query_string"])
            if (
                params.query is None
                and params.extensions is None
                and self.page is not None
                and "text/html" in incoming.accept
            ):
                return Outgoing(
                    200, self.page, [(b"cache-control", b"no-cache")], b"text/html; charset=utf-8"
                )
        else:
            raise RequestError(
                405,
                f"{method} is not served here: use POST, or GET for queries.",
                headers=(("Allow", "GET, POST"),),
            )
        return await self._run(services, method, params, incoming, graphql_response)

    async def _run(
        self,
        services: Services,
        method: str,
        params: GraphQLParams,
        incoming: Incoming,
        graphql_response: bool,
    ) -> Outgoing:
        started = time.perf_counter()
        try:
            query = await services.persisted.resolve(params)
        except PersistedQueryNotFound:
            return _errors_only(200, [request_error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")])
        if query is None:
            raise RequestError(400, "The request has no query: send 'query' (or a persisted query's hash).")
        limit = services.settings.max_query_bytes
        if len(query) > limit and len(query.encode()) > limit:
            raise RequestError(
                413, f"The query is longer than {limit} bytes (GATEWAY_MAX_QUERY_BYTES).", "BAD_REQUEST"
            )
        caller = services.auth.read(incoming.headers)
        scope = services.auth.caller_scope(caller)
        variables, name = params.variables, params.operation_name
        responses = None if incoming.trace else services.responses
        if responses is not None:
            kept = await responses.lookup(query, name, variables, scope)
            if kept is not None:
                services.metrics.operation("ok", time.perf_counter() - started)
                return self._kept(kept).unchanged(incoming)

        prepared = services.executor.prepare(query)
        operation = prepared.operation(name)
        if method == "GET" and operation is not None and not is_query(operation):
            # Known from the parsed document, even where validation fails (there is no Mutation).
            raise RequestError(
                405, "Only queries are served over GET: use POST.", headers=(("Allow", "POST"),)
            )
        if prepared.errors or operation is None:
            services.metrics.operation("error", time.perf_counter() - started)
            errors = [dict(e.formatted) for e in prepared.errors]
            return _errors_only(
                400 if graphql_response else 200,
                errors or [request_error(prepared.no_operation(name), "BAD_REQUEST")],
            )

        context = services.contexts(caller, self.today())
        result = services.executor.execute(prepared, variables, name, context)
        if not isinstance(result, ExecutionResult):
            result = await result
        outgoing, keep = self._encode(result, context, incoming, graphql_response)
        outcome = "error" if result.data is None else "partial" if result.errors else "ok"
        services.metrics.operation(outcome, time.perf_counter() - started)
        if keep and responses is not None:
            await responses.store(
                query,
                name,
                variables,
                scope,
                body=outgoing.body,
                etag=etag_of(outgoing.body),
                ttl=context.calls.ttl_left(),
                consulted_credentials=context.calls.consulted_credentials,
            )
        return outgoing.unchanged(incoming)

    def _encode(
        self, result: ExecutionResult, context: GatewayContext, incoming: Incoming, graphql_response: bool
    ) -> tuple[Outgoing, bool]:
        """The response, and whether the response cache may keep it."""
        calls = context.calls
        out: dict[str, Any] = {}
        if result.errors:
            out["errors"] = [dict(graphql_error(e).formatted) for e in result.errors]
        out["data"] = result.data
        stale = calls.stale
        extensions: dict[str, Any] = {}
        if stale:
            # Said without being asked: part of this answer is an expired copy, served because its
            # upstream failed just now.
            extensions["stale"] = [{"source": r.source, "ageSeconds": round(r.age_s, 3)} for r in stale]
        if incoming.trace:
            extensions["statsTrace"] = calls.trace()
        if extensions:
            out["extensions"] = extensions
        body = orjson.dumps(out)
        status = 200 if result.data is not None or not graphql_response else 400
        headers = [(b"vary", self.vary)]
        if result.errors or not calls.records:
            headers.append((b"cache-control", b"no-store"))
            return Outgoing(status, body, headers), False
        keep = not stale and not incoming.trace
        if stale:
            headers.append((b"warning", STALE_WARNING))
        if calls.credentialed:
            headers.append((b"cache-control", b"private, no-store"))
        elif stale:
            headers.append((b"cache-control", b"public, max-age=0"))
        else:
            max_age = int(max(0.0, calls.ttl_left()))
            headers += [
                (b"cache-control", f"public, max-age={max_age}".encode()),
                (b"etag", etag_of(body).encode()),
            ]
        return Outgoing(status, body, headers), keep

    def _kept(self, kept: Kept) -> Outgoing:
        """An answer from the response cache; ``Age`` says how old it is (and that it was kept)."""
        headers = [(b"vary", self.vary), (b"age", str(kept.age).encode())]
        if kept.private:
            headers.append((b"cache-control", b"private, no-store"))
        else:
            headers.append((b"cache-control", f"public, max-age={kept.max_age}".encode()))
            headers.append((b"etag", kept.etag.encode()))
        return Outgoing(200, kept.body, headers)
