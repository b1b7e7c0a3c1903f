"""The gateway as an Apollo Federation v2 subgraph, proven through real Apollo tooling.

The first tests ask the subgraph directly (``_service``, ``_entities``). The others compose it with a
small catalogue subgraph (tests/federation/catalogue.mjs) using @apollo/composition, serve the
supergraph through @apollo/gateway, and run queries that need both subgraphs. They need Node.js and
the packages pinned in tests/federation/package.json: ``npm ci --prefix tests/federation``. Without
them they fail; they are never skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import ObjectTypeDefinitionNode, StringValueNode, parse

from gateway.app import create_app
from gateway.emulators import eras_data, figshare_data
from gateway.emulators.recorder import EmulatorApp, RecordedRequest
from gateway.schema import schema as stats_schema
from gateway.settings import Settings
from tests.conftest import Gateway, Upstream, codes, data_of, fixed_today

FEDERATION_DIR = Path(__file__).parent / "federation"
FEDERATION_NODE_MODULES = FEDERATION_DIR / "node_modules"
INSTALL_HINT = "run npm ci --prefix tests/federation"

START_TIMEOUT_S = 30.0
"""Longest wait for a Node.js program to print its readiness line, or for composition to end."""

ENTITIES = (
    "ZooniverseProject",
    "ZooniverseWorkflow",
    "ZooniverseUser",
    "ZooniverseUserGroup",
    "FigshareArticle",
    "FigshareAuthor",
    "FigshareCollection",
    "FigshareGroup",
    "FigshareProject",
)

PROJECT_IDS = ("1234", "335", "1613")
ARTICLE_IDS = tuple(str(a) for a in figshare_data.DEMO_ARTICLE_IDS)
# What the catalogue (tests/federation/catalogue.mjs) says about them.
PROJECT_NAMES = {"1234": "Galaxy Census", "335": "Savanna Camera Traps", "1613": "Penguin Colony Watch"}
ARTICLE_TITLES = {
    "766364": "Soil moisture readings, 2019-2024",
    "766365": "Coastal erosion survey images",
    "766366": "Code for the erosion model",
}
WINDOW = {"start": "2026-01-01", "end": "2026-10-31"}

BEARER = f"Bearer {eras_data.VOLUNTEER_TOKEN}"
LBORO_BASIC = figshare_data.basic_header(*figshare_data.DEMO_INSTITUTIONS["lboro"])


def sdl_types(sdl: str) -> dict[str, ObjectTypeDefinitionNode]:
    return {d.name.value: d for d in parse(sdl).definitions if isinstance(d, ObjectTypeDefinitionNode)}


def key_fields(node: ObjectTypeDefinitionNode) -> list[str]:
    return [
        arg.value.value
        for d in node.directives or ()
        if d.name.value == "key"
        for arg in d.arguments or ()
        if arg.name.value == "fields" and isinstance(arg.value, StringValueNode)
    ]


Call = tuple[str, str, tuple[tuple[str, str], ...]]


def call(path: str, method: str = "GET", **params: str) -> Call:
    """An upstream request as ``upstream_calls`` counts it."""
    return method, path, tuple(sorted(params.items()))


def upstream_calls(upstream: Upstream) -> Counter[Call]:
    """How many times the emulator received each request (method, path and query parameters)."""
    return Counter(call(r.path, r.method, **r.params) for r in upstream.log.requests)


# ---------------------------------------------------------------- the subgraph on its own


def test_service_sdl_is_a_federation_v2_subgraph_with_the_contract_entities(gateway: Gateway) -> None:
    sdl = data_of(gateway.query("{ _service { sdl } }"))["_service"]["sdl"]

    assert re.search(r'@link\(url: "https://specs\.apollo\.dev/federation/v2\.\d+"', sdl), sdl[:300]
    types = sdl_types(sdl)
    for name in ENTITIES:
        assert key_fields(types[name]) == ["id"], name
    entity_union = re.search(r"^union _Entity = (.*)$", sdl, re.MULTILINE)
    assert entity_union is not None
    assert sorted(entity_union.group(1).split(" | ")) == sorted(ENTITIES)


def test_entities_resolve_many_representations_with_one_request_per_parameter_set(
    gateway: Gateway, eras: Upstream, figshare: Upstream
) -> None:
    representations = [
        *({"__typename": "ZooniverseProject", "id": p} for p in (*PROJECT_IDS, "1234")),
        {"__typename": "ZooniverseWorkflow", "id": "5678"},
        *({"__typename": "FigshareArticle", "id": a} for a in (*ARTICLE_IDS, "766364")),
        *({"__typename": "FigshareGroup", "id": str(g)} for g in figshare_data.DEMO_GROUP_IDS),
    ]
    result = gateway.query(
        """
        query Entities($representations: [_Any!]!, $start: Date, $end: Date) {
          _entities(representations: $representations) {
            __typename
            ... on ZooniverseProject {
              id
              classifications(startDate: $start, endDate: $end) { total series(period: MONTH) { start count } }
            }
            ... on ZooniverseWorkflow { id classifications(startDate: $start, endDate: $end) { total } }
            ... on FigshareArticle { id views { total } downloads { total } }
            ... on FigshareGroup { id publicArticleCount }
          }
        }
        """,
        {"representations": representations, **WINDOW},
    )
    entities = data_of(result)["_entities"]

    assert [(e["__typename"], e["id"]) for e in entities] == [
        (r["__typename"], r["id"]) for r in representations
    ]
    projects = [e for e in entities if e["__typename"] == "ZooniverseProject"]
    assert projects[0] == projects[-1]  # 1234 asked twice, answered alike
    for project in projects:
        series = project["classifications"]["series"]
        assert series
        assert sum(b["count"] for b in series) == project["classifications"]["total"]
    assert all(e["views"]["total"] > 0 for e in entities if e["__typename"] == "FigshareArticle")
    assert all(e["publicArticleCount"] >= 1 for e in entities if e["__typename"] == "FigshareGroup")

    # One upstream request per distinct parameter set: the repeated representations and the
    # sibling fields (total and series) share theirs, and the groups are counted in one POST.
    window = {"start_date": WINDOW["start"], "end_date": WINDOW["end"]}
    assert upstream_calls(eras) == Counter(
        [
            *(call("/classifications", project_id=p, period="month", **window) for p in PROJECT_IDS),
            call("/classifications", workflow_id="5678", **window),
        ]
    )
    assert upstream_calls(figshare) == Counter(
        [
            *(call(f"/total/{c}/article/{a}") for a in ARTICLE_IDS for c in ("views", "downloads")),
            call("/count/articles", method="POST"),
        ]
    )


def test_entities_fail_one_representation_without_failing_the_others(
    gateway: Gateway, eras: Upstream
) -> None:
    result = gateway.query(
        """
        query Entities($representations: [_Any!]!) {
          _entities(representations: $representations) {
            ... on ZooniverseProject { id comments { total } }
          }
        }
        """,
        {
            "representations": [
                {"__typename": "ZooniverseProject", "id": "1234"},
                {"__typename": "ZooniverseProject", "id": "not-a-number"},
            ]
        },
    )

    assert codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["path"] == ["_entities", 1]
    first, second = result["data"]["_entities"]
    assert first["id"] == "1234"
    assert first["comments"]["total"] > 0
    assert second is None
    assert [r.params for r in eras.log.requests] == [{"project_id": "1234"}]


# ---------------------------------------------------------------- Node.js programs


def require_node_tooling() -> str:
    """The ``node`` executable; fails (never skips) when Node.js or the Apollo packages are missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"Node.js (node) is not on PATH: install Node.js 20 or later, then {INSTALL_HINT}")
    manifest = json.loads((FEDERATION_DIR / "package.json").read_text())
    missing = [
        name
        for name in manifest["dependencies"]
        if not (FEDERATION_NODE_MODULES / name / "package.json").is_file()
    ]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed in {FEDERATION_NODE_MODULES}: {INSTALL_HINT}")
    return node


def node_env() -> dict[str, str]:
    """The environment without Apollo's GraphOS settings, so nothing reports anywhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith("APOLLO_")}


class NodeProgram:
    """A Node.js program run from tests/federation, its stdout and stderr read line by line."""

    def __init__(self, node: str, script: str, *args: str) -> None:
        self.name = script
        self.process = subprocess.Popen(
            [node, script, *args],
            cwd=FEDERATION_DIR,
            env=node_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"read:{script}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT_S) -> re.Match[str]:
        """The first output line matching ``pattern``; fails if the program ends or times out first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"{self.name} printed no line matching {pattern!r} in {timeout} s:\n{self.log}")
            if line is None:
                code = self.process.wait(timeout=10)
                pytest.fail(f"{self.name} exited with status {code} before it was ready:\n{self.log}")
            self.output.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    @property
    def log(self) -> str:
        return "\n".join(self.output)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def serve(stack: contextlib.ExitStack, node: str, script: str, *args: str) -> str:
    """Start a server program and return the URL from its readiness line."""
    program = NodeProgram(node, script, *args)
    stack.callback(program.stop)
    return program.wait_for(r"ready at (http://127\.0\.0\.1:\d+/\S*)").group(1)


def compose(node: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node, "compose.mjs", "--out", str(out), *args],
        cwd=FEDERATION_DIR,
        env=node_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )


@dataclass
class Federation:
    """The catalogue, our gateway as the ``stats`` subgraph, and an Apollo gateway in front."""

    router: httpx.Client
    subgraph: EmulatorApp
    """Our gateway's app wrapped in a recorder: every request it received, with headers and body."""
    subgraph_url: str
    catalogue_url: str
    supergraph: str
    eras: Upstream
    figshare: Upstream

    def post(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        """Ask the Apollo gateway."""
        return self.router.post(
            "/", json={"query": query, "variables": variables or {}}, headers=header_names(headers)
        )

    def query(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> dict[str, Any]:
        response = self.post(query, variables, **headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def direct(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        """Ask our subgraph itself, not through the Apollo gateway."""
        response = httpx.post(
            self.subgraph_url,
            json={"query": query, "variables": variables or {}},
            headers=header_names(headers),
            timeout=30,
            trust_env=False,
        )
        assert response.status_code == 200, response.text
        return response

    def clear_logs(self) -> None:
        for log in (self.subgraph.log, self.eras.log, self.figshare.log):
            log.clear()

    def received(self) -> list[tuple[RecordedRequest, dict[str, Any]]]:
        """The GraphQL requests our subgraph received, with their JSON bodies."""
        return [(r, json.loads(r.body)) for r in self.subgraph.log.matching("/graphql", method="POST")]

    def entity_calls(self) -> list[dict[str, Any]]:
        """The bodies of the ``_entities`` requests our subgraph received."""
        return [body for _, body in self.received() if "_entities" in body["query"]]


def header_names(given: dict[str, str]) -> dict[str, str]:
    return {name.replace("_", "-"): value for name, value in given.items()}


@pytest.fixture(scope="module")
def _federation(
    _eras_server: Upstream, _figshare_server: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Federation]:
    node = require_node_tooling()
    with contextlib.ExitStack() as stack:
        settings = Settings(
            eras_url=_eras_server.url,
            figshare_url=_figshare_server.url,
            cache_url="none://",  # every upstream request shows in the emulators' logs
            cache_secret="test-secret",
        )
        subgraph = EmulatorApp.wrap(create_app(settings, today=fixed_today))
        server = subgraph.serve()
        stack.callback(server.stop)
        subgraph_url = f"{server.url}/graphql"

        catalogue_url = serve(stack, node, "catalogue.mjs")
        supergraph_path = tmp_path_factory.mktemp("federation") / "supergraph.graphql"
        composed = compose(
            node,
            supergraph_path,
            "--subgraph",
            f"stats={subgraph_url}",
            "--subgraph",
            f"catalogue={catalogue_url}",
        )
        assert composed.returncode == 0, composed.stderr + composed.stdout
        router_url = serve(stack, node, "gateway.mjs", "--supergraph", str(supergraph_path))
        router = stack.enter_context(httpx.Client(base_url=router_url, timeout=30, trust_env=False))
        yield Federation(
            router,
            subgraph,
            subgraph_url,
            catalogue_url,
            supergraph_path.read_text(),
            _eras_server,
            _figshare_server,
        )


@pytest.fixture
def federation(_federation: Federation, eras: Upstream, figshare: Upstream) -> Federation:
    """The federation with every request log empty."""
    _federation.clear_logs()
    return _federation


def max_age(cache_control: str | None) -> int:
    found = re.search(r"max-age=(\d+)", cache_control or "")
    assert found, cache_control
    return int(found.group(1))


# ---------------------------------------------------------------- composition


@pytest.mark.federation
def test_composition_joins_both_subgraphs_on_the_shared_entities(federation: Federation) -> None:
    types = sdl_types(federation.supergraph)

    def joined(type_name: str) -> set[tuple[str, str]]:
        pairs = set()
        for d in types[type_name].directives or ():
            if d.name.value == "join__type":
                args = {a.name.value: getattr(a.value, "value", None) for a in d.arguments or ()}
                pairs.add((str(args["graph"]), str(args.get("key"))))
        return pairs

    for name in ENTITIES:
        assert ("STATS", "id") in joined(name), name
    assert ("CATALOGUE", "id") in joined("ZooniverseProject")
    assert ("CATALOGUE", "id") in joined("FigshareArticle")
    assert f'url: "{federation.subgraph_url}"' in federation.supergraph
    assert f'url: "{federation.catalogue_url}"' in federation.supergraph


@pytest.mark.federation
def test_composition_failure_is_reported_with_a_non_zero_status(tmp_path: Path) -> None:
    node = require_node_tooling()
    conflicting = tmp_path / "conflicting.graphql"
    conflicting.write_text(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])\n'
        "type Query { projects: [ZooniverseProject!]! }\n"
        'type ZooniverseProject @key(fields: "id") { id: ID! classifications: Int }\n'
    )
    stats_sdl = tmp_path / "stats.graphql"
    sdl = stats_schema.execute_sync("{ _service { sdl } }").data
    assert sdl is not None
    stats_sdl.write_text(sdl["_service"]["sdl"])
    out = tmp_path / "supergraph.graphql"

    composed = compose(
        node,
        out,
        "--subgraph",
        "stats=http://127.0.0.1:9/graphql",
        "--sdl",
        f"stats={stats_sdl}",
        "--subgraph",
        "other=http://127.0.0.1:9/other",
        "--sdl",
        f"other={conflicting}",
    )

    assert composed.returncode == 1, composed.stdout + composed.stderr
    assert "composition failed" in composed.stderr
    assert "ZooniverseProject.classifications" in composed.stderr
    assert not out.exists()


# ---------------------------------------------------------------- queries through the Apollo gateway

PROJECT_STATS = (
    "classifications(startDate: $start, endDate: $end) { total series(period: MONTH) { start count } }"
)
ARTICLE_STATS = "views(startDate: $start, endDate: $end) { total series(period: MONTH) { start count } }"


def by_root_fields(kind: str, ids: tuple[str, ...], selection: str) -> str:
    """One query asking our subgraph's own root fields for each id, aliased ``i0``, ``i1``, ..."""
    root = "zooniverse" if kind == "project" else "figshare"
    fields = " ".join(f'i{n}: {kind}(id: "{i}") {{ id {selection} }}' for n, i in enumerate(ids))
    return f"query Direct($start: Date, $end: Date) {{ {root} {{ {fields} }} }}"


def aliased(data: dict[str, Any], ids: tuple[str, ...]) -> list[Any]:
    (scope,) = data.values()
    return [scope[f"i{n}"] for n in range(len(ids))]


@pytest.mark.federation
def test_project_list_with_classification_series_needs_both_subgraphs(federation: Federation) -> None:
    direct = federation.direct(by_root_fields("project", PROJECT_IDS, PROJECT_STATS), WINDOW)
    expected = aliased(data_of(direct.json()), PROJECT_IDS)
    direct_calls = upstream_calls(federation.eras)
    federation.clear_logs()

    result = federation.query(
        f"query Projects($start: Date, $end: Date) {{ featuredProjects {{ id name {PROJECT_STATS} }} }}",
        WINDOW,
    )

    projects = data_of(result)["featuredProjects"]
    assert [p["name"] for p in projects] == [PROJECT_NAMES[p] for p in PROJECT_IDS]  # the catalogue's
    assert [{k: v for k, v in p.items() if k != "name"} for p in projects] == expected  # ours
    assert all(p["classifications"]["series"] for p in projects)
    # The router asked our subgraph once, for all three projects, and the stats took no more
    # upstream requests than the same stats asked directly: one per project.
    (call,) = federation.entity_calls()
    assert call["variables"]["representations"] == [
        {"__typename": "ZooniverseProject", "id": p} for p in PROJECT_IDS
    ]
    assert len(federation.received()) == 1
    assert upstream_calls(federation.eras) == direct_calls
    assert sorted(dict(params)["project_id"] for _, _, params in direct_calls) == sorted(PROJECT_IDS)


@pytest.mark.federation
def test_article_list_with_views_needs_both_subgraphs(federation: Federation) -> None:
    direct = federation.direct(by_root_fields("article", ARTICLE_IDS, ARTICLE_STATS), WINDOW)
    expected = aliased(data_of(direct.json()), ARTICLE_IDS)
    direct_calls = upstream_calls(federation.figshare)
    federation.clear_logs()

    result = federation.query(
        f"query Articles($start: Date, $end: Date) {{ featuredArticles {{ id title {ARTICLE_STATS} }} }}",
        WINDOW,
    )

    articles = data_of(result)["featuredArticles"]
    assert [a["title"] for a in articles] == [ARTICLE_TITLES[a] for a in ARTICLE_IDS]
    assert [{k: v for k, v in a.items() if k != "title"} for a in articles] == expected
    assert all(a["views"]["total"] > 0 and a["views"]["series"] for a in articles)
    (call,) = federation.entity_calls()
    assert call["variables"]["representations"] == [
        {"__typename": "FigshareArticle", "id": a} for a in ARTICLE_IDS
    ]
    assert upstream_calls(federation.figshare) == direct_calls
    assert all(n == 1 for n in direct_calls.values())


@pytest.mark.federation
def test_each_entity_type_reaches_our_subgraph_in_one_batched_request(federation: Federation) -> None:
    result = federation.query(
        """
        query Catalogue {
          featuredProjects(limit: 8) { id name comments { total } }
          featuredArticles { id title downloads { total } }
        }
        """
    )

    data = data_of(result)
    assert len(data["featuredProjects"]) == 8
    assert all(p["comments"]["total"] >= 0 for p in data["featuredProjects"])
    assert all(a["downloads"]["total"] > 0 for a in data["featuredArticles"])
    calls = federation.entity_calls()
    assert len(federation.received()) == len(calls) == 2
    batches = sorted(
        (representations[0]["__typename"], len(representations))
        for representations in (c["variables"]["representations"] for c in calls)
        if len({r["__typename"] for r in representations}) == 1
    )
    assert batches == [("FigshareArticle", 3), ("ZooniverseProject", 8)]
    assert len(federation.eras.log) == 8
    assert len(federation.figshare.log) == 3


CREDENTIALED = """
query Mine($user: ID!, $start: Date, $end: Date) {
  zooniverse {
    user(id: $user) {
      classifications { total projectContributions { project { id name } count } }
    }
  }
  figshare(institution: "lboro") {
    article(id: "766364") { views(startDate: $start, endDate: $end) { series(period: MONTH) { start count } } }
  }
}
"""
CREDENTIALED_VARIABLES = {"user": str(eras_data.VOLUNTEER_ID), **WINDOW}


@pytest.mark.federation
def test_the_callers_credentials_reach_our_subgraph_through_the_gateway(federation: Federation) -> None:
    result = federation.query(
        CREDENTIALED, CREDENTIALED_VARIABLES, authorization=BEARER, x_figshare_authorization=LBORO_BASIC
    )

    data = data_of(result)
    contributions = data["zooniverse"]["user"]["classifications"]["projectContributions"]
    assert contributions
    # The project names come from the catalogue: the router went from our subgraph to the other.
    for c in contributions:
        assert c["project"]["name"] == PROJECT_NAMES.get(c["project"]["id"], c["project"]["name"])
        assert isinstance(c["project"]["name"], str)
    assert data["figshare"]["article"]["views"]["series"]

    received = federation.received()
    assert received
    for request, _ in received:
        assert request.header("authorization") == BEARER
        assert request.header("x-figshare-authorization") == LBORO_BASIC
    (eras_call,) = federation.eras.log.matching(f"/classifications/users/{eras_data.VOLUNTEER_ID}")
    assert eras_call.header("authorization") == BEARER
    figshare_calls = federation.figshare.log.matching("/lboro/timeline/")
    assert figshare_calls
    assert all(r.header("authorization") == LBORO_BASIC for r in figshare_calls)


@pytest.mark.federation
def test_without_credentials_our_error_codes_pass_through_the_gateway(federation: Federation) -> None:
    result = federation.query(CREDENTIALED, CREDENTIALED_VARIABLES)

    assert sorted(codes(result)) == ["UNAUTHENTICATED", "UNAUTHENTICATED"]
    assert sorted(tuple(e["path"]) for e in result["errors"]) == [
        ("figshare", "article", "views", "series"),
        ("zooniverse", "user", "classifications"),
    ]
    assert all(e["extensions"].get("serviceName") == "stats" for e in result["errors"])
    assert all("stacktrace" not in e["extensions"] for e in result["errors"])
    assert result["data"]["zooniverse"]["user"] == {"classifications": None}
    for request, _ in federation.received():
        assert request.header("authorization") is None
        assert request.header("x-figshare-authorization") is None
    assert len(federation.eras.log) == len(federation.figshare.log) == 0


@pytest.mark.federation
def test_our_cache_control_sets_the_gateways(federation: Federation) -> None:
    public = f"query Projects($start: Date, $end: Date) {{ featuredProjects {{ id name {PROJECT_STATS} }} }}"
    ours = federation.direct(by_root_fields("project", PROJECT_IDS, PROJECT_STATS), WINDOW)
    federation.clear_logs()
    assert ours.headers["cache-control"].startswith("public, max-age=")

    # Public stats: the shorter of our lifetime and the catalogue's hour.
    routed = federation.post(public, WINDOW)
    assert routed.status_code == 200
    assert "public" in routed.headers["cache-control"]
    assert 0 < max_age(routed.headers["cache-control"]) <= min(max_age(ours.headers["cache-control"]), 3600)
    catalogue_only = federation.post("{ featuredProjects { id name } }")
    assert max_age(catalogue_only.headers["cache-control"]) == 3600

    # Stats read with a credential are private, no-store from us: the gateway does not let them be kept.
    credentialed = federation.post(
        CREDENTIALED, CREDENTIALED_VARIABLES, authorization=BEARER, x_figshare_authorization=LBORO_BASIC
    )
    assert credentialed.status_code == 200
    assert credentialed.headers["cache-control"] == "no-store"


def documented_examples() -> list[str]:
    """The federated example queries of the README's federation section."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = text.split("## Federating the gateway", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```graphql federated\n(.*?)```", section, re.S)


@pytest.mark.federation
def test_the_documented_federated_examples_work_through_the_gateway(federation: Federation) -> None:
    lists, mine = documented_examples()

    data = data_of(federation.query(lists))
    assert [p["name"] for p in data["featuredProjects"]] == list(PROJECT_NAMES.values())
    assert all(p["classifications"]["series"] for p in data["featuredProjects"])
    assert [a["title"] for a in data["featuredArticles"]] == list(ARTICLE_TITLES.values())
    assert all(a["views"]["total"] > 0 for a in data["featuredArticles"])
    # As the section says: one _entities request per entity type, one upstream request per item.
    assert len(federation.received()) == len(federation.entity_calls()) == 2
    assert len(federation.eras.log) == len(federation.figshare.log) == 3

    data = data_of(federation.query(mine, authorization=BEARER))
    contributions = data["zooniverse"]["user"]["classifications"]["projectContributions"]
    assert set(PROJECT_NAMES.values()) <= {c["project"]["name"] for c in contributions}


# ---------------------------------------------------------------- federated tracing (ftv1)


def trace_message() -> Any:
    """Apollo's ``Trace`` message class, built from the fields of its reports.proto that a
    subgraph's trace uses (numbers and types as in @apollo/usage-reporting-protobuf)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="ftv1_test.proto", package="ftv1test", syntax="proto3")

    def message(name: str, *fields: tuple[str, int, int, str, bool]) -> None:
        found = file.message_type.add(name=name)
        for field_name, number, kind, type_name, repeated in fields:
            field = found.field.add(name=field_name, number=number, type=kind)
            field.label = F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL
            if type_name:
                field.type_name = f".ftv1test.{type_name}"

    message("Timestamp", ("seconds", 1, F.TYPE_INT64, "", False), ("nanos", 2, F.TYPE_INT32, "", False))
    message("Location", ("line", 1, F.TYPE_UINT32, "", False), ("column", 2, F.TYPE_UINT32, "", False))
    message(
        "Error",
        ("message", 1, F.TYPE_STRING, "", False),
        ("location", 2, F.TYPE_MESSAGE, "Location", True),
        ("time_ns", 3, F.TYPE_UINT64, "", False),
        ("json", 4, F.TYPE_STRING, "", False),
    )
    message(
        "Node",
        ("response_name", 1, F.TYPE_STRING, "", False),
        ("index", 2, F.TYPE_UINT32, "", False),
        ("original_field_name", 14, F.TYPE_STRING, "", False),
        ("type", 3, F.TYPE_STRING, "", False),
        ("parent_type", 13, F.TYPE_STRING, "", False),
        ("start_time", 8, F.TYPE_UINT64, "", False),
        ("end_time", 9, F.TYPE_UINT64, "", False),
        ("error", 11, F.TYPE_MESSAGE, "Error", True),
        ("child", 12, F.TYPE_MESSAGE, "Node", True),
    )
    node = file.message_type[-1]
    node.oneof_decl.add(name="id")
    for field in node.field[:2]:
        field.oneof_index = 0
    message(
        "Trace",
        ("start_time", 4, F.TYPE_MESSAGE, "Timestamp", False),
        ("end_time", 3, F.TYPE_MESSAGE, "Timestamp", False),
        ("duration_ns", 11, F.TYPE_UINT64, "", False),
        ("root", 14, F.TYPE_MESSAGE, "Node", False),
        ("field_execution_weight", 31, F.TYPE_DOUBLE, "", False),
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("ftv1test.Trace"))


def decoded_trace(ftv1: str) -> dict[str, Any]:
    import base64

    from google.protobuf import json_format

    trace = trace_message()()
    trace.ParseFromString(base64.b64decode(ftv1))
    decoded: dict[str, Any] = json_format.MessageToDict(trace, preserving_proto_field_name=False)
    return decoded


def child(node: dict[str, Any], key: str | int) -> dict[str, Any]:
    """The child of a trace node (as JSON) with this response name or list index."""
    field = "index" if isinstance(key, int) else "responseName"
    found = [c for c in node.get("child", []) if c.get(field, 0 if field == "index" else None) == key]
    assert len(found) == 1, (key, [c.get("responseName", c.get("index")) for c in node.get("child", [])])
    return found[0]


def timed(node: dict[str, Any], within_ns: int) -> None:
    """A field node's offsets are set and in order, within the trace."""
    start, end = int(node.get("startTime", 0)), int(node.get("endTime", 0))
    assert 0 < start <= end <= within_ns, node


FTV1 = {"apollo_federation_include_trace": "ftv1"}


def test_a_router_asking_for_ftv1_gets_the_field_tree_with_timings(gateway: Gateway) -> None:
    response = gateway.post(
        'query Stats { zooniverse { a: project(id: "1234") { comments { total } } } }', **FTV1
    )
    body = response.json()
    trace = decoded_trace(body["extensions"]["ftv1"])

    assert int(trace["endTime"]["seconds"]) >= int(trace["startTime"]["seconds"]) > 1_700_000_000
    duration = int(trace["durationNs"])
    assert duration > 0
    zooniverse = child(trace["root"], "zooniverse")
    assert (zooniverse["type"], zooniverse["parentType"]) == ("Zooniverse!", "Query")
    project = child(zooniverse, "a")
    assert project["originalFieldName"] == "project"  # aliased
    total = child(child(project, "comments"), "total")
    assert total["type"] == "Int"
    for node in (zooniverse, project, total):
        timed(node, duration)
    assert body["data"]["zooniverse"]["a"]["comments"]["total"] > 0
    # Without the header: no trace, and no field is timed.
    plain = gateway.post('query Stats { zooniverse { a: project(id: "1234") { comments { total } } } }')
    assert "extensions" not in plain.json()


def test_ftv1_puts_each_error_on_its_field_and_list_items_under_their_index(
    gateway: Gateway, eras: Upstream
) -> None:
    eras.faults.inject("^/comments", status=500, body=b"{}")
    body = gateway.post(
        """
        query Entities($representations: [_Any!]!) {
          _entities(representations: $representations) { ... on ZooniverseProject { id comments { total } } }
        }
        """,
        {"representations": [{"__typename": "ZooniverseProject", "id": p} for p in ("1234", "335")]},
        **FTV1,
    ).json()
    trace = decoded_trace(body["extensions"]["ftv1"])

    assert codes(body) == ["UPSTREAM_UNAVAILABLE", "UPSTREAM_UNAVAILABLE"]
    entities = child(trace["root"], "_entities")
    for index in range(2):
        item = child(entities, index)
        assert "type" not in item  # a list item, not a field
        assert child(item, "id")["type"] == "ID!"
        (error,) = child(item, "comments")["error"]
        assert "ERAS" in error["message"]
        assert json.loads(error["json"])["path"] == ["_entities", index, "comments"]
        assert json.loads(error["json"])["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert len(eras.log) == 2  # each project's comments, once: a 500 is not retried


@pytest.mark.federation
def test_the_apollo_gateway_reads_our_ftv1_traces(federation: Federation) -> None:
    result = federation.query(
        f"query Projects($start: Date, $end: Date) {{ featuredProjects {{ id name {PROJECT_STATS} }} }}",
        WINDOW,
        x_capture_traces="1",
    )

    assert data_of(result)["featuredProjects"]
    fetched = result["extensions"]["subgraphTraces"]
    assert {f["service"] for f in fetched} == {"stats", "catalogue"}
    assert not any(f["traceParsingFailed"] for f in fetched)
    (ours,) = [f["trace"] for f in fetched if f["service"] == "stats"]
    duration = int(ours["durationNs"])
    entities = child(ours["root"], "_entities")
    assert entities["parentType"] == "Query"
    for index in range(len(PROJECT_IDS)):
        classifications = child(child(entities, index), "classifications")
        assert classifications["type"] == "ClassificationCounts"
        for node in (classifications, child(classifications, "total"), child(classifications, "series")):
            timed(node, duration)
    # The catalogue is an Apollo subgraph: its trace has the same shape as ours.
    (theirs,) = [f["trace"] for f in fetched if f["service"] == "catalogue"]
    assert child(theirs["root"], "featuredProjects")["type"].startswith("[")
    (request, _) = federation.received()[0]
    assert request.header("apollo-federation-include-trace") == "ftv1"


@pytest.mark.federation
def test_the_apollo_gateway_reads_our_errors_from_the_ftv1_trace(federation: Federation) -> None:
    result = federation.query(CREDENTIALED, CREDENTIALED_VARIABLES, x_capture_traces="1")

    assert sorted(codes(result)) == ["UNAUTHENTICATED", "UNAUTHENTICATED"]
    traces = [f["trace"] for f in result["extensions"]["subgraphTraces"] if f["service"] == "stats"]
    errors = []
    for trace in traces:
        stack = [trace["root"]]
        while stack:
            node = stack.pop()
            errors += [json.loads(e["json"])["extensions"]["code"] for e in node.get("error", [])]
            stack += node.get("child", [])
    assert sorted(errors) == ["UNAUTHENTICATED", "UNAUTHENTICATED"]


@pytest.mark.federation
def test_without_being_asked_the_gateway_gets_no_trace(federation: Federation) -> None:
    federation.query("{ featuredProjects(limit: 2) { id comments { total } } }")

    (request, _) = federation.received()[0]
    assert request.header("apollo-federation-include-trace") is None
