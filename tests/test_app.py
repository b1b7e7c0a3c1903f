"""HTTP surface: the GraphQL endpoint (POST, GET, GraphiQL), health, readiness and error codes."""

from __future__ import annotations

import re
from typing import Any

import pytest
import strawberry

from gateway.errors import BadUserInput, graphql_error
from tests.conftest import Gateway, codes, data_of


def test_healthz_and_readyz(gateway: Gateway) -> None:
    assert gateway.http.get("/healthz").json() == {"status": "ok"}
    ready = gateway.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_graphiql_for_browsers_is_served_whole_by_the_gateway(gateway: Gateway) -> None:
    page = gateway.http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "GraphiQL" in page.text
    scripts = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(scripts) == 4
    for path in scripts:
        assert path.startswith("/static/graphiql/")  # nothing from a CDN: it works offline
        asset = gateway.http.get(path)
        assert asset.status_code == 200
        assert len(asset.content) > 1000


def test_queries_over_get(gateway: Gateway, eras: Any) -> None:
    response = gateway.http.get("/graphql", params={"query": '{ zooniverse { project(id: "335") { id } } }'})
    assert response.json() == {"data": {"zooniverse": {"project": {"id": "335"}}}}
    assert len(eras.log) == 0  # ids alone cost nothing upstream


def test_mutations_are_not_served(gateway: Gateway) -> None:
    response = gateway.post("mutation { x }")
    assert response.status_code in (200, 400)
    assert "errors" in response.json()


def test_unknown_fields_fail_validation_with_a_code(gateway: Gateway) -> None:
    result = gateway.query("{ zooniverse { nope } }")
    assert codes(result) == ["GRAPHQL_VALIDATION_FAILED"]


def test_bad_variable_types_are_bad_user_input(gateway: Gateway) -> None:
    result = gateway.query(
        "query($p: Period!) { zooniverse { classifications { series(period: $p) { count } } } }",
        {"p": "HOUR"},
    )
    assert codes(result) == ["BAD_USER_INPUT"]


def test_public_answers_are_cacheable_by_routers(gateway: Gateway) -> None:
    response = gateway.post('{ zooniverse { classifications(endDate: "2025-01-01") { total } } }')
    assert response.headers["cache-control"].startswith("public, max-age=")
    failed = gateway.post('{ zooniverse { classifications(startDate: "bad") { total } } }')
    assert failed.headers["cache-control"] == "no-store"


def test_trace_lists_each_upstream_call_without_credentials(gateway: Gateway) -> None:
    result = gateway.query(
        '{ zooniverse { classifications { total } } figshare { article(id: "766364") { views { total } } } }',
        x_stats_trace="1",
        Authorization="Bearer trace-secret",
    )
    data_of(result)
    trace = result["extensions"]["statsTrace"]
    assert sorted(t["source"] for t in trace) == ["ERAS", "FIGSHARE"]
    assert {t["cache"] for t in trace} == {"miss"}
    assert "trace-secret" not in str(result)


# ------------------------------------------------------------------ error codes


@strawberry.type
class _Query:
    @strawberry.field
    def bad(self) -> int | None:
        raise BadUserInput("no good", argument="x")

    @strawberry.field
    def broken(self) -> int | None:
        raise RuntimeError("internal detail: /etc/passwd")

    @strawberry.field
    def fine(self) -> int:
        return 1


@pytest.fixture
def error_schema() -> strawberry.Schema:
    return strawberry.Schema(query=_Query)


def test_gateway_errors_get_their_code_and_others_are_masked(error_schema: strawberry.Schema) -> None:
    result = error_schema.execute_sync("{ bad broken fine }")
    assert result.data == {"bad": None, "broken": None, "fine": 1}
    by_path = {e.path[0]: graphql_error(e) for e in result.errors or []}
    assert by_path["bad"].extensions == {"code": "BAD_USER_INPUT", "argument": "x"}
    assert by_path["broken"].extensions == {"code": "INTERNAL_SERVER_ERROR"}
    assert "passwd" not in by_path["broken"].message


def test_browsers_may_call_from_other_origins(gateway: Gateway) -> None:
    preflight = gateway.http.options(
        "/graphql",
        headers={
            "Origin": "https://app.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-figshare-authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", "https://app.example.org")
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "x-figshare-authorization" in allowed


def test_operations_are_bounded_before_any_request(make_gateway: Any, eras: Any) -> None:
    gateway = make_gateway(max_aliases=3, max_depth=5)
    many = "{ zooniverse { %s } }" % " ".join(f"a{i}: classifications {{ total }}" for i in range(4))
    assert codes(gateway.query(many)) == ["GRAPHQL_VALIDATION_FAILED"]
    deep = '{ zooniverse { userGroup(id: "42") { classifications { projectContributions { project { classifications { total } } } } } } }'
    assert codes(gateway.query(deep)) == ["GRAPHQL_VALIDATION_FAILED"]
    assert len(eras.log) == 0
