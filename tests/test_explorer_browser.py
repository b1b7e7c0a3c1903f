"""The GraphiQL explorer in a real browser (Debian's Chromium, driven by Playwright).

Against `python -m gateway serve --demo`: the page and everything it loads come from the gateway,
the example tabs are there, a query with headers shows data, the documentation explorer shows the
schema, and in demo mode the headers editor comes filled with the demo's credentials. A page served
by the test itself checks what `graphiql_html` promises whatever the app does with it: headers
prefilled, not kept in the browser's storage unless asked, and queries embedded safely.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.emulators.server import LoopbackServer
from gateway.examples import EXAMPLES, Example, demo_headers
from gateway.http.graphiql import STATIC_PREFIX, graphiql_html
from tests.demo_process import DemoGateway, demo_gateway

CHROMIUM = Path("/usr/bin/chromium")
# As root on a machine with no outside network: no sandbox, no GPU, and none of Chromium's own
# background traffic (updates, sync, field trials), which would only fail here.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
TIMEOUT_MS = 15_000
VOLUNTEER = next(e for e in EXAMPLES if e.name == "VolunteerPage")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install -y chromium`")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoGateway]:
    with demo_gateway() as running:
        yield running


@dataclass
class Visit:
    """A fresh browser page (its own storage) and every URL it requested."""

    page: Page
    requests: list[str] = field(default_factory=list)

    def assert_all_from(self, origin: str) -> None:
        assert self.requests, "the page requested nothing"
        strays = [url for url in self.requests if not url.startswith(f"{origin}/")]
        assert strays == [], f"requests that left {origin}: {strays}"


@pytest.fixture
def visit(browser: Browser) -> Iterator[Visit]:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    visit = Visit(page)
    page.on("request", lambda request: visit.requests.append(request.url))
    yield visit
    context.close()


def open_explorer(visit: Visit, url: str) -> Page:
    page = visit.page
    page.goto(url)
    expect(page.locator(".graphiql-tab").first).to_be_visible()
    return page


# The editor tools hold both editors and are labelled after the one shown.
HEADERS_EDITOR = 'section[aria-label="Headers"] .graphiql-editor:not(.hidden) .CodeMirror'
VARIABLES_EDITOR = 'section[aria-label="Variables"] .graphiql-editor:not(.hidden) .CodeMirror'
QUERY_EDITOR = 'section[aria-label="Query Editor"]'
RESULT = 'section[aria-label="Result Window"]'


def replace_editor_text(page: Page, editor: str, text: str) -> None:
    """Select everything in a CodeMirror editor and type ``text`` over it."""
    page.locator(editor).click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    # insert_text types the characters without key events, so the editor's bracket closing
    # does not add braces of its own.
    page.keyboard.insert_text(text)


# ---------------------------------------------------------------- against the demo


def test_the_explorer_loads_only_from_the_gateway_and_opens_a_tab_per_example(
    demo: DemoGateway, visit: Visit
) -> None:
    page = open_explorer(visit, demo.graphql_url)
    tabs = page.locator(".graphiql-tab-button")
    expect(tabs).to_have_text([e.name for e in EXAMPLES])
    expect(page.locator(".graphiql-tab-active")).to_contain_text(EXAMPLES[0].name)
    query_editor = page.locator(QUERY_EDITOR)
    expect(query_editor).to_contain_text(f"query {EXAMPLES[0].name}")
    # The schema is fetched too (the documentation explorer lists it), from the same origin.
    page.get_by_role("button", name="Show Documentation Explorer").click()
    expect(page.locator(".graphiql-doc-explorer")).to_contain_text("Root Types")
    visit.assert_all_from(demo.url)


def test_a_query_with_headers_shows_data(demo: DemoGateway, visit: Visit) -> None:
    with httpx.Client(timeout=30, trust_env=False) as client:
        direct = client.post(demo.graphql_url, json={"query": VOLUNTEER.query}, headers=demo_headers()).json()
    total = direct["data"]["zooniverse"]["user"]["classifications"]["total"]
    assert total > 0

    page = open_explorer(visit, demo.graphql_url)
    page.get_by_role("button", name=VOLUNTEER.name, exact=True).click()
    expect(page.locator(QUERY_EDITOR)).to_contain_text(f"query {VOLUNTEER.name}")
    page.get_by_role("button", name="Headers", exact=True).click()
    bearer = {"Authorization": demo_headers()["Authorization"]}
    replace_editor_text(page, HEADERS_EDITOR, json.dumps(bearer))
    expect(page.locator(HEADERS_EDITOR)).to_contain_text("Bearer demo-token-volunteer")
    page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()

    result = page.locator(RESULT)
    expect(result).to_contain_text(f'"total": {total}')
    expect(result).not_to_contain_text('"errors"')
    visit.assert_all_from(demo.url)


def test_a_typed_query_runs(demo: DemoGateway, visit: Visit) -> None:
    page = open_explorer(visit, demo.graphql_url)
    page.get_by_role("button", name="Add tab").click()
    query = 'query GroupArticles { figshare { group(id: "327") { publicArticleCount } } }'
    replace_editor_text(page, f"{QUERY_EDITOR} .CodeMirror", query)
    # The tab takes the operation's name once GraphiQL has read the edit: then it can run.
    expect(page.locator(".graphiql-tab-active")).to_contain_text("GroupArticles")
    page.keyboard.press("Control+Enter")
    result = page.locator(RESULT)
    expect(result).to_contain_text(re.compile(r'"publicArticleCount": [1-9]'))
    visit.assert_all_from(demo.url)


def test_the_documentation_explorer_shows_the_query_fields(demo: DemoGateway, visit: Visit) -> None:
    page = open_explorer(visit, demo.graphql_url)
    page.get_by_role("button", name="Show Documentation Explorer").click()
    docs = page.locator(".graphiql-doc-explorer")
    docs.get_by_role("link", name="Query", exact=True).click()
    expect(docs).to_contain_text("Fields")
    expect(docs).to_contain_text("zooniverse: Zooniverse!")
    expect(docs).to_contain_text("figshare(institution: String")
    visit.assert_all_from(demo.url)


def test_the_demo_prefills_the_headers_editor(demo: DemoGateway, visit: Visit) -> None:
    page = open_explorer(visit, demo.graphql_url)
    editor = page.locator(HEADERS_EDITOR)
    expect(editor).to_be_visible()
    for name, value in demo_headers().items():
        expect(editor).to_contain_text(f'"{name}": "{value}"')
    visit.assert_all_from(demo.url)


def test_the_gateway_root_leads_to_the_explorer(demo: DemoGateway, visit: Visit) -> None:
    visit.page.goto(f"{demo.url}/")
    expect(visit.page).to_have_url(demo.graphql_url)
    expect(visit.page.locator(".graphiql-tab").first).to_be_visible()
    visit.assert_all_from(demo.url)


# ---------------------------------------------------------------- a page served by the test

HOSTILE = Example(
    name="Hostile",
    title="A query that tries to leave its script element",
    query="# </script><script>window.escaped = true</script> & <!-- -->\nquery Hostile { __typename }\n",
    variables={"note": "</script>"},
)


@dataclass
class PageServer:
    url: str
    pages: dict[str, str]


@pytest.fixture(scope="module")
def page_server() -> Iterator[PageServer]:
    """``graphiql_html`` pages under /page/<name>, GraphiQL's scripts, and a stand-in endpoint."""
    pages = {
        "prefilled": graphiql_html(examples=[*EXAMPLES, HOSTILE], headers=demo_headers()),
        "persisted": graphiql_html(examples=EXAMPLES, headers=demo_headers(), persist_headers=True),
    }

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(pages[request.path_params["name"]])

    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"errors": [{"message": "no schema here"}]})

    app = Starlette(
        routes=[
            Route("/page/{name}", page),
            Route("/page/{name}", endpoint, methods=["POST"]),  # GraphiQL posts to the page's path
            Mount(STATIC_PREFIX, StaticFiles(packages=[("gateway", "static/graphiql")])),
        ]
    )
    with LoopbackServer(app) as server:
        yield PageServer(server.url, pages)


def tab_state(page: Page, token: str, present: bool) -> str:
    """GraphiQL's stored tabs, once they are stored with (or without) ``token``."""
    page.wait_for_function(
        "([token, present]) => { const s = localStorage.getItem('graphiql:tabState');"
        " return s !== null && s.includes('Overview') && s.includes(token) === present; }",
        arg=[token, present],
    )
    stored: str = page.evaluate("() => localStorage.getItem('graphiql:tabState')")
    return stored


def test_queries_are_embedded_safely(page_server: PageServer, visit: Visit) -> None:
    page = open_explorer(visit, f"{page_server.url}/page/prefilled")
    expect(page.locator(".graphiql-tab-button")).to_have_text([*(e.name for e in EXAMPLES), HOSTILE.name])
    page.get_by_role("button", name=HOSTILE.name, exact=True).click()
    query_editor = page.locator(QUERY_EDITOR)
    expect(query_editor).to_contain_text("# </script><script>window.escaped = true</script> & <!-- -->")
    assert page.evaluate("() => window.escaped === undefined")
    page.get_by_role("button", name="Variables", exact=True).click()
    expect(page.locator(VARIABLES_EDITOR)).to_contain_text('"note": "</script>"')
    visit.assert_all_from(page_server.url)


def test_prefilled_headers_are_not_kept_unless_asked(page_server: PageServer, visit: Visit) -> None:
    page = open_explorer(visit, f"{page_server.url}/page/prefilled")
    expect(page.locator(HEADERS_EDITOR)).to_contain_text("Bearer demo-token-volunteer")
    page.get_by_role("button", name="ProjectPage", exact=True).click()  # a change of tab stores the tabs
    stored = tab_state(page, "demo-token-volunteer", present=False)
    assert "Overview" in stored
    # A reload restores the tabs from storage, and the headers from the page again.
    page.reload()
    expect(page.locator(HEADERS_EDITOR)).to_contain_text("Bearer demo-token-volunteer")


def test_headers_are_kept_when_persisting_is_on(page_server: PageServer, visit: Visit) -> None:
    page = open_explorer(visit, f"{page_server.url}/page/persisted")
    page.get_by_role("button", name="ProjectPage", exact=True).click()
    assert "demo-token-volunteer" in tab_state(page, "demo-token-volunteer", present=True)


def test_the_page_has_no_raw_markup_from_queries_and_no_headers_unless_given() -> None:
    page = graphiql_html(examples=[HOSTILE])
    assert page.count("</script>") == 4  # the page's own four script elements, nothing more
    assert "\\u003c/script\\u003e\\u003cscript\\u003ewindow.escaped" in page
    assert "\\u0026 \\u003c!-- --\\u003e" in page
    assert '"shouldPersistHeaders": false' in page
    assert "defaultHeaders" not in page
    assert "Authorization" not in page
    prefilled = graphiql_html(examples=EXAMPLES, headers=demo_headers(), persist_headers=True)
    assert '"shouldPersistHeaders": true' in prefilled
    assert prefilled.count("Bearer demo-token-volunteer") == len(EXAMPLES) + 1  # each tab, and new ones
