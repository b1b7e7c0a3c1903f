"""gateway/auth.py: which inbound credential goes where, the scope it implies, and what a caller is told."""

from __future__ import annotations

import re

import pytest

from gateway.auth import (
    ERAS,
    FIGSHARE,
    NO_CREDENTIALS,
    PUBLIC,
    PUBLIC_SCOPE,
    Access,
    Auth,
    CallerCredentials,
    Credential,
    Forwarding,
)
from gateway.errors import Unauthenticated

AUTH = Auth("deployment-secret")
TOKEN = "Bearer abc.def"
BASIC = "Basic dXNlcjpwYXNz"
BOTH = CallerCredentials(eras=Credential(TOKEN), figshare=Credential(BASIC, "X-Figshare-Authorization"))
SCOPE = re.compile(r"cred:[0-9a-f]{64}")


def raw(*headers: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as an ASGI scope holds them: lower-case names, latin-1 bytes."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


# ---------------------------------------------------------------------- reading


def test_a_request_without_credentials_reads_as_none() -> None:
    assert AUTH.read(raw(("Accept", "application/json"), ("Cookie", "a=b"))) is NO_CREDENTIALS


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("Bearer abc.def", "Bearer abc.def"),
        ("bearer abc.def", "Bearer abc.def"),  # the scheme is case-insensitive; ERAS wants "Bearer"
        ("  Bearer   abc.def  ", "Bearer abc.def"),
        ("Bearer", None),
        ("Bearer   ", None),
        ("Token abc", None),
        ("Basic dXNlcjpwYXNz", None),  # Basic belongs in the Figshare header
    ],
)
def test_the_bearer_token_is_read_from_authorization(value: str, sent: str | None) -> None:
    caller = AUTH.read(raw(("Authorization", value)))
    assert caller.figshare is None
    assert (caller.eras.value if caller.eras else None) == sent


def test_the_figshare_credential_is_read_as_sent_from_its_own_header() -> None:
    caller = AUTH.read(raw(("X-Figshare-Authorization", f"  {BASIC} "), ("Authorization", TOKEN)))
    assert caller.figshare == Credential(BASIC, "X-Figshare-Authorization")
    assert caller.eras == Credential(TOKEN)
    assert AUTH.read(raw(("X-Figshare-Authorization", "   "))) is NO_CREDENTIALS


def test_the_figshare_header_name_is_configurable() -> None:
    auth = Auth("s", figshare_header="X-Stats-Credential")
    assert auth.inbound_headers == ("Authorization", "X-Stats-Credential")
    assert auth.read(raw(("X-Figshare-Authorization", BASIC))) is NO_CREDENTIALS
    assert auth.read(raw(("X-Stats-Credential", BASIC))).figshare == Credential(BASIC, "X-Stats-Credential")


def test_credentials_never_show_in_their_repr() -> None:
    assert repr(Credential(TOKEN)) == str(Credential(TOKEN)) == "Credential(<redacted>)"
    assert "abc.def" not in repr(BOTH)
    assert "dXNlcjpwYXNz" not in repr(BOTH)


# ---------------------------------------------------------------------- forwarding


def test_public_routes_never_carry_a_credential() -> None:
    assert AUTH.forwarding(ERAS, Access.PUBLIC, BOTH, what="x") is PUBLIC
    assert AUTH.forwarding(FIGSHARE, Access.PUBLIC, BOTH, what="x") is PUBLIC


@pytest.mark.parametrize("access", [Access.OPTIONAL, Access.REQUIRED])
def test_each_upstream_gets_its_own_credential_as_authorization(access: Access) -> None:
    eras = AUTH.forwarding(ERAS, access, BOTH, what="x")
    figshare = AUTH.forwarding(FIGSHARE, access, BOTH, what="x")
    assert eras.headers == (("Authorization", TOKEN),)
    assert figshare.headers == (("Authorization", BASIC),)
    assert eras.credentialed
    assert figshare.credentialed
    assert SCOPE.fullmatch(eras.scope)
    assert SCOPE.fullmatch(figshare.scope)


def test_optional_routes_without_a_credential_are_public() -> None:
    only_figshare = CallerCredentials(figshare=Credential(BASIC))
    assert AUTH.forwarding(ERAS, Access.OPTIONAL, only_figshare, what="x") is PUBLIC
    assert AUTH.forwarding(ERAS, Access.OPTIONAL, NO_CREDENTIALS, what="x") == Forwarding()


def test_required_routes_without_a_credential_say_what_to_send() -> None:
    with pytest.raises(Unauthenticated) as eras:
        AUTH.forwarding(
            ERAS, Access.REQUIRED, CallerCredentials(figshare=Credential(BASIC)), what="A volunteer's stats"
        )
    assert eras.value.message == (
        "A volunteer's stats needs credentials, and the request carries none: send Authorization: Bearer "
        "<Panoptes token> of that volunteer, a member or an admin."
    )
    assert eras.value.extensions == {"code": "UNAUTHENTICATED"}
    with pytest.raises(Unauthenticated) as figshare:
        Auth("s", figshare_header="X-Stats-Credential").forwarding(
            FIGSHARE, Access.REQUIRED, NO_CREDENTIALS, what="A timeline"
        )
    assert figshare.value.message == (
        "A timeline needs credentials, and the request carries none: send X-Stats-Credential: Basic "
        "<base64 of user:password>."
    )


def test_hints() -> None:
    assert (
        AUTH.hint(ERAS)
        == "send Authorization: Bearer <Panoptes token> of that volunteer, a member or an admin"
    )
    assert AUTH.hint(FIGSHARE) == "send X-Figshare-Authorization: Basic <base64 of user:password>"


@pytest.mark.parametrize("value", ["Basic caf\xe9", "Basic a\x7fb", "Basic a\tb", "Bearer a\x00b"])
def test_a_credential_that_cannot_travel_in_a_header_is_refused(value: str) -> None:
    caller = CallerCredentials(eras=Credential(value), figshare=Credential(value, "X-Figshare-Authorization"))
    for source, header in ((ERAS, "Authorization"), (FIGSHARE, "X-Figshare-Authorization")):
        with pytest.raises(Unauthenticated) as raised:
            AUTH.forwarding(source, Access.OPTIONAL, caller, what="x")
        assert raised.value.message == (
            f"The {header} header is not a usable credential: it holds characters other than visible ASCII."
        )
        assert value not in raised.value.message


# ---------------------------------------------------------------------- scopes


def test_scopes_are_keyed_by_credential_upstream_and_secret_alone() -> None:
    scope = AUTH.scope_of(ERAS, Credential(TOKEN))
    assert scope == AUTH.scope_of(ERAS, Credential(TOKEN, "Other-Header"))  # the value decides
    assert scope != AUTH.scope_of(FIGSHARE, Credential(TOKEN))
    assert scope != AUTH.scope_of(ERAS, Credential(TOKEN + "x"))
    assert scope != Auth("another-secret").scope_of(ERAS, Credential(TOKEN))
    assert "abc" not in scope


def test_the_caller_scope_is_public_without_credentials_and_an_hmac_of_all_of_them_with() -> None:
    assert AUTH.caller_scope(NO_CREDENTIALS) == PUBLIC_SCOPE
    both = AUTH.caller_scope(BOTH)
    assert SCOPE.fullmatch(both)
    assert both == AUTH.caller_scope(CallerCredentials(eras=Credential(TOKEN), figshare=Credential(BASIC)))
    eras_only = AUTH.caller_scope(CallerCredentials(eras=Credential(TOKEN)))
    figshare_only = AUTH.caller_scope(CallerCredentials(figshare=Credential(BASIC)))
    assert len({both, eras_only, figshare_only, PUBLIC_SCOPE}) == 4
    # The same value in the other header is another caller.
    assert AUTH.caller_scope(CallerCredentials(figshare=Credential(TOKEN))) != eras_only
    assert Auth("another-secret").caller_scope(BOTH) != both
