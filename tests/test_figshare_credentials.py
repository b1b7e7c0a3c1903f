"""Which credential reaches which upstream request, and the one batched article count.

CONTRACT.md, "Credentials": the inbound ``X-Figshare-Authorization`` goes to Figshare only, as
``Authorization``, and only on institution-scoped timeline, breakdown and top requests; the
ERAS bearer goes to ERAS only. Without the Figshare credential those fields are UNAUTHENTICATED
before any request; a credential Figshare refuses is FORBIDDEN.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.emulators import eras_data
from gateway.emulators.figshare_data import DEMO_INSTITUTIONS, FigshareDataset, basic_header
from tests.conftest import Gateway, Upstream, codes, data_of

LBORO = basic_header(*DEMO_INSTITUTIONS["lboro"])
MONASH = basic_header(*DEMO_INSTITUTIONS["monash"])
BEARER = f"Bearer {eras_data.VOLUNTEER_TOKEN}"

# Every Figshare route family, in the public scope and in lboro's.
EVERY_FAMILY = """
  fragment everything on FigshareArticle {
    views { total series(period: DAY) { count } countries(limit: 1) { country } }
    top(counter: VIEWS, by: REFERRAL, limit: 3) { key }
  }
  query($volunteer: ID!) {
    zooniverse { classifications { total } user(id: $volunteer) { classifications { total } } }
    pub: figshare { article(id: 766364) { ...everything } top(counter: VIEWS, limit: 3) { key }
                    group(id: 327) { publicArticleCount } }
    inst: figshare(institution: "lboro") { article(id: 766364) { ...everything } top(counter: VIEWS, limit: 3) { key }
                                           group(id: 328) { publicArticleCount } }
  }
"""
PROTECTED = """{ figshare(institution: "lboro") { article(id: 766364) {
  views { total series(period: DAY) { count } countries { country } }
  top(counter: DOWNLOADS, by: CATEGORY) { key } }
  top(counter: VIEWS) { key } } }"""


def header_values(upstream: Upstream) -> list[str]:
    return [value for r in upstream.log.requests for value in r.headers.values()]


def test_each_credential_reaches_only_its_own_routes(
    gateway: Gateway, figshare: Upstream, eras: Upstream
) -> None:
    result = gateway.query(
        EVERY_FAMILY,
        {"volunteer": str(eras_data.VOLUNTEER_ID)},
        authorization=BEARER,
        x_figshare_authorization=LBORO,
    )
    data = data_of(result)
    for scope in ("pub", "inst"):
        article = data[scope]["article"]
        assert article["views"]["total"] > 0
        assert article["views"]["series"]
        assert len(article["views"]["countries"]) == 1
        assert len(article["top"]) == 3
        assert len(data[scope]["top"]) == 3
        assert data[scope]["group"]["publicArticleCount"] > 0

    sent = {
        (r.method, r.path, r.params.get("item_id")): r.header("authorization") for r in figshare.log.requests
    }
    assert sent == {
        ("GET", "/total/views/article/766364", None): None,
        ("GET", "/timeline/day/views/article/766364", None): None,
        ("GET", "/breakdown/total/views/article/766364", None): None,
        ("GET", "/top/views/article", "766364"): None,
        ("GET", "/top/views/article", None): None,
        ("GET", "/lboro/total/views/article/766364", None): None,
        ("GET", "/lboro/timeline/day/views/article/766364", None): LBORO,
        ("GET", "/lboro/breakdown/total/views/article/766364", None): LBORO,
        ("GET", "/lboro/top/views/article", "766364"): LBORO,
        ("GET", "/lboro/top/views/article", None): LBORO,
        ("POST", "/count/articles", None): None,
    }
    assert len(figshare.log) == len(sent)
    # Neither the bearer token nor the inbound header name travels to Figshare in any form.
    assert not any(eras_data.VOLUNTEER_TOKEN in v for v in header_values(figshare))
    assert all(r.header("x-figshare-authorization") is None for r in figshare.log.requests)

    # ERAS gets the bearer on the user route only, and never the Figshare credential.
    assert sorted((r.path, r.header("authorization")) for r in eras.log.requests) == [
        ("/classifications", None),
        (f"/classifications/users/{eras_data.VOLUNTEER_ID}", BEARER),
    ]
    assert not any(LBORO.split()[1] in v for v in header_values(eras))
    assert all(r.header("x-figshare-authorization") is None for r in eras.log.requests)


def test_the_bearer_token_is_no_figshare_credential(gateway: Gateway, figshare: Upstream) -> None:
    """With only the ERAS bearer, protected Figshare fields are UNAUTHENTICATED (nothing sent),
    and public ones are sent without it."""
    result = gateway.query(
        """{ inst: figshare(institution: "lboro") { top(counter: VIEWS) { key } }
             pub: figshare { top(counter: VIEWS, limit: 1) { key } } }""",
        authorization=BEARER,
    )
    assert codes(result) == ["UNAUTHENTICATED"]
    assert result["data"]["inst"]["top"] is None
    assert len(result["data"]["pub"]["top"]) == 1
    [request] = figshare.log.requests
    assert request.path == "/top/views/article"
    assert request.header("authorization") is None


@pytest.mark.parametrize("header", [None, ""])
def test_missing_credential_is_unauthenticated_without_a_request(
    gateway: Gateway, figshare: Upstream, header: str | None
) -> None:
    """Timeline, breakdown and top in an institution scope need the credential: each field says
    UNAUTHENTICATED (naming the header to send) and nothing is sent; the total still answers."""
    headers = {} if header is None else {"x_figshare_authorization": header}
    result = gateway.query(PROTECTED, **headers)
    assert codes(result) == ["UNAUTHENTICATED"] * 4
    assert sorted(e["path"] for e in result["errors"]) == [
        ["figshare", "article", "top"],
        ["figshare", "article", "views", "countries"],
        ["figshare", "article", "views", "series"],
        ["figshare", "top"],
    ]
    assert all("X-Figshare-Authorization" in e["message"] for e in result["errors"])
    article = result["data"]["figshare"]["article"]
    assert article["views"]["total"] > 0
    assert [(r.path, r.header("authorization")) for r in figshare.log.requests] == [
        ("/lboro/total/views/article/766364", None)
    ]


@pytest.mark.parametrize(
    "credential",
    [
        basic_header("lboro-stats", "wrong-secret"),
        MONASH,  # another institution's credentials
        "Basic not-base64!",
        "Bearer lboro-stats-secret",
    ],
    ids=["wrong-password", "other-institution", "garbled", "other-scheme"],
)
def test_refused_credential_is_forbidden_from_figshare(
    gateway: Gateway, figshare: Upstream, credential: str
) -> None:
    result = gateway.query(PROTECTED, x_figshare_authorization=credential)
    assert codes(result) == ["FORBIDDEN"] * 4
    for error in result["errors"]:
        assert error["extensions"]["source"] == "FIGSHARE"
        assert error["extensions"]["upstreamStatus"] == 403
    assert result["data"]["figshare"]["article"]["views"]["total"] > 0
    assert credential not in json.dumps(result)
    # The credential was sent as given, once per protected request.
    protected = [r for r in figshare.log.requests if not r.path.startswith("/lboro/total/")]
    assert len(protected) == 4
    assert all(r.header("authorization") == credential for r in protected)


@pytest.mark.parametrize(
    "institution",
    [
        "LBORO",
        "lboro/total",
        "../lboro",
        "-lboro",
        "_lboro",
        "lbo.ro",
        "lboro ",
        "",
        "a" * 65,
        "lboró",
        "total",
    ],
)
def test_malformed_institution_is_bad_user_input_without_a_request(
    gateway: Gateway, figshare: Upstream, institution: str
) -> None:
    result = gateway.query(
        """query($i: String) { figshare(institution: $i) { institution article(id: 766364) { views { total } } }
                               zooniverse { project(id: "1") { id } } }""",
        {"i": institution},
        x_figshare_authorization=LBORO,
    )
    assert codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["path"] == ["figshare"]
    assert result["data"] == {"figshare": None, "zooniverse": {"project": {"id": "1"}}}
    assert len(figshare.log) == 0


def test_longest_well_formed_institution_is_asked_for(gateway: Gateway, figshare: Upstream) -> None:
    """64 characters is still a short name: it is sent, and the upstream's 404 is NOT_FOUND."""
    slug = "a" + "-" * 62 + "9"
    result = gateway.query(
        "query($i: String) { figshare(institution: $i) { institution article(id: 1) { views { total } } } }",
        {"i": slug},
    )
    assert result["data"]["figshare"]["institution"] == slug
    assert codes(result) == ["NOT_FOUND"]
    assert [r.path for r in figshare.log.requests] == [f"/{slug}/total/views/article/1"]


# ---------------------------------------------------------------------------------------------
# publicArticleCount: one POST per operation
# ---------------------------------------------------------------------------------------------


def public_articles(dataset: FigshareDataset, group: int) -> int:
    return sum(1 for a in dataset.public.articles.values() if a.group_id == group and a.is_public)


def posted_groups(figshare: Upstream) -> list[int]:
    [request] = figshare.log.matching("/count", method="POST")
    assert request.header("authorization") is None
    body: dict[str, Any] = json.loads(request.body)
    assert set(body) == {"groups"}
    return [g["id"] for g in body["groups"]]


def test_every_group_count_of_an_operation_is_one_post(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """Groups under several aliases and scopes, with duplicates (also spelt differently), are
    counted in one request that names each group once; an unknown group counts 0."""
    result = gateway.query(
        """{ a: figshare { g1: group(id: 327) { publicArticleCount }
                           g2: group(id: 328) { id publicArticleCount views { total } }
                           again: group(id: "327") { publicArticleCount }
                           padded: group(id: "0329") { id publicArticleCount } }
             b: figshare(institution: "lboro") { group(id: 329) { institution publicArticleCount }
                                                 unknown: group(id: 99999) { publicArticleCount } }
             c: figshare { group(id: 328) { publicArticleCount } } }""",
        x_figshare_authorization=LBORO,
    )
    data = data_of(result)
    count = {g: public_articles(figshare_dataset, g) for g in (327, 328, 329)}
    assert data["a"]["g1"]["publicArticleCount"] == data["a"]["again"]["publicArticleCount"] == count[327]
    assert data["a"]["g2"]["publicArticleCount"] == data["c"]["group"]["publicArticleCount"] == count[328]
    assert data["a"]["padded"] == {"id": "329", "publicArticleCount": count[329]}
    assert data["b"]["group"] == {"institution": "lboro", "publicArticleCount": count[329]}
    assert data["b"]["unknown"]["publicArticleCount"] == 0
    assert data["a"]["g2"]["views"]["total"] > 0
    groups = posted_groups(figshare)
    assert sorted(groups) == [327, 328, 329, 99999]
    assert [r.path for r in figshare.log.requests if r.method != "POST"] == ["/total/views/group/328"]


def test_groups_the_upstream_leaves_out_count_zero(gateway: Gateway, figshare: Upstream) -> None:
    figshare.faults.inject("^/count/articles$", status=200, body=b'{"327": 7}')
    result = gateway.query(
        "{ figshare { a: group(id: 327) { publicArticleCount } b: group(id: 328) { publicArticleCount } } }"
    )
    assert data_of(result)["figshare"] == {"a": {"publicArticleCount": 7}, "b": {"publicArticleCount": 0}}
    assert sorted(posted_groups(figshare)) == [327, 328]


def test_a_failed_count_fails_only_the_count_fields(gateway: Gateway, figshare: Upstream) -> None:
    figshare.faults.inject("^/count/articles$", status=503, body=b"{}")
    result = gateway.query(
        """{ figshare { a: group(id: 327) { publicArticleCount views { total } }
                        b: group(id: 328) { publicArticleCount } } }"""
    )
    assert codes(result) == ["UPSTREAM_UNAVAILABLE", "UPSTREAM_UNAVAILABLE"]
    assert {e["extensions"]["source"] for e in result["errors"]} == {"FIGSHARE"}
    fig = result["data"]["figshare"]
    assert fig["a"]["publicArticleCount"] is None
    assert fig["b"]["publicArticleCount"] is None
    assert fig["a"]["views"]["total"] > 0
    # One POST for both groups, and the two retries a 503 earns (GATEWAY_UPSTREAM_RETRIES).
    assert len(figshare.log.matching("/count")) == 3
