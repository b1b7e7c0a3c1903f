"""What both upstreams share on the wire: date-window parameters and strict body reading."""

from __future__ import annotations

from typing import Any

from gateway.dates import Window
from gateway.errors import UpstreamBadResponse


def window_params(window: Window) -> list[tuple[str, str]]:
    """``start_date``/``end_date`` as ``YYYY-MM-DD``, for the ends the window has."""
    params = []
    if window.start is not None:
        params.append(("start_date", window.start.isoformat()))
    if window.end is not None:
        params.append(("end_date", window.end.isoformat()))
    return params


class BodyReader:
    """Reads an upstream body strictly: anything unexpected is UPSTREAM_BAD_RESPONSE."""

    def __init__(self, source: str, name: str) -> None:
        self.source = source
        self.name = name

    def fail(self, what: str) -> UpstreamBadResponse:
        return UpstreamBadResponse(
            f"{self.name} answered with an unreadable body ({what}).", source=self.source
        )

    def obj(self, value: Any, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"{what} is not an object")
        return value

    def items(self, value: Any, what: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(f"{what} is not a list")
        return value

    def int_(self, value: Any, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{what} is not an integer")
        return value

    def count(self, value: Any, what: str) -> int:
        number = self.int_(value, what)
        if number < 0:
            raise self.fail(f"{what} is negative")
        return number

    def num(self, value: Any, what: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{what} is not a number")
        return float(value)

    def opt_num(self, body: dict[str, Any], key: str, what: str) -> float | None:
        return None if body.get(key) is None else self.num(body[key], what)
