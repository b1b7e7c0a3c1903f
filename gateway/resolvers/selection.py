"""Look one level ahead in a field's selection (through fragments), honouring @skip/@include."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection


def _included(selection: Any) -> bool:
    directives = getattr(selection, "directives", None) or {}
    if "skip" in directives and directives["skip"].get("if"):
        return False
    return not ("include" in directives and not directives["include"].get("if", True))


def _fields(selections: Iterable[Selection]) -> Iterable[SelectedField]:
    for selection in selections:
        if not _included(selection):
            continue
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)


def selects(info: Any, name: str) -> bool:
    """Whether the field being resolved selects a sub-field called ``name``."""
    return any(child.name == name for field in info.selected_fields for child in _fields(field.selections))
