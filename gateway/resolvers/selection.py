"""Look ahead in a field's selection (through fragments), honouring @skip and @include.

The Zooniverse stats fields use it to learn, before any request, what their sub-fields will need,
so that one ERAS request can carry every flag and a failure nulls the stats object once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

__all__ = ["SelectedField", "children", "enum_name", "fields_of", "int_value", "selects"]


def _included(selection: Any) -> bool:
    directives = getattr(selection, "directives", None) or {}
    if "skip" in directives and directives["skip"].get("if"):
        return False
    return not ("include" in directives and not directives["include"].get("if", True))


def fields_of(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields among ``selections``, fragments flattened."""
    for selection in selections:
        if not _included(selection):
            continue
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from fields_of(selection.selections)


def children(info: Any) -> list[SelectedField]:
    """The sub-fields selected on the field being resolved."""
    return [child for field in info.selected_fields for child in fields_of(field.selections)]


def selects(field: Selection, name: str) -> bool:
    """Whether ``field`` selects a sub-field called ``name``."""
    return any(child.name == name for child in fields_of(field.selections))


def enum_name(value: Any) -> str:
    """An enum argument as its GraphQL name, whether it came as a literal, a variable or an Enum."""
    return str(getattr(value, "name", value))


def int_value(value: Any) -> int | None:
    """An Int argument: literals arrive as text, variables as numbers."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
