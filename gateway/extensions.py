"""Schema extensions: cross-cutting work kept out of resolvers.

``ErrorCodes`` gives every error its ``extensions.code`` (and ``source`` for upstream failures) and
masks anything unexpected as INTERNAL_SERVER_ERROR with no internals in the message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension

from gateway.errors import GatewayError

log = logging.getLogger("gateway.errors")

INTERNAL_MESSAGE = "Internal server error."


# graphql-core's wording for argument and variable values the schema does not accept.
_BAD_VALUE_HINTS = (
    "Variable",
    "does not exist in",
    "Expected value of type",
    "got invalid value",
    "cannot represent",
    "Int cannot",
    "Boolean cannot",
    "of required type",
)


def _is_bad_value(message: str) -> bool:
    return any(hint in message for hint in _BAD_VALUE_HINTS)


def _coded(error: GraphQLError) -> GraphQLError:
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
    if original is None:
        # Raised by graphql-core itself: a document or variables the schema does not accept.
        if error.extensions and "code" in error.extensions:
            return error
        code = "BAD_USER_INPUT" if _is_bad_value(error.message) else "GRAPHQL_VALIDATION_FAILED"
        if error.path is None and error.message.startswith("Syntax Error"):
            code = "GRAPHQL_PARSE_FAILED"
        error.extensions = {**(error.extensions or {}), "code": code}
        return error
    if isinstance(original, GraphQLError):
        return _coded(original)
    log.error("unexpected error at %s", error.path, exc_info=original)
    return GraphQLError(
        INTERNAL_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR"},
    )


class ErrorCodes(SchemaExtension):
    """Map the gateway's errors to GraphQL codes; mask the rest."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [_coded(e) for e in result.errors]
