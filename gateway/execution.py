"""Parse, validate and execute GraphQL documents on the Strawberry schema, with caches that hit.

Strawberry builds the schema (types, federation, resolvers); the gateway drives graphql-core
itself, so that parsing and validation are cached per document text with rules made once (the
depth and alias limits included; Strawberry's limiter extensions make new rule classes per
request, so its validation cache could never hit), and so that nothing runs per request that the
gateway does not need.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import strawberry
from graphql import (
    ASTValidationRule,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValuesOfCorrectTypeRule,
    execute,
    parse,
    specified_rules,
    validate,
)
from graphql.validation.validate import ValidationAbortedError
from strawberry.execution import optimized_is_awaitable

from gateway.documents import DocumentCache, IndexedSource, Prepared, fields_fixed, unlink_tokens
from gateway.errors import coded, validation_error

# graphql-core stops validating after this many errors; its own message then gives no reason.
MAX_VALIDATION_ERRORS = 100
# Preparing a document costs a few ms per KB of its text (validation grows faster than its size in
# the worst cases): a longer document new to the cache is prepared off the event loop.
PREPARE_ON_LOOP_CHARS = 2048


def _depth_limit(max_depth: int) -> type[ASTValidationRule]:
    class DepthLimit(ASTValidationRule):
        """No operation selects deeper than ``max_depth`` fields (fragments followed)."""

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments = {
                d.name.value: d
                for d in self.context.document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            depth = _depth(node.selection_set, fragments, frozenset())
            if depth > max_depth:
                name = node.name.value if node.name else "anonymous"
                self.report_error(
                    GraphQLError(
                        f"Operation '{name}' is {depth} fields deep; at most {max_depth} are allowed "
                        "(GATEWAY_MAX_DEPTH).",
                        node,
                    )
                )

    return DepthLimit


def _depth(
    selections: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode], seen: frozenset[str]
) -> int:
    if selections is None:
        return 0
    deepest = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value.startswith("__"):
                continue  # introspection (GraphiQL's schema query) costs nothing upstream
            deepest = max(deepest, 1 + _depth(selection.selection_set, fragments, seen))
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(deepest, _depth(selection.selection_set, fragments, seen))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:  # cycles are another rule's business
                deepest = max(deepest, _depth(fragment.selection_set, fragments, seen | {name}))
    return deepest


def _explained(error: GraphQLError) -> GraphQLError:
    """graphql-core's "Validation aborted." with the reason it was aborted for."""
    if not isinstance(error, ValidationAbortedError):
        return error
    if "error limit" in error.message:
        return GraphQLError(
            f"Validation stopped after {MAX_VALIDATION_ERRORS} errors: mend these, then try again."
        )
    # Its budget of field comparisons or fragment spreads ran out (or its recursion did).
    return GraphQLError(
        "The document is too costly to validate: it selects too many fields side by side, or spreads "
        "fragments too often. Split it into smaller operations."
    )


class ValuesOfCorrectType(ValuesOfCorrectTypeRule):
    """graphql-core's check of literal argument values, its errors coded BAD_USER_INPUT.

    A literal a scalar cannot even parse (an integer past Python's conversion limit) is the
    caller's mistake too: Python's own wording is left out, and the echoed value clipped.
    """

    def report_error(self, error: GraphQLError) -> None:
        message = error.message
        if error.original_error is not None:
            message = _ENCOUNTERED.sub(", found", message)
        super().report_error(coded(error, "BAD_USER_INPUT", message))


_ENCOUNTERED = re.compile(r", but encountered error '.*?'; found", re.DOTALL)


def _alias_limit(max_aliases: int) -> type[ASTValidationRule]:
    class AliasLimit(ASTValidationRule):
        """A document uses at most ``max_aliases`` aliases (each may cost an upstream request)."""

        count = 0

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.alias is not None:
                self.count += 1
                if self.count == max_aliases + 1:
                    self.report_error(
                        GraphQLError(
                            f"The document uses more than {max_aliases} aliases (GATEWAY_MAX_ALIASES).", node
                        )
                    )

    return AliasLimit


def _operation_executor(base: type[Any]) -> type[Any]:
    """``base``, letting go of an operation's objects as soon as its result is built, and collecting
    each selection's fields once per document where they cannot differ between operations.

    graphql-core's executor (the execution context) holds helpers that are bound methods of itself:
    a reference cycle through which it kept everything the operation made (its fields, paths,
    loaders, answers and errors) until the garbage collector came by. A 200-alias operation left about six
    thousand objects so; a collection of the older generation then stopped every request for tens
    of ms. Once the result is built nothing uses the helpers (the resolvers' ``info`` holds its
    own reference), so the cycle is cut there and the operation is freed with its result.

    graphql-core collects the fields under a selection (fragments flattened, @skip and @include
    applied) once per operation: about a twentieth of a small operation's CPU, the same answer
    each time for a document whose directives read no variable. ``kept_fields``
    (``Prepared.fields``) keeps those answers, keyed by the selection's nodes, which the document
    holds alive as long as the answers themselves.
    """

    class OperationExecutor(base):  # type: ignore[misc]  # a class made from a parameter
        def __init__(self, *args: Any, kept_fields: dict[Any, Any] | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._kept_fields = kept_fields

        def collect_subfields(self, return_type: Any, field_details_list: Any) -> Any:
            kept = self._kept_fields
            if kept is None:
                return super().collect_subfields(return_type, field_details_list)
            key = (return_type, *[id(details.node) for details in field_details_list])
            found = kept.get(key)
            if found is None:
                found = kept[key] = super().collect_subfields(return_type, field_details_list)
            return found

        def build_response(self, data: dict[str, Any] | None) -> Any:
            try:
                return super().build_response(data)
            finally:
                del self.async_helpers

    return OperationExecutor


class Executor:
    """Runs operations on one schema; its caches are keyed by document text."""

    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        max_depth: int = 12,
        max_aliases: int = 200,
        max_tokens: int = 5000,
        cache_size: int = 512,
    ) -> None:
        self.schema = schema
        self.max_tokens = max_tokens
        # The graphql-core schema Strawberry built, run the way Strawberry runs it.
        self._graphql = schema._schema
        self._context_class = _operation_executor(schema.execution_context_class)
        rules = (ValuesOfCorrectType if r is ValuesOfCorrectTypeRule else r for r in specified_rules)
        self._rules = (*rules, _depth_limit(max_depth), _alias_limit(max_aliases))
        self.prepare = DocumentCache(self._prepare, max_entries=cache_size)
        # One thread: documents long enough to be sent there queue behind each other, so hostile
        # ones take at most one core's share from the event loop, which keeps serving meanwhile.
        self._worker: ThreadPoolExecutor | None = None

    async def prepared(self, query: str) -> Prepared:
        """``prepare(query)`` for the event loop: a long document not kept yet is parsed and
        validated in the worker thread, so that no request holds the loop while that runs."""
        if len(query) <= PREPARE_ON_LOOP_CHARS:
            return self.prepare(query)
        prepared = self.prepare.get(query)
        if prepared is None:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(1, thread_name_prefix="gateway-prepare")
            prepared = await asyncio.get_running_loop().run_in_executor(self._worker, self._prepare, query)
            self.prepare.keep(query, prepared)
        return prepared

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)

    def _prepare(self, query: str) -> Prepared:
        try:
            document = parse(IndexedSource(query), max_tokens=self.max_tokens)
        except GraphQLSyntaxError as error:
            if "tokens" in error.message and "Parsing aborted" in error.message:
                error = GraphQLSyntaxError(
                    error.source,  # type: ignore[arg-type]
                    0,
                    f"The document has more than {self.max_tokens} tokens (GATEWAY_MAX_QUERY_TOKENS).",
                )
            return Prepared(None, (validation_error(error),))
        unlink_tokens(document)
        errors = validate(self._graphql, document, self._rules, max_errors=MAX_VALIDATION_ERRORS)
        if errors:
            return Prepared(document, tuple(validation_error(_explained(e)) for e in errors))
        return Prepared(document, fields={} if fields_fixed(document) else None)

    def execute(
        self,
        prepared: Prepared,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
        middleware: tuple[Any, ...] | None = None,
    ) -> ExecutionResult | Awaitable[ExecutionResult]:
        """``middleware``: graphql-core field middleware (federated tracing), for this run only."""
        assert prepared.document is not None
        return execute(
            self._graphql,
            prepared.document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            executor_class=self._context_class,
            middleware=middleware,
            is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]  # a TypeGuard in effect
            kept_fields=prepared.fields,
        )


def is_query(operation: OperationDefinitionNode | None) -> bool:
    return operation is not None and operation.operation is OperationType.QUERY
