"""Which inbound credential goes to which upstream route, and the cache scope that implies.

The same decision produces both the headers sent upstream and the cache scope, so an answer
fetched with a credential can only ever be found again with the same credential:

- ``Authorization: Bearer <token>`` goes to ERAS only, on the users and user-groups routes.
- The Figshare credential header goes to Figshare only, as ``Authorization``, on institution-scoped
  timeline, breakdown and top routes.
- Everything else is public: no credential is sent and the scope is ``public``.

Credentials never appear in a ``repr``, a log line, an error message or a cache key in clear: the
scope of a credentialed request is an HMAC of the credential under a per-deployment secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from gateway.errors import Unauthenticated

PUBLIC_SCOPE = "public"


@dataclass(frozen=True)
class Credential:
    """A caller's credential: the exact ``Authorization`` value to send upstream."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Credential(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True)
class CallerCredentials:
    """The credentials one GraphQL request arrived with."""

    eras: Credential | None = None
    figshare: Credential | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], figshare_header: str) -> CallerCredentials:
        """Read the bearer token and the Figshare credential header (names are case-insensitive)."""
        lowered = {k.lower(): v for k, v in headers.items()}
        eras: Credential | None = None
        scheme, _, token = lowered.get("authorization", "").strip().partition(" ")
        # RFC 9110: the scheme is case-insensitive; ERAS itself insists on "Bearer", so normalise.
        if scheme.lower() == "bearer" and token.strip():
            eras = Credential(f"Bearer {token.strip()}")
        raw = lowered.get(figshare_header.lower(), "").strip()
        figshare = Credential(raw) if raw else None
        return cls(eras=eras, figshare=figshare)


class Access(Enum):
    """What a route does with a caller's credential."""

    PUBLIC = "public"  # never sent
    OPTIONAL = "optional"  # sent when the caller has one; the upstream decides
    REQUIRED = "required"  # sent; without one the gateway answers UNAUTHENTICATED itself


@dataclass(frozen=True)
class Forwarding:
    """The outcome of routing a credential: headers to add and the cache scope they imply."""

    headers: tuple[tuple[str, str], ...] = ()
    scope: str = PUBLIC_SCOPE

    @property
    def credentialed(self) -> bool:
        return self.scope != PUBLIC_SCOPE


PUBLIC = Forwarding()


class CredentialRouter:
    """Decides forwarding per upstream request; holds the secret that keys credentialed scopes."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def scope_of(self, source: str, credential: Credential) -> str:
        digest = hmac.new(self._secret, f"{source}\0{credential.value}".encode(), hashlib.sha256).hexdigest()
        return f"cred:{digest}"

    def route(
        self,
        source: str,
        access: Access,
        credential: Credential | None,
        *,
        what: str,
        hint: str = "",
    ) -> Forwarding:
        """Forwarding for one request to ``source``; ``what`` and ``hint`` word the error."""
        if access is Access.PUBLIC:
            return PUBLIC
        if credential is None:
            if access is Access.REQUIRED:
                raise Unauthenticated(
                    f"{what} needs credentials, and the request carries none"
                    + (f": {hint}." if hint else ".")
                )
            return PUBLIC
        return Forwarding(
            headers=(("Authorization", credential.value),),
            scope=self.scope_of(source, credential),
        )
