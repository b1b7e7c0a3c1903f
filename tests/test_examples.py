"""The example queries and the client recipes in examples/, run against the demo gateway.

Each example answers with data in the demo, today and on later days, with the headers it says it
needs and no others. The recipes run as a user would run them: the Python report (httpx + pandas)
writes a CSV consistent with a direct query, the fetch client prints the volunteer's stats, and
Apollo Client with automatic persisted queries gets the same answer twice, the second time by
hash alone. The persisted-query protocol itself is checked too (CONTRACT.md "Persisted queries").

The Node.js recipes need Node.js 20+ and `npm ci --prefix examples/js`; without them these tests
fail, they are never skipped.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.emulators.eras import build_eras_emulator
from gateway.emulators.eras_data import ErasDataset, utc_today
from gateway.emulators.figshare import build_figshare_emulator
from gateway.emulators.figshare_data import FigshareDataset
from gateway.emulators.server import LoopbackServer
from gateway.examples import ARTICLE_REPORT, EXAMPLES, PROJECT_PAGE, Example, demo_headers
from gateway.settings import Settings
from tests.demo_process import ROOT, DemoGateway, demo_gateway, emptiness

EXAMPLES_DIR = ROOT / "examples"
JS_DIR = EXAMPLES_DIR / "js"
RUN_LIMIT_S = 60
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoGateway]:
    with demo_gateway() as running:
        yield running


@pytest.fixture(scope="module")
def http(demo: DemoGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.url, timeout=30, trust_env=False) as client:
        yield client


def post(http: httpx.Client, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = http.post("/graphql", json=body, headers=headers or {})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def codes(result: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in result.get("errors", [])]


# ---------------------------------------------------------------- the examples


def test_the_examples_are_named_and_the_default_needs_no_variables() -> None:
    names = [e.name for e in EXAMPLES]
    assert len(set(names)) == len(names)
    for example in EXAMPLES:
        assert re.match(rf"query {example.name}\b", example.query), example.name
        assert set(example.needs_headers) <= set(demo_headers())
    # GraphiQL 3 fills the variables editor from a tab only when that tab is chosen, so the tab it
    # opens on must not need any.
    assert EXAMPLES[0].variables is None
    assert any(e.variables for e in EXAMPLES)


def test_every_example_answers_with_data_given_only_the_headers_it_names(http: httpx.Client) -> None:
    for example in EXAMPLES:
        body = {"query": example.query, "variables": example.variables}
        given = {name: demo_headers()[name] for name in example.needs_headers}
        result = post(http, body, given)
        assert "errors" not in result, (example.name, result["errors"])
        assert emptiness(result["data"]) == [], example.name
        if example.needs_headers:
            without = post(http, body)
            assert set(codes(without)) == {"UNAUTHENTICATED"}, example.name


def _later_days(today: date) -> list[date]:
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    return [next_month, today + timedelta(days=366), today + timedelta(days=5 * 365)]


@pytest.mark.parametrize("day", _later_days(utc_today()), ids=str)
def test_the_examples_keep_their_data_on_later_days(day: date) -> None:
    """The demo's data end on the day it starts: the examples' fixed dates must stay covered."""

    def clock() -> date:
        return day

    with ExitStack() as stack:
        eras = stack.enter_context(build_eras_emulator(ErasDataset.generate(end=day), today=clock).serve())
        figshare = stack.enter_context(
            build_figshare_emulator(FigshareDataset.generate(end=day), today=clock).serve()
        )
        settings = Settings(eras_url=eras.url, figshare_url=figshare.url, cache_url="none://")
        server = stack.enter_context(LoopbackServer(create_app(settings, today=clock)))
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
            for example in EXAMPLES:
                result = post(
                    client, {"query": example.query, "variables": example.variables}, demo_headers()
                )
                assert "errors" not in result, (day, example.name, result["errors"])
                assert emptiness(result["data"]) == [], (day, example.name)


# ---------------------------------------------------------------- the Python report


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "STATS_"))}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        env={**clean, **(env or {})},
        cwd=ROOT,
        check=False,
    )


def report_args(demo: DemoGateway, out: Path, *extra: str) -> list[str]:
    variables = ARTICLE_REPORT.variables or {}
    return [
        sys.executable,
        str(EXAMPLES_DIR / "python" / "report.py"),
        "--url",
        demo.graphql_url,
        "--out",
        str(out),
        "--article",
        variables["article"],
        "--start",
        variables["start"],
        *extra,
    ]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_the_report_asks_the_readme_query() -> None:
    spec = importlib.util.spec_from_file_location("report", EXAMPLES_DIR / "python" / "report.py")
    assert spec is not None
    assert spec.loader is not None
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    asked: str = report.QUERY
    assert asked == ARTICLE_REPORT.query


def check_report(rows: list[dict[str, str]], article: dict[str, Any]) -> None:
    """The CSV holds every bucket of both series, and its columns add up to the totals."""
    assert rows, "the report is empty"
    assert list(rows[0]) == ["start", "views", "downloads"]
    starts = sorted({b["start"] for c in ("views", "downloads") for b in article[c]["series"]})
    assert [r["start"] for r in rows] == starts
    for counter in ("views", "downloads"):
        by_start = {b["start"]: b["count"] for b in article[counter]["series"]}
        assert [int(r[counter]) for r in rows] == [by_start.get(s, 0) for s in starts]
        assert sum(int(r[counter]) for r in rows) == article[counter]["total"] > 0


def test_the_python_report_writes_a_csv_that_matches_the_gateway(
    demo: DemoGateway, http: httpx.Client, tmp_path: Path
) -> None:
    out = tmp_path / "report.csv"
    done = run(report_args(demo, out))
    assert done.returncode == 0, done.stderr
    direct = post(http, {"query": ARTICLE_REPORT.query, "variables": ARTICLE_REPORT.variables})
    article = direct["data"]["figshare"]["article"]
    check_report(read_csv(out), article)
    summary = done.stdout.strip()
    assert "\n" not in summary
    assert f"{article['views']['total']} views" in summary
    assert f"{article['downloads']['total']} downloads" in summary
    assert str(out) in summary


def test_the_python_report_takes_credentials_from_the_environment(
    demo: DemoGateway, http: httpx.Client, tmp_path: Path
) -> None:
    out = tmp_path / "lboro.csv"
    args = report_args(demo, out, "--institution", "lboro", "--period", "WEEK")
    refused = run(args)
    assert refused.returncode != 0
    assert "UNAUTHENTICATED" in refused.stderr
    assert not out.exists()

    credential = demo_headers()["X-Figshare-Authorization"]
    done = run(args, {"STATS_FIGSHARE_AUTH": credential})
    assert done.returncode == 0, done.stderr
    variables = {**(ARTICLE_REPORT.variables or {}), "institution": "lboro", "period": "WEEK"}
    direct = post(
        http,
        {"query": ARTICLE_REPORT.query, "variables": variables},
        {"X-Figshare-Authorization": credential},
    )
    check_report(read_csv(out), direct["data"]["figshare"]["article"])


# ---------------------------------------------------------------- the Node.js recipes


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("Node.js is missing: the client recipes need Node.js 20+ (apt-get install -y nodejs npm)")
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True).stdout
    assert int(version.strip().lstrip("v").split(".")[0]) >= 20, f"Node.js 20+ needed, found {version}"
    return found


def node_modules() -> None:
    if shutil.which("npm") is None:
        pytest.fail("npm is missing: install it with Node.js, then run npm ci --prefix examples/js")
    if not (JS_DIR / "node_modules" / "@apollo" / "client").is_dir():
        pytest.fail("the recipes' packages are missing: run npm ci --prefix examples/js")


def test_the_fetch_client_prints_the_volunteers_stats(demo: DemoGateway, http: httpx.Client) -> None:
    script = str(JS_DIR / "fetch_client.mjs")
    env = {"STATS_GATEWAY_URL": demo.graphql_url, "STATS_TOKEN": "demo-token-volunteer"}
    done = run([node(), script], env)
    assert done.returncode == 0, done.stdout + done.stderr
    printed = json.loads(done.stdout)
    assert "errors" not in printed
    assert emptiness(printed["data"]) == []
    stats = printed["data"]["zooniverse"]["user"]["classifications"]
    direct = post(http, {"query": _volunteer_total()}, demo_headers())
    assert stats["total"] == direct["data"]["zooniverse"]["user"]["classifications"]["total"] > 0

    refused = run([node(), script], {"STATS_GATEWAY_URL": demo.graphql_url})
    assert refused.returncode == 1
    assert codes(json.loads(refused.stdout)) == ["UNAUTHENTICATED"]


def _volunteer_total() -> str:
    return (
        '{ zooniverse { user(id: "1325316") { '
        'classifications(startDate: "2026-11-01", endDate: "2026-11-30") { total } } } }'
    )


def without_typenames(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_typenames(v) for k, v in value.items() if k != "__typename"}
    if isinstance(value, list):
        return [without_typenames(v) for v in value]
    return value


def test_apollo_client_with_persisted_queries_gets_the_same_answer_twice(
    demo: DemoGateway, http: httpx.Client
) -> None:
    node_modules()
    env = {"STATS_GATEWAY_URL": demo.graphql_url, "STATS_TRACE": "1"}
    done = run([node(), str(JS_DIR / "apollo_client.mjs")], env)
    assert done.returncode == 0, done.stdout + done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first == second
    assert emptiness(first) == []
    # The hash alone, unknown to this fresh demo; then the hash with the query; then the hash
    # alone, answered.
    assert done.stderr.splitlines() == [
        "first run:",
        "GET hash only",
        "POST hash and query",
        "second run:",
        "GET hash only",
    ]
    direct = post(
        http,
        {
            "query": 'query { zooniverse { project(id: "1234") { classifications(startDate: "2026-01-01", '
            'endDate: "2026-11-30") { total series(period: MONTH) { start count } } } } }'
        },
    )
    assert without_typenames(first) == direct["data"]


# ---------------------------------------------------------------- the persisted-query protocol


def persisted(query_hash: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": query_hash}}


def fresh(example: Example) -> tuple[str, str]:
    """The example's query made new to the gateway (a unique comment), and its sha256."""
    query = f"# {uuid.uuid4()}\n{example.query}"
    return query, hashlib.sha256(query.encode()).hexdigest()


def test_an_unknown_hash_alone_is_not_found(http: httpx.Client) -> None:
    _, query_hash = fresh(PROJECT_PAGE)
    by_post = post(http, {"extensions": persisted(query_hash)})
    assert codes(by_post)[:1] == [NOT_FOUND]
    assert by_post.get("data") is None
    by_get = http.get("/graphql", params={"extensions": json.dumps(persisted(query_hash))})
    assert by_get.status_code == 200, by_get.text
    assert codes(by_get.json())[:1] == [NOT_FOUND]


def test_a_hash_with_its_query_is_registered_then_answered_by_hash_alone(http: httpx.Client) -> None:
    query, query_hash = fresh(ARTICLE_REPORT)
    variables = ARTICLE_REPORT.variables
    expected = post(http, {"query": query, "variables": variables})["data"]
    assert emptiness(expected) == []

    registered = post(http, {"query": query, "variables": variables, "extensions": persisted(query_hash)})
    assert "errors" not in registered, registered["errors"]
    assert registered["data"] == expected

    by_post = post(http, {"variables": variables, "extensions": persisted(query_hash)})
    assert "errors" not in by_post, by_post["errors"]
    assert by_post["data"] == expected

    params = {
        "variables": json.dumps(variables),
        "operationName": ARTICLE_REPORT.name,
        "extensions": json.dumps(persisted(query_hash)),
    }
    by_get = http.get("/graphql", params=params)
    assert by_get.status_code == 200, by_get.text
    assert "errors" not in by_get.json(), by_get.json()["errors"]
    assert by_get.json()["data"] == expected


def test_a_hash_that_is_not_the_querys_sha256_is_refused(http: httpx.Client) -> None:
    query, _ = fresh(PROJECT_PAGE)
    _, wrong_hash = fresh(PROJECT_PAGE)
    response = http.post("/graphql", json={"query": query, "extensions": persisted(wrong_hash)})
    assert response.status_code in (200, 400), response.text
    refused = response.json()
    assert refused.get("errors"), refused
    assert refused.get("data") is None  # nothing executed
    # Nor was the query registered under the wrong hash.
    assert codes(post(http, {"extensions": persisted(wrong_hash)}))[:1] == [NOT_FOUND]
