"""Argument checks shared by the resolvers; failures are BAD_USER_INPUT before any request."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.errors import BadUserInput


def numeric_id(name: str, value: object) -> str:
    text = str(value).strip()
    if not text.isascii() or not text.isdigit():
        raise BadUserInput(f"{name} must be a numeric id, not {str(value)[:40]!r}.", argument=name)
    return str(int(text))


def id_list(name: str, values: Sequence[object] | None, max_ids: int) -> tuple[str, ...] | None:
    """Numeric ids, duplicates dropped, order kept; None when the argument was not given."""
    if values is None:
        return None
    if not values:
        raise BadUserInput(f"{name} must hold at least one id (leave it out for all).", argument=name)
    ids = tuple(dict.fromkeys(numeric_id(name, v) for v in values))
    if len(ids) > max_ids:
        raise BadUserInput(f"{name} holds {len(ids)} ids; at most {max_ids} are allowed.", argument=name)
    return ids


def non_negative(name: str, value: int) -> int:
    if value < 0:
        raise BadUserInput(f"{name} must not be negative.", argument=name)
    return value
