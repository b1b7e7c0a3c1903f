"""Documents as the executor keeps them: prepared (parsed and validated) once per text, in a cache
bounded by entries and by the text it holds, over a source that finds line numbers fast."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from graphql import (
    BREAK,
    DirectiveNode,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    Source,
    SourceLocation,
    Visitor,
    get_operation_ast,
    visit,
)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A document parsed and validated against the schema, or the errors that stopped it."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...] = ()
    # The fields graphql-core collects under each selection, kept across operations when nothing
    # in the document makes them depend on variables (directives reading one, @defer, @stream);
    # None: collected anew by each operation.
    fields: dict[Any, Any] | None = None

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        return None if self.document is None else get_operation_ast(self.document, name)

    def no_operation(self, name: str | None) -> str:
        """Why ``operation(name)`` found none, for the caller."""
        if name is not None:
            return f"The document has no operation named {name[:70]!r}."
        return "The document holds several operations: name the one to run in 'operationName'."


# What graphql-core counts as a line break (its lexer's and its Source's rule).
_LINE_BREAK = re.compile(r"\r\n|[\n\r]")


class IndexedSource(Source):
    """graphql-core's ``Source``, its line breaks indexed once.

    Every ``GraphQLError`` asks its source for the line and column of its nodes, and graphql-core's
    own ``get_location`` scans the text from its start each time: 150 fields refused in a 10 KB
    document spent more time there than in everything else. Same answers, in O(log lines).
    """

    __slots__ = ("_breaks",)
    _breaks: list[tuple[int, int]]

    def get_location(self, position: int) -> SourceLocation:
        try:
            breaks = self._breaks
        except AttributeError:
            breaks = self._breaks = [(m.start(), m.end()) for m in _LINE_BREAK.finditer(self.body)]
        # As graphql-core counts: each line break that starts before the position ends a line.
        before = bisect_left(breaks, (position,))
        line_start = breaks[before - 1][1] if before else 0
        return SourceLocation(before + 1, position + 1 - line_start)


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    maxsize: int
    currsize: int


class DocumentCache:
    """Prepared documents by text, bounded in entries and in the text they hold (LRU).

    A parsed document holds about 90 bytes per character of its text (its nodes, their locations
    and the tokens they link): a count bound alone let distinct large documents grow the process by
    a gigabyte. Documents of more than ``max_chars`` are prepared every time; the others are kept
    while their texts sum to at most ``max_total_chars``: 128 KiB of text, about 12 MiB parsed,
    holds a few hundred documents of the size applications send.
    """

    def __init__(
        self,
        prepare: Callable[[str], Prepared],
        *,
        max_entries: int = 512,
        max_chars: int = 4096,
        max_total_chars: int = 128 * 1024,
    ) -> None:
        self._prepare = prepare
        self.max_entries = max_entries
        self.max_chars = max_chars
        self.max_total_chars = max_total_chars
        self._kept: OrderedDict[str, Prepared] = OrderedDict()
        self._chars = 0
        self._hits = self._misses = 0

    def __call__(self, query: str) -> Prepared:
        prepared = self.get(query)
        if prepared is None:
            prepared = self._prepare(query)
            self.keep(query, prepared)
        return prepared

    def get(self, query: str) -> Prepared | None:
        """The kept document, counted as a hit or a miss; a miss is to be prepared and kept."""
        prepared = self._kept.get(query)
        if prepared is None:
            self._misses += 1
            return None
        self._hits += 1
        self._kept.move_to_end(query)
        return prepared

    def keep(self, query: str, prepared: Prepared) -> None:
        if len(query) > self.max_chars or query in self._kept:
            return
        self._kept[query] = prepared
        self._chars += len(query)
        while len(self._kept) > self.max_entries or self._chars > self.max_total_chars:
            oldest, _ = self._kept.popitem(last=False)
            self._chars -= len(oldest)

    def cache_info(self) -> CacheInfo:
        return CacheInfo(self._hits, self._misses, self.max_entries, len(self._kept))


def unlink_tokens(document: DocumentNode) -> None:
    """Make a parsed document's tokens a chain that only runs forward.

    graphql-core links every token to the one before it and the one after, so a parsed document is
    one large reference cycle: evicted from the cache (by then in the collector's oldest
    generation) it waited for a full collection, a 10 KB document being ten thousand objects to
    walk. Nothing reads ``prev`` once parsing is done (errors are located from offsets into the
    source); without it a document is freed as soon as nothing refers to it.
    """
    token = document.loc.start_token if document.loc is not None else None
    while token is not None:
        token.prev = None
        token = token.next


def fields_fixed(document: DocumentNode) -> bool:
    """Whether the fields collected under each selection are the same for every operation of
    ``document``: no directive reads a variable, none defers or streams, no fragment takes
    variables of its own."""
    found = _VariableSelections()
    visit(document, found)
    return not found.found


class _VariableSelections(Visitor):
    """Looks for what makes a document's selections depend on its variables."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False
        self._in_directive = 0

    def enter_directive(self, node: DirectiveNode, *_: Any) -> Any:
        if node.name.value in ("defer", "stream"):
            return self._stop()
        self._in_directive += 1
        return None

    def leave_directive(self, *_: Any) -> None:
        self._in_directive -= 1

    def enter_variable(self, *_: Any) -> Any:
        return self._stop() if self._in_directive else None

    def enter_fragment_definition(self, node: FragmentDefinitionNode, *_: Any) -> Any:
        return self._stop() if node.variable_definitions else None

    def _stop(self) -> Any:
        self.found = True
        return BREAK
