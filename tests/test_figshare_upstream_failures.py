"""Figshare answers the gateway cannot use, and Figshare next to ERAS in one operation.

Faults are injected into the emulators: a body that is not JSON or has the wrong shape is
UPSTREAM_BAD_RESPONSE, 5xx and 429 are UPSTREAM_UNAVAILABLE, no answer within the gateway's
deadline is UPSTREAM_TIMEOUT; every such error names the source, and only the field that needed
the failed request is null.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.emulators.eras_data import ErasDataset
from gateway.emulators.figshare_data import DEMO_INSTITUTIONS, FigshareDataset, basic_header
from gateway.emulators.recorder import FaultRule
from tests.conftest import Gateway, GatewayFactory, Upstream, codes, data_of

LBORO = basic_header(*DEMO_INSTITUTIONS["lboro"])

# One field per route family; each reads one request whose path the fault below picks out.
FIELDS = """{ figshare(institution: "lboro") {
  article(id: 766364) {
    total: views { total }
    timeline: downloads { series(period: DAY) { start count } }
    breakdown: shares(startDate: "2026-01-01", endDate: "2026-11-20") { countries { country count } }
    top(counter: VIEWS, by: REFERRAL, limit: 3) { key count } }
  group(id: 327) { publicArticleCount } } }"""
ROUTE = {
    "total": r"^/lboro/total/",
    "timeline": r"^/lboro/timeline/",
    "breakdown": r"^/lboro/breakdown/",
    "top": r"^/lboro/top/",
    "count": r"^/count/articles$",
}
PATH = {
    "total": ["figshare", "article", "total", "total"],
    "timeline": ["figshare", "article", "timeline", "series"],
    "breakdown": ["figshare", "article", "breakdown", "countries"],
    "top": ["figshare", "article", "top"],
    "count": ["figshare", "group", "publicArticleCount"],
}


def value_at(data: Any, path: list[str]) -> Any:
    for key in path:
        data = data[key]
    return data


def assert_only_failed(result: dict[str, Any], family: str, code: str) -> dict[str, Any]:
    """``family``'s field is null with one error from FIGSHARE; every other field has data."""
    [error] = result["errors"]
    assert error["extensions"]["code"] == code
    assert error["extensions"]["source"] == "FIGSHARE"
    assert error["path"] == PATH[family]
    for other, path in PATH.items():
        value = value_at(result["data"], path)
        if other == family:
            assert value is None
        else:
            assert value is not None, other
            assert value != [], other
    return error


def fetch_all(gateway: Gateway) -> dict[str, Any]:
    return gateway.query(FIELDS, x_figshare_authorization=LBORO)


def test_every_field_answers_without_faults(gateway: Gateway, figshare: Upstream) -> None:
    """The baseline the fault tests rely on: every field of FIELDS has data."""
    result = fetch_all(gateway)
    data_of(result)
    for path in PATH.values():
        assert value_at(result["data"], path) not in (None, [], 0)
    assert len(figshare.log) == len(ROUTE)


MALFORMED = {
    "total": [
        b"<html>busy</html>",
        b"[]",
        b'{"total": 5}',
        b'{"totals": "5"}',
        b'{"totals": -1}',
        b'{"totals": true}',
    ],
    "timeline": [
        b"",
        b'{"timeline": [1, 2]}',
        b'{"timeline": {"2026-11-01": "3"}}',
        b'{"timeline": {"yesterday": 3}}',
        b'{"timeline": {"2026-02-30": 3}}',
        b'{"data": {"2026-11-01": 3}}',
    ],
    "breakdown": [
        b"{",
        b'{"breakdown": [1]}',
        b'{"breakdown": {"total": {"Japan": 3}}}',
        b'{"breakdown": {"total": {"Japan": {"Tokyo": "x", "total": 1}}}}',
        b'{"breakdown": {"total": {"Japan": {"total": -2}}}}',
        b'{"countries": {}}',
    ],
    "top": [b"null", b'"top"', b'{"top": ["doi.org"]}', b'{"top": {"doi.org": 1.5}}', b'{"doi.org": "many"}'],
    "count": [b"[327]", b'{"327": "five"}', b'{"327": null}', b"not json"],
}


@pytest.mark.parametrize(
    ("family", "body"),
    [(family, body) for family, bodies in MALFORMED.items() for body in bodies],
)
def test_unreadable_body_is_bad_response_and_spares_the_other_fields(
    gateway: Gateway, figshare: Upstream, family: str, body: bytes
) -> None:
    figshare.faults.inject(ROUTE[family], status=200, body=body)
    error = assert_only_failed(fetch_all(gateway), family, "UPSTREAM_BAD_RESPONSE")
    assert "Traceback" not in error["message"]
    # No retry: one request per family.
    assert len(figshare.log) == len(ROUTE)


@pytest.mark.parametrize(
    ("family", "status"),
    [(family, 503) for family in ROUTE] + [("timeline", status) for status in (500, 502, 504, 429)],
)
def test_server_errors_are_upstream_unavailable(
    gateway: Gateway, figshare: Upstream, family: str, status: int
) -> None:
    figshare.faults.inject(ROUTE[family], status=status, body=b'{"message": "down"}')
    error = assert_only_failed(fetch_all(gateway), family, "UPSTREAM_UNAVAILABLE")
    assert error["extensions"]["upstreamStatus"] == status


def test_hang_is_upstream_timeout(make_gateway: GatewayFactory, figshare: Upstream) -> None:
    """With a 0.5 s upstream deadline, a request Figshare never answers is UPSTREAM_TIMEOUT; the
    fields whose requests were answered keep their data."""
    gateway = make_gateway(upstream_timeout_s=0.5)
    figshare.faults.inject(ROUTE["breakdown"], hang=True)
    assert_only_failed(fetch_all(gateway), "breakdown", "UPSTREAM_TIMEOUT")
    assert len(figshare.log.matching("/lboro/breakdown/")) == 1


def test_upstream_rejections_keep_their_meaning(gateway: Gateway, figshare: Upstream) -> None:
    """400 is BAD_USER_INPUT and 404 NOT_FOUND, both from FIGSHARE, with the upstream's message."""
    figshare.faults.inject(
        ROUTE["timeline"],
        status=400,
        body=b'{"data": {"missing_params": "sub_item_id"}, "code": "MissingParams", '
        b'"message": "Missing required params: sub_item_id"}',
    )
    error = assert_only_failed(fetch_all(gateway), "timeline", "BAD_USER_INPUT")
    assert "Missing required params: sub_item_id" in error["message"]
    figshare.faults.clear()
    figshare.faults.inject(
        ROUTE["top"], status=404, body=b'{"message": "Not Found", "code": "NotFound", "data": null}'
    )
    assert_only_failed(fetch_all(gateway), "top", "NOT_FOUND")


# ---------------------------------------------------------------------------------------------
# Shapes the gateway must accept
# ---------------------------------------------------------------------------------------------

RANKING = (
    """{ figshare { article(id: 766364) { top(counter: VIEWS, by: REFERRAL, limit: 2) { key count } } } }"""
)


@pytest.mark.parametrize(
    "body",
    [
        b'{"top": {"t.co": 1, "www.google.com": 5, "doi.org": 9}}',
        b'{"www.google.com": 5, "t.co": 1, "doi.org": 9}',
    ],
    ids=["wrapped", "bare"],
)
def test_ranking_wrapped_or_bare(gateway: Gateway, figshare: Upstream, body: bytes) -> None:
    """The documentation shows tops both wrapped in ``top`` and bare (§6 R5, §10 Q10): both read
    the same, sorted by count whatever the key order, cut to the limit."""
    figshare.faults.inject("^/top/", status=200, body=body)
    result = gateway.query(RANKING)
    assert data_of(result)["figshare"]["article"]["top"] == [
        {"key": "doi.org", "count": 9},
        {"key": "www.google.com", "count": 5},
    ]


@pytest.mark.parametrize("body", [b'{"top": {}}', b'{"top": null}', b"{}"])
def test_empty_ranking(gateway: Gateway, figshare: Upstream, body: bytes) -> None:
    figshare.faults.inject("^/top/", status=200, body=body)
    assert data_of(gateway.query(RANKING))["figshare"]["article"]["top"] == []


def test_null_timeline_and_breakdown_are_empty(gateway: Gateway, figshare: Upstream) -> None:
    """``{"timeline": null}`` and ``{"breakdown": null}`` are the upstream's empty answers (§6):
    no buckets, a total of 0, no countries; with fillGaps and a window, every bucket is 0."""
    figshare.faults.inject("^/timeline/", status=200, body=b'{"timeline": null}')
    figshare.faults.inject("^/breakdown/", status=200, body=b'{"breakdown": null}')
    result = gateway.query(
        """{ figshare { article(id: 766364) { views(startDate: "2026-11-01", endDate: "2026-11-03") {
             total series(period: DAY) { start } filled: series(period: DAY, fillGaps: true) { start count }
             countries { country } } } } }"""
    )
    assert data_of(result)["figshare"]["article"]["views"] == {
        "total": 0,
        "series": [],
        "filled": [{"start": f"2026-11-0{d}", "count": 0} for d in (1, 2, 3)],
        "countries": [],
    }


def test_breakdown_country_without_total_counts_its_cities(gateway: Gateway, figshare: Upstream) -> None:
    """Country rows may lack ``total``; then the listed cities are the count. Parts of a long
    window are summed even when the upstream's keys come in another order."""
    figshare.faults.inject(
        "^/breakdown/",
        status=200,
        body=b'{"breakdown": {"total": {"Japan": {"Tokyo": 2, "Osaka": 1}, '
        b'"United Kingdom": {"total": 12, "London": 1, "Unkown": 2}}}}',
    )
    result = gateway.query(
        """{ figshare { article(id: 766364) { views(startDate: "2024-01-01", endDate: "2025-06-30") {
             countries { country count cities { city count } } } } } }"""
    )
    # Two parts, each answered with the same body: everything doubles.
    assert data_of(result)["figshare"]["article"]["views"]["countries"] == [
        {
            "country": "United Kingdom",
            "count": 24,
            "cities": [{"city": "Unkown", "count": 4}, {"city": "London", "count": 2}],
        },
        {
            "country": "Japan",
            "count": 6,
            "cities": [{"city": "Tokyo", "count": 4}, {"city": "Osaka", "count": 2}],
        },
    ]
    assert len(figshare.log) == 2


# ---------------------------------------------------------------------------------------------
# ERAS and Figshare in one operation
# ---------------------------------------------------------------------------------------------

BOTH = """{ zooniverse { classifications { total } }
            figshare { article(id: 766364) { views { total } } } }"""


def all_time_views(dataset: FigshareDataset) -> int:
    return sum(r.events for r in dataset.public.rows if r.article_id == 766364 and r.counter == "views")


@dataclass
class Rendezvous(FaultRule):
    """Answers normally, but only after the other upstream has received its request as well.

    ``matches`` runs in the emulator's own thread when a request arrives: it marks the arrival
    and holds this request until the partner's arrives (or ``patience_s`` runs out). Both
    requests can then only be answered if the gateway had both in flight at once.
    """

    arrived: threading.Event = field(default_factory=threading.Event)
    partner: threading.Event | None = None
    patience_s: float = 5.0
    met: bool | None = None

    def matches(self, path: str) -> bool:
        if re.search(self.path, path) and self.partner is not None:
            self.arrived.set()
            self.met = self.partner.wait(self.patience_s)
        return False


def test_eras_and_figshare_are_asked_at_the_same_time(
    gateway: Gateway,
    eras: Upstream,
    figshare: Upstream,
    eras_dataset: ErasDataset,
    figshare_dataset: FigshareDataset,
) -> None:
    """Each upstream holds its request until the other one's has arrived: a gateway asking one
    after the other would leave the first waiting in vain (``met`` False)."""
    at_eras = Rendezvous(path="^/classifications$")
    at_figshare = Rendezvous(path="^/total/views/article/766364$", partner=at_eras.arrived)
    at_eras.partner = at_figshare.arrived
    eras.faults.add(at_eras)
    figshare.faults.add(at_figshare)

    data = data_of(gateway.query(BOTH))

    assert at_eras.met is True
    assert at_figshare.met is True
    assert data["zooniverse"]["classifications"]["total"] == len(eras_dataset.classifications)
    assert data["figshare"]["article"]["views"]["total"] == all_time_views(figshare_dataset)
    assert len(eras.log) == 1
    assert len(figshare.log) == 1


def test_a_hanging_eras_does_not_hold_figshare_back(
    make_gateway: GatewayFactory, eras: Upstream, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    gateway = make_gateway(upstream_timeout_s=0.5)
    eras.faults.inject("^/classifications", hang=True)
    result = gateway.query(BOTH)
    assert codes(result) == ["UPSTREAM_TIMEOUT"]
    assert result["errors"][0]["extensions"]["source"] == "ERAS"
    assert result["data"]["zooniverse"]["classifications"] is None
    assert result["data"]["figshare"]["article"]["views"]["total"] == all_time_views(figshare_dataset)
    assert [r.path for r in eras.log.requests] == ["/classifications"]
    assert [r.path for r in figshare.log.requests] == ["/total/views/article/766364"]


@pytest.mark.parametrize("failing", ["ERAS", "FIGSHARE"])
def test_one_source_down_leaves_the_other_intact(
    gateway: Gateway,
    eras: Upstream,
    figshare: Upstream,
    eras_dataset: ErasDataset,
    figshare_dataset: FigshareDataset,
    failing: str,
) -> None:
    (eras if failing == "ERAS" else figshare).faults.inject("", status=503, body=b"{}")
    result = gateway.query(BOTH)
    [error] = result["errors"]
    assert error["extensions"] == {"code": "UPSTREAM_UNAVAILABLE", "source": failing, "upstreamStatus": 503}
    classifications = result["data"]["zooniverse"]["classifications"]
    views = result["data"]["figshare"]["article"]["views"]["total"]
    if failing == "ERAS":
        assert classifications is None
        assert views == all_time_views(figshare_dataset)
    else:
        assert classifications == {"total": len(eras_dataset.classifications)}
        assert views is None
    # The failing source was asked once and retried twice (GATEWAY_UPSTREAM_RETRIES).
    assert len(eras.log) == (3 if failing == "ERAS" else 1)
    assert len(figshare.log) == (3 if failing == "FIGSHARE" else 1)
