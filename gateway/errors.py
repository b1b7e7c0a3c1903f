"""The gateway's error tree, its GraphQL codes, and the translations into it.

Everything that can go wrong is translated into this tree where it crosses a boundary: transport
failures in ``from_transport`` (most specific first, chained with ``from``), upstream statuses in
``from_status``, and every error of a GraphQL result in ``graphql_error`` (codes for graphql-core's
own errors, a mask over anything unexpected), and parse and validation errors in
``validation_error``. Messages are written for the caller and never hold a credential.

    GatewayError
      BadUserInput            arguments the upstream would reject; raised before any request
      Unauthenticated         a credential is needed and the request carries none (or a bad one)
      BudgetExceeded          the operation needs more upstream requests than it may make
      UpstreamError           something went wrong at an upstream (carries ``source``)
        UpstreamRejectedInput the upstream answered 400 (BAD_USER_INPUT)
        Forbidden             the upstream refused the credential
        NotFound              the upstream says the thing does not exist
        UpstreamTimeout       no answer within the deadline
        UpstreamUnavailable   connection failed, 5xx, 429, paused after a 429, or circuit open
        UpstreamBadResponse   a body the gateway cannot read
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

import httpx
from graphql import GraphQLError, GraphQLSyntaxError

log = logging.getLogger("gateway.errors")

INTERNAL_MESSAGE = "Internal server error."


class GatewayError(Exception):
    """An error the caller should see, with its code and optional extensions."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, *, source: str | None = None, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.extra = extensions

    @property
    def extensions(self) -> dict[str, Any]:
        ext: dict[str, Any] = {"code": self.code}
        if self.source is not None:
            ext["source"] = self.source
        ext.update(self.extra)
        return ext


class BadUserInput(GatewayError):
    code = "BAD_USER_INPUT"


class Unauthenticated(GatewayError):
    code = "UNAUTHENTICATED"


class BudgetExceeded(GatewayError):
    """The field's upstream requests would take the operation past its call budget."""

    code = "UPSTREAM_BUDGET_EXCEEDED"

    def __init__(self, budget: int, needed: int) -> None:
        super().__init__(
            f"This field needs {needed} more upstream request(s), past the operation's budget of "
            f"{budget} (GATEWAY_MAX_UPSTREAM_CALLS): ask for fewer items, aliases or a shorter window.",
            budget=budget,
        )


class UpstreamError(GatewayError):
    """A failure that came from (or on the way to) an upstream service."""

    code = "UPSTREAM_UNAVAILABLE"
    # Worth answering with an expired copy, and worth a retry: no real answer came.
    transient = False

    def __init__(self, message: str, *, source: str, status: int | None = None, **extensions: Any) -> None:
        if status is not None:
            extensions["upstreamStatus"] = status
        super().__init__(message, source=source, **extensions)
        self.status = status


class UpstreamRejectedInput(UpstreamError):
    """The upstream answered 400: the caller's arguments, though the gateway's checks passed."""

    code = "BAD_USER_INPUT"


class Forbidden(UpstreamError):
    code = "FORBIDDEN"


class NotFound(UpstreamError):
    code = "NOT_FOUND"


class UpstreamTimeout(UpstreamError):
    code = "UPSTREAM_TIMEOUT"
    transient = True


class UpstreamUnavailable(UpstreamError):
    """``retryable``: worth asking again within the deadline (no answer, 429, 502-504)."""

    code = "UPSTREAM_UNAVAILABLE"
    transient = True

    def __init__(
        self,
        message: str,
        *,
        source: str,
        status: int | None = None,
        retry_after_s: float | None = None,
        retryable: bool = False,
        **extensions: Any,
    ) -> None:
        if retry_after_s is not None:
            extensions["retryAfter"] = max(1, math.ceil(retry_after_s))  # never earlier than asked
        super().__init__(message, source=source, status=status, **extensions)
        self.retry_after_s = retry_after_s
        self.retryable = retryable


class UpstreamBadResponse(UpstreamError):
    code = "UPSTREAM_BAD_RESPONSE"
    transient = True


# ---------------------------------------------------------------------- translations


def from_transport(exc: Exception, source: str, timeout_s: float) -> UpstreamError:
    """An exception raised while sending, as the gateway's error (chain it with ``from``)."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return UpstreamTimeout(f"{source} did not answer within {timeout_s:g} s.", source=source)
    reason = "refused the connection" if isinstance(exc, httpx.ConnectError) else "dropped the connection"
    return UpstreamUnavailable(f"{source} could not be reached (it {reason}).", source=source, retryable=True)


def from_status(
    source: str, status: int, said: str | None, *, retry_after_s: float | None = None
) -> UpstreamError:
    """An upstream's error status, most specific first; ``said`` is its own message, if any."""
    detail = f": {said}" if said else "."
    if status == 400:
        return UpstreamRejectedInput(f"{source} rejected the arguments{detail}", source=source, status=status)
    if status in (401, 403):
        return Forbidden(f"{source} refused the credentials{detail}", source=source, status=status)
    if status == 404:
        return NotFound(f"{source} has no such resource{detail}", source=source, status=status)
    if status == 429 or status >= 500:
        what = "is rate limiting" if status == 429 else f"failed with status {status}"
        return UpstreamUnavailable(
            f"{source} {what}.",
            source=source,
            status=status,
            retry_after_s=retry_after_s,
            retryable=status in (429, 502, 503, 504),
        )
    return UpstreamBadResponse(
        f"{source} answered with unexpected status {status}.", source=source, status=status
    )


# Longest message an error repeats of what the caller sent (a literal may be thousands of digits).
MAX_MESSAGE = 300


def clipped(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "\u2026"


def coded(error: GraphQLError, code: str, message: str | None = None) -> GraphQLError:
    """``error`` with ``code``, its message clipped; the exception it wrapped is dropped."""
    return GraphQLError(
        clipped(error.message if message is None else message),
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**(error.extensions or {}), "code": code},
    )


def validation_error(error: GraphQLError) -> GraphQLError:
    """An error of parsing or validation: always the document's fault, never the gateway's."""
    if error.extensions and "code" in error.extensions:
        return error
    if isinstance(error, GraphQLSyntaxError) or error.message.startswith("Syntax Error"):
        return coded(error, "GRAPHQL_PARSE_FAILED")
    return coded(error, "GRAPHQL_VALIDATION_FAILED")


def graphql_error(error: GraphQLError) -> GraphQLError:
    """An error of execution with its ``extensions.code``; anything unexpected masked, logged once."""
    original = error.original_error
    if isinstance(original, GatewayError):
        return GraphQLError(
            original.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=original,
            extensions=original.extensions,
        )
    if isinstance(original, GraphQLError):
        if original.original_error is not None or (original.extensions and "code" in original.extensions):
            return graphql_error(original)
        original = None  # graphql-core's own, raised while a field ran: judged by its wording below
    if original is None:
        if error.extensions and "code" in error.extensions:
            return error
        if error.message.startswith(("Variable '$", "Argument '")):
            # Variables or arguments that do not fit their types (graphql-core checks them itself).
            return coded(error, "BAD_USER_INPUT")
        if error.path is None:
            return validation_error(error)
        # A field's result the schema does not allow (a null for a non-null field...): a bug here.
        log.error("invalid result at %s: %s", error.path, error.message)
    else:
        log.error("unexpected error at %s", error.path, exc_info=original)
    return GraphQLError(
        INTERNAL_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR"},
    )


def request_error(message: str, code: str) -> dict[str, Any]:
    """An error about the HTTP request itself, in the shape of a GraphQL error."""
    return {"message": message, "extensions": {"code": code}}


def forget_tracebacks(errors: Iterable[BaseException]) -> None:
    """Drop the tracebacks of errors that have been answered.

    A field's error keeps the frames it was raised through, and the frame that caught it keeps the
    error: a reference cycle that only the garbage collector frees. An operation with 150 refused
    fields left that many cycles behind it; without them, the errors are freed with the response.
    """
    for error in errors:
        link: BaseException | None = error
        for _ in range(8):  # the chain of causes is short; a bound all the same, as causes may loop
            if link is None:
                break
            link.__traceback__ = None
            link = getattr(link, "original_error", None) or link.__cause__
