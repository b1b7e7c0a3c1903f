"""One HTTP exchange of ``/graphql``: what the view reads of a request's headers, and its answer
with the caching headers it may carry (``Cache-Control``, ``ETag``, ``Age``, ``Warning``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import Scope, Send

from gateway.http.response_cache import Kept, etag_of

STALE_WARNING = b'110 stats-gateway "Response is Stale"'


@dataclass(slots=True)
class Incoming:
    """What the view reads of a request's headers, in one pass."""

    headers: list[tuple[bytes, bytes]]
    content_type: str = ""
    content_length: int = -1
    accept: str = ""
    if_none_match: str = ""
    trace: bool = False
    ftv1: bool = False  # a federation router asks for the ftv1 trace

    @classmethod
    def of(cls, scope: Scope) -> Incoming:
        incoming = cls(scope["headers"])
        for name, value in incoming.headers:
            if name == b"content-type":
                incoming.content_type = value.decode("latin-1")
            elif name == b"content-length":
                incoming.content_length = int(value) if value.isdigit() else -1
            elif name == b"accept":
                incoming.accept = value.decode("latin-1")
            elif name == b"if-none-match":
                incoming.if_none_match = value.decode("latin-1")
            elif name == b"x-stats-trace":
                incoming.trace = value.strip() in (b"1", b"true")
            elif name == b"apollo-federation-include-trace":
                incoming.ftv1 = value.strip() == b"ftv1"
        return incoming


@dataclass(slots=True)
class Outgoing:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]
    content_type: bytes | None = None  # None: JSON, of the media type the client asked for

    async def send(self, send: Send, content_type: bytes, request_id: str | None) -> None:
        headers = [
            (b"content-type", self.content_type or content_type),
            (b"content-length", str(len(self.body)).encode()),
            *self.headers,
        ]
        if request_id is not None:
            headers.append((b"x-request-id", request_id.encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})

    def etag(self) -> str | None:
        """The ``ETag`` this answer carries (public answers do), if any."""
        found = next((v for k, v in self.headers if k == b"etag"), None)
        return None if found is None else found.decode()

    def unchanged(self, incoming: Incoming) -> Outgoing:
        """304 when the client holds this answer already (its ETag matches)."""
        if not incoming.if_none_match:  # most requests: no look through the headers
            return self
        etag = self.etag()
        if etag is not None and etag in incoming.if_none_match:
            return Outgoing(304, b"", self.headers)
        return self


def errors_only(
    status: int, errors: list[dict[str, Any]], headers: list[tuple[bytes, bytes]] | None = None
) -> Outgoing:
    return Outgoing(
        status, orjson.dumps({"errors": errors}), [(b"cache-control", b"no-store"), *(headers or [])]
    )


def answered(
    status: int,
    body: bytes,
    vary: bytes,
    *,
    failed: bool,
    private: bool,
    stale: bool,
    max_age: float,
) -> Outgoing:
    """A newly made answer. ``failed``: it has errors, or used no upstream answer (nothing to say
    how long it holds); ``private``: a field consulted the caller's credentials; ``stale``: part of
    it is an expired copy; ``max_age``: the smallest remaining lifetime of what it was made from."""
    headers = [(b"vary", vary)]
    if failed:
        headers.append((b"cache-control", b"no-store"))
        return Outgoing(status, body, headers)
    if stale:
        headers.append((b"warning", STALE_WARNING))
    if private:
        headers.append((b"cache-control", b"private, no-store"))
    elif stale:
        headers.append((b"cache-control", b"public, max-age=0"))
    else:
        headers += [
            (b"cache-control", f"public, max-age={int(max(0.0, max_age))}".encode()),
            (b"etag", etag_of(body).encode()),
        ]
    return Outgoing(status, body, headers)


def kept_answer(answer: Kept, vary: bytes) -> Outgoing:
    """An answer from the response cache; ``Age`` says how old it is (and that it was kept)."""
    headers = [(b"vary", vary), (b"age", str(answer.age).encode())]
    if answer.private:
        headers.append((b"cache-control", b"private, no-store"))
    else:
        headers.append((b"cache-control", f"public, max-age={answer.max_age}".encode()))
        headers.append((b"etag", answer.etag.encode()))
    return Outgoing(200, answer.body, headers)
