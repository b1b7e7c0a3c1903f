"""``/graphql``: GraphQL over HTTP, with the response cache in front and the GraphiQL page for browsers.

    request -> parameters (graphql_http) -> persisted query -> response cache
            -> prepare (cached parse + validate) -> context (per operation) -> execute
            -> errors coded -> encode -> Cache-Control / ETag / trace -> response cache

A plain ASGI endpoint: every request, however malformed, gets a JSON answer in the shape of a
GraphQL response, each error with ``extensions.code``, and its ``X-Request-Id``.

What operators see of each operation is reported here: the metrics (operations, response cache
lookups, budget refusals), its log line (``logs.report_operation``), its span when tracing is on, and
the ftv1 trace a federation router asks for (``ftv1.FieldTracer``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from logging import DEBUG, INFO
from typing import TYPE_CHECKING, Any

import orjson
from graphql import ExecutionResult
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import INTERNAL_MESSAGE, forget_tracebacks, graphql_error, request_error
from gateway.execution import is_query
from gateway.http.exchange import Incoming, Outgoing, answered, errors_only, kept_answer
from gateway.http.params import (
    ClientGone,
    GraphQLParams,
    RequestError,
    from_body,
    from_query_string,
    read_body,
    wants_graphql_response,
)
from gateway.http.persisted import PersistedQueryNotFound
from gateway.telemetry.ftv1 import FieldTracer
from gateway.telemetry.logs import REQUEST_ID, log_operation, operation_log, report_operation, request_id
from gateway.telemetry.tracing import answered_from_cache, operation_span, trace_id

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from gateway.context import GatewayContext
    from gateway.services import Services

log = logging.getLogger("gateway.http.view")

TRACE_HEADER = "x-stats-trace"
RESPONSE = "RESPONSE"  # the response cache, as a source of the cache lookup metrics


class GraphQLView:
    """The ASGI endpoint. ``services`` is read per request: the lifespan makes them after routing."""

    def __init__(
        self,
        services: Callable[[], Services],
        today: Callable[[], date],
        *,
        graphiql_page: str | None,
        vary: str = "Authorization, X-Figshare-Authorization",
        tracer: Tracer | None = None,
    ) -> None:
        self.services = services
        self.today = today
        self.page = None if graphiql_page is None else graphiql_page.encode()
        self.vary = vary.encode()
        self.tracer = tracer  # None: tracing is off, and no span is made
        self.trace_id = None if tracer is None else trace_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Behind Starlette's routing (browsers' requests): the front door adds X-Request-Id."""
        await self.answer(scope, receive, send, None)

    async def answer(self, scope: Scope, receive: Receive, send: Send, request_id: str | None) -> None:
        """Answer one request; ``request_id``, when given, goes back in ``X-Request-Id``."""
        incoming = Incoming.of(scope)
        graphql_response = wants_graphql_response(incoming.accept)
        try:
            outgoing = await self._answer(scope, receive, incoming, graphql_response)
        except ClientGone:
            return
        except RequestError as exc:
            headers = [(k.lower().encode(), v.encode()) for k, v in exc.headers]
            outgoing = errors_only(exc.status, [request_error(exc.message, exc.code)], headers)
            if operation_log.isEnabledFor(INFO):
                log_operation(INFO, kind="request", outcome="error", seconds=0.0, errors=[exc.code])
        except Exception:
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            outgoing = errors_only(500, [request_error(INTERNAL_MESSAGE, "INTERNAL_SERVER_ERROR")])
        if graphql_response:
            await outgoing.send(send, b"application/graphql-response+json; charset=utf-8", request_id)
        else:
            await outgoing.send(send, b"application/json", request_id)

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
            message = f"{method} is not served here: use POST, or GET for queries."
            raise RequestError(405, message, headers=(("Allow", "GET, POST"),))
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
            return errors_only(200, [request_error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")])
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
        # Traced answers are made afresh: they say what this request did.
        responses = None if incoming.trace or incoming.ftv1 else services.responses
        slot = None
        if responses is not None:
            slot = responses.slot(query, name, variables, scope)
            kept = await responses.lookup(slot)
            services.metrics.cache_lookup(RESPONSE, "miss" if kept is None else "hit")
            if kept is not None:
                report_operation(
                    services.metrics,
                    DEBUG,
                    "ok",
                    started,
                    name=name,
                    calls=[(RESPONSE, "hit")],
                    trace_id=self.trace_id,
                )
                if self.tracer is not None:
                    answered_from_cache()
                return kept_answer(kept, self.vary).unchanged(incoming)

        fields = FieldTracer() if incoming.ftv1 else None
        prepared = await services.executor.prepared(query)
        operation = prepared.operation(name)
        if method == "GET" and operation is not None and not is_query(operation):
            # Known from the parsed document, even where validation fails (there is no Mutation).
            raise RequestError(
                405, "Only queries are served over GET: use POST.", headers=(("Allow", "POST"),)
            )
        if prepared.errors or operation is None:
            errors = [dict(e.formatted) for e in prepared.errors]
            errors = errors or [request_error(prepared.no_operation(name), "BAD_REQUEST")]
            report_operation(
                services.metrics, INFO, "error", started, name=name, errors=errors, trace_id=self.trace_id
            )
            return errors_only(400 if graphql_response else 200, errors)

        context = services.contexts(caller, self.today())
        middleware = None if fields is None else (fields,)
        with operation_span(self.tracer, operation, context.calls):
            result = services.executor.execute(prepared, variables, name, context, middleware)
            if not isinstance(result, ExecutionResult):
                result = await result
        outgoing, keep, errors = self._encode(result, context, incoming, graphql_response, fields)
        if result.errors:
            forget_tracebacks(result.errors)
        report_operation(
            services.metrics,
            INFO,
            "error" if result.data is None else "partial" if result.errors else "ok",
            started,
            name=operation.name.value if operation.name else None,
            kind=operation.operation.value,
            calls=[(r.source, r.outcome) for r in context.calls.records],
            errors=errors,
            refusals=context.calls.refusals,
            trace_id=self.trace_id,
        )
        if keep and responses is not None and slot is not None:
            await responses.store(
                slot,
                body=outgoing.body,
                etag=outgoing.etag() or "",  # private answers carry none, kept or not
                ttl=context.calls.ttl_left(),
                consulted_credentials=context.calls.consulted_credentials,
            )
        return outgoing.unchanged(incoming)

    def _encode(
        self,
        result: ExecutionResult,
        context: GatewayContext,
        incoming: Incoming,
        graphql_response: bool,
        fields: FieldTracer | None,
    ) -> tuple[Outgoing, bool, list[dict[str, Any]]]:
        """The response, whether the response cache may keep it, and its errors."""
        calls = context.calls
        out: dict[str, Any] = {}
        errors = [dict(graphql_error(e).formatted) for e in result.errors or ()]
        if errors:
            out["errors"] = errors
        out["data"] = result.data
        stale = calls.stale
        extensions: dict[str, Any] = {}
        if stale:
            # Said without being asked: part of this answer is an expired copy, served because its
            # upstream failed just now.
            extensions["stale"] = [{"source": r.source, "ageSeconds": round(r.age_s, 3)} for r in stale]
        if incoming.trace:
            extensions["statsTrace"] = calls.trace()
        if fields is not None:
            extensions["ftv1"] = fields.encode(errors)
        if extensions:
            out["extensions"] = extensions
        body = orjson.dumps(out)
        status = 200 if result.data is not None or not graphql_response else 400
        failed = bool(result.errors) or not calls.records
        outgoing = answered(
            status,
            body,
            self.vary,
            failed=failed,
            private=calls.credentialed,
            stale=bool(stale),
            max_age=calls.ttl_left(),
        )
        keep = not failed and not stale and not incoming.trace and fields is None
        return outgoing, keep, errors


class Entry:
    """The app's front door: GraphQL requests without an ``Origin`` go straight to the view.

    Starlette's router and middleware (CORS, error pages) cost a tenth of a cached answer; only
    browsers need CORS, and they always send ``Origin``. Every HTTP request gets its id here (the
    caller's ``X-Request-Id`` or a new one), for its log lines and its response.
    """

    def __init__(self, app: ASGIApp, view: GraphQLView) -> None:
        self.app = app
        self.view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        browser = False
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value
            elif name == b"origin":
                browser = True
        rid = request_id(given)
        REQUEST_ID.set(rid)
        if scope["path"] == "/graphql" and not browser:
            await self.view.answer(scope, receive, send, rid)
            return
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
