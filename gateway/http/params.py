"""GraphQL over HTTP: a request's parameters from a POST body or a GET query string.

Whatever arrives, the caller gets an answer in the shape of a GraphQL response: anything that is
not a well-formed GraphQL-over-HTTP request raises ``RequestError`` with its HTTP status, a code
and a message saying what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive

JSON_TYPES = ("application/json", "application/graphql-response+json")
# How deep ``variables`` and ``extensions`` may nest: the schema's inputs nest a few levels, and
# what the gateway does with them (cache keys, coercion) must never meet a recursion limit.
MAX_NESTING = 32


class ClientGone(Exception):
    """The client disconnected before its request arrived whole."""


class RequestError(Exception):
    """The HTTP request is not one the gateway can run."""

    def __init__(
        self, status: int, message: str, code: str = "BAD_REQUEST", headers: tuple[tuple[str, str], ...] = ()
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers


# Not frozen (one per request; frozen sets each field through object.__setattr__). Never changed.
@dataclass(slots=True)
class GraphQLParams:
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


def _field(data: dict[str, Any], name: str, kind: type, what: str) -> Any:
    value = data.get(name)
    if value is not None and not isinstance(value, kind):
        raise RequestError(400, f"'{name}' must be {what}.")
    if isinstance(value, dict) and _deeper_than(value, MAX_NESTING):
        raise RequestError(400, f"'{name}' nests deeper than {MAX_NESTING} levels.")
    return value


def _deeper_than(value: object, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) nests deeper than ``limit`` objects and arrays."""
    level: list[object] = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item if isinstance(item, list) else ())
        ]
        if not level:
            return False
    return any(isinstance(item, dict | list) for item in level)


def _params(data: dict[str, Any]) -> GraphQLParams:
    return GraphQLParams(
        query=_field(data, "query", str, "a string holding a GraphQL document"),
        variables=_field(data, "variables", dict, "an object"),
        operation_name=_field(data, "operationName", str, "a string"),
        extensions=_field(data, "extensions", dict, "an object"),
    )


async def read_body(receive: Receive, content_length: int, limit: int) -> bytes:
    """The whole body, within ``limit`` bytes (413 otherwise). The server bounds how long it takes."""
    if content_length > limit:
        raise RequestError(413, f"The body is larger than {limit} bytes (GATEWAY_MAX_BODY_BYTES).")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"The body is larger than {limit} bytes (GATEWAY_MAX_BODY_BYTES).")
        if not message.get("more_body", False):
            if not chunks:
                return chunk
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


def from_body(body: bytes, content_type: str) -> GraphQLParams:
    """The parameters of a POST: a JSON object ``{query, variables, operationName, extensions}``."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in ("application/json", "application/graphql+json"):
        raise RequestError(
            415,
            f"POST bodies must be application/json, not {media or 'unspecified'!r}.",
            headers=(("Accept-Post", "application/json"),),
        )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        reason = f"{exc.msg} at position {exc.pos}"
        raise RequestError(400, f"The body is not JSON the gateway can read ({reason}).") from None
    if isinstance(data, list):
        raise RequestError(
            400, "Batched requests (a JSON array) are not supported: send one operation per request."
        )
    if not isinstance(data, dict):
        raise RequestError(
            400, "The body must be a JSON object with a 'query' (or a persisted query's hash)."
        )
    return _params(data)


def from_query_string(raw: bytes) -> GraphQLParams:
    """The parameters of a GET: ``query``, and ``variables``/``extensions`` as JSON text."""
    try:
        pairs = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise RequestError(400, "The query string is not valid UTF-8.") from None
    data: dict[str, Any] = {
        "query": pairs.get("query") or None,
        "operationName": pairs.get("operationName") or None,
    }
    for name in ("variables", "extensions"):
        text = pairs.get(name)
        if text:
            try:
                data[name] = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise RequestError(400, f"'{name}' in the query string is not valid JSON.") from None
    return _params(data)


def wants_graphql_response(accept: str) -> bool:
    """Whether the client asked for ``application/graphql-response+json`` (statuses then say more)."""
    return "application/graphql-response+json" in accept
