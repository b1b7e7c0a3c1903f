"""`stats-gateway serve --demo` works offline and answers the README's example queries with data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.examples import EXAMPLES, demo_headers
from tests.demo_process import ROOT, DemoGateway, demo_gateway, emptiness

# A runnable example: a ```graphql block, optionally followed by its variables in a ```json block.
README_EXAMPLE = re.compile(r"```graphql\n(.*?)```\n(?:\nVariables:\n\n```json\n(.*?)```\n)?", re.S)


def readme_examples() -> list[tuple[str, dict[str, Any] | None]]:
    """The README's runnable examples, in order: (query, variables)."""
    text = (ROOT / "README.md").read_text()
    return [
        (query, json.loads(variables) if variables else None)
        for query, variables in README_EXAMPLE.findall(text)
    ]


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoGateway]:
    with demo_gateway() as running:
        yield running


def test_demo_prints_where_to_go_and_what_to_paste(demo: DemoGateway) -> None:
    assert f"{demo.url}/graphql" in demo.banner
    assert "Bearer demo-token-volunteer" in demo.banner
    assert "X-Figshare-Authorization: Basic " in demo.banner
    # The banner, GraphiQL's first tab and the README's first example are one text.
    assert EXAMPLES[0].query in demo.banner


def test_the_readme_shows_exactly_the_examples_in_order() -> None:
    shown = readme_examples()
    assert shown == [(e.query, e.variables) for e in EXAMPLES]
    assert any(variables for _, variables in shown)  # one of them shows how variables are passed
    readme = (ROOT / "README.md").read_text()
    for name, value in demo_headers().items():
        assert f"{name}: {value}" in readme  # the headers the examples need are given


def test_demo_answers_every_readme_example_with_data(demo: DemoGateway) -> None:
    examples = readme_examples()
    assert len(examples) >= 5
    with httpx.Client(base_url=demo.url, timeout=30, trust_env=False) as client:
        for query, variables in examples:
            response = client.post(
                "/graphql", json={"query": query, "variables": variables}, headers=demo_headers()
            )
            assert response.status_code == 200, response.text
            result = response.json()
            assert "errors" not in result, (query, result["errors"])
            assert result["data"]
            assert emptiness(result["data"]) == [], query


def test_emptiness_finds_what_is_missing() -> None:
    assert emptiness({"a": {"total": 3, "series": [{"count": 0}]}}) == []
    assert emptiness({"a": {"total": 0, "series": [], "b": None}}) == [
        "data.a.total is 0",
        "data.a.series is empty",
        "data.a.b is null",
    ]


def test_graphiql_is_served(demo: DemoGateway) -> None:
    with httpx.Client(base_url=demo.url, timeout=30, trust_env=False) as client:
        page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    assert '"defaultTabs"' in page.text
