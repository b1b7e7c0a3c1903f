"""The gateway's error tree and the GraphQL codes it maps to (CONTRACT.md, "Errors").

Resolvers and the upstream layer raise these; the ``ErrorCodes`` schema extension turns them into
``errors[].extensions``. Messages are written for the caller and never contain a credential.

    GatewayError
      BadUserInput            arguments the upstream would reject; raised before any request
      Unauthenticated         a credential is needed and the request carries none
      UpstreamError           something went wrong at an upstream (carries ``source``)
        UpstreamRejectedInput the upstream answered 400 (BAD_USER_INPUT)
        Forbidden             the upstream refused the credential
        NotFound              the upstream says the thing does not exist
        UpstreamTimeout       no answer within the deadline
        UpstreamUnavailable   connection failed, 5xx, 429, or the circuit is open
        UpstreamBadResponse   a body the gateway cannot read
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """An error the caller should see, with its code and optional extensions."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, *, source: str | None = None, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.extra = extensions

    @property
    def extensions(self) -> dict[str, Any]:
        ext: dict[str, Any] = {"code": self.code}
        if self.source is not None:
            ext["source"] = self.source
        ext.update(self.extra)
        return ext


class BadUserInput(GatewayError):
    code = "BAD_USER_INPUT"


class Unauthenticated(GatewayError):
    code = "UNAUTHENTICATED"


class UpstreamError(GatewayError):
    """A failure that came from (or on the way to) an upstream service."""

    code = "UPSTREAM_UNAVAILABLE"

    def __init__(self, message: str, *, source: str, status: int | None = None, **extensions: Any) -> None:
        if status is not None:
            extensions["upstreamStatus"] = status
        super().__init__(message, source=source, **extensions)
        self.status = status


class UpstreamRejectedInput(UpstreamError):
    """The upstream answered 400: the caller's arguments, though the gateway's checks passed."""

    code = "BAD_USER_INPUT"


class Forbidden(UpstreamError):
    code = "FORBIDDEN"


class NotFound(UpstreamError):
    code = "NOT_FOUND"


class UpstreamTimeout(UpstreamError):
    code = "UPSTREAM_TIMEOUT"


class UpstreamUnavailable(UpstreamError):
    code = "UPSTREAM_UNAVAILABLE"


class UpstreamBadResponse(UpstreamError):
    code = "UPSTREAM_BAD_RESPONSE"
