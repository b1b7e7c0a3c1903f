"""A mock upstream on ``httpx.MockTransport`` for the data sources' unit tests: it records what is
sent and answers with a fixed status and body."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import orjson

from gateway.upstream.client import USER_AGENT

Sent = tuple[str, str, list[tuple[str, str]], bytes]  # method, path and query, headers, body


@dataclass
class Wire:
    """The upstream's side of the wire: every request it received, and what it answers."""

    body: bytes | Callable[[httpx.Request], bytes] = b"{}"
    status: int = 200
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = self.body(request) if callable(self.body) else self.body
        return httpx.Response(self.status, content=body)

    def sent(self) -> list[Sent]:
        """Each request as sent: the path and query exactly, the headers in order (but the ones
        httpx adds itself), the body."""
        return [
            (
                r.method,
                r.url.raw_path.decode(),
                [
                    (k.decode(), v.decode())
                    for k, v in r.headers.raw
                    if k.lower() not in (b"host", b"content-length")
                ],
                r.content,
            )
            for r in self.requests
        ]


def body(value: object) -> bytes:
    """``value`` as the upstream's JSON answer."""
    return orjson.dumps(value)


def headers(authorization: str | None = None, *, json_body: bool = False) -> list[tuple[str, str]]:
    """The headers the gateway sends upstream."""
    sent = [("Accept", "application/json"), ("User-Agent", USER_AGENT)]
    if authorization is not None:
        sent.append(("Authorization", authorization))
    if json_body:
        sent.append(("Content-Type", "application/json"))
    return sent
