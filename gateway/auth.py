"""Credentials: which inbound credential goes to which upstream route, and the cache scope it implies.

The same decision produces the headers sent upstream and the cache scope, so an answer fetched
with a credential can only ever be found again with the same credential:

- ``Authorization: Bearer <token>`` goes to ERAS only, on the routes that read it.
- The Figshare credential header goes to Figshare only, as ``Authorization``, on institution-scoped
  timeline, breakdown and top routes.
- Everything else is public: no credential is sent and the scope is ``public``.

Credentials never appear in a ``repr``, a log line, an error message or a cache key in clear: the
scope of a credentialed request is an HMAC of the credential under a per-deployment secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from gateway.errors import Unauthenticated

PUBLIC_SCOPE = "public"
ERAS, FIGSHARE = "ERAS", "FIGSHARE"
# What may travel in a header value we forward: visible ASCII and spaces (RFC 9110 field-vchar).
_SENDABLE = re.compile(r"[\x20-\x7e]+")


@dataclass(frozen=True, slots=True)
class Credential:
    """A caller's credential: the exact ``Authorization`` value to send upstream."""

    value: str = field(repr=False)
    header: str = "Authorization"  # the inbound header it came in, for messages

    @property
    def sendable(self) -> bool:
        return _SENDABLE.fullmatch(self.value) is not None

    def __repr__(self) -> str:
        return "Credential(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class CallerCredentials:
    """The credentials one GraphQL request arrived with."""

    eras: Credential | None = None
    figshare: Credential | None = None

    def for_source(self, source: str) -> Credential | None:
        return self.eras if source == ERAS else self.figshare if source == FIGSHARE else None


NO_CREDENTIALS = CallerCredentials()


class Access(Enum):
    """What a route does with a caller's credential."""

    PUBLIC = "public"  # never sent
    OPTIONAL = "optional"  # sent when the caller has one; the upstream decides
    REQUIRED = "required"  # sent; without one the gateway answers UNAUTHENTICATED itself


@dataclass(frozen=True, slots=True)
class Forwarding:
    """The outcome of routing a credential: headers to add and the cache scope they imply."""

    headers: tuple[tuple[str, str], ...] = ()
    scope: str = PUBLIC_SCOPE

    @property
    def credentialed(self) -> bool:
        return self.scope != PUBLIC_SCOPE


PUBLIC = Forwarding()


class Auth:
    """Reads inbound credentials and routes them; holds the secret that keys credentialed scopes."""

    def __init__(self, secret: str, figshare_header: str = "X-Figshare-Authorization") -> None:
        self._secret = secret.encode()
        self.figshare_header = figshare_header
        self._figshare_raw = figshare_header.lower().encode("latin-1")

    @property
    def inbound_headers(self) -> tuple[str, str]:
        """The request headers that carry credentials (for ``Vary`` and CORS)."""
        return ("Authorization", self.figshare_header)

    def read(self, headers: Iterable[tuple[bytes, bytes]]) -> CallerCredentials:
        """The bearer token and the Figshare credential of raw ASGI headers (lower-case names)."""
        eras: Credential | None = None
        figshare: Credential | None = None
        for name, raw in headers:
            if name == b"authorization":
                scheme, _, token = raw.decode("latin-1").strip().partition(" ")
                # RFC 9110: the scheme is case-insensitive; ERAS itself insists on "Bearer".
                if scheme.lower() == "bearer" and token.strip():
                    eras = Credential(f"Bearer {token.strip()}")
            elif name == self._figshare_raw:
                value = raw.decode("latin-1").strip()
                figshare = Credential(value, self.figshare_header) if value else None
        if eras is None and figshare is None:
            return NO_CREDENTIALS
        return CallerCredentials(eras=eras, figshare=figshare)

    def scope_of(self, source: str, credential: Credential) -> str:
        digest = hmac.new(self._secret, f"{source}\0{credential.value}".encode(), hashlib.sha256)
        return f"cred:{digest.hexdigest()}"

    def caller_scope(self, caller: CallerCredentials) -> str:
        """One scope for everything the caller carries: what whole-operation answers are keyed by."""
        if caller is NO_CREDENTIALS:
            return PUBLIC_SCOPE
        parts = [c.value if c is not None else "" for c in (caller.eras, caller.figshare)]
        digest = hmac.new(self._secret, "\0".join(["caller", *parts]).encode(), hashlib.sha256)
        return f"cred:{digest.hexdigest()}"

    def hint(self, source: str) -> str:
        """What a caller should send to be let in by ``source``."""
        if source == ERAS:
            return "send Authorization: Bearer <Panoptes token> of that volunteer, a member or an admin"
        return f"send {self.figshare_header}: Basic <base64 of user:password>"

    def forwarding(self, source: str, access: Access, caller: CallerCredentials, *, what: str) -> Forwarding:
        """Forwarding for one request to ``source``; ``what`` names the data in the error."""
        if access is Access.PUBLIC:
            return PUBLIC
        credential = caller.for_source(source)
        if credential is None:
            if access is Access.REQUIRED:
                raise Unauthenticated(
                    f"{what} needs credentials, and the request carries none: {self.hint(source)}."
                )
            return PUBLIC
        if not credential.sendable:
            raise Unauthenticated(
                f"The {credential.header} header is not a usable credential: it holds characters "
                "other than visible ASCII."
            )
        return Forwarding(
            headers=(("Authorization", credential.value),), scope=self.scope_of(source, credential)
        )
