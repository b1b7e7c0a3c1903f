"""The GraphiQL page, served with its scripts from the gateway itself (no CDN, works offline).

The page opens with one tab per example query (the first example first). Headers given to
``graphiql_html`` (the demo's credentials, in demo mode only) are prefilled in every tab's headers
editor. GraphiQL keeps its tabs in the browser's storage; the headers go there too only when
``persist_headers`` is set, so credentials typed into the explorer are not kept by default.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.examples import Example

STATIC_PREFIX = "/static/graphiql"

# Characters that must not appear raw in JSON embedded in a <script> element: "<" could start
# "</script>" or "<!--", ">" and "&" are escaped along with it, and U+2028/U+2029 end lines in
# older JavaScript engines.
_SCRIPT_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def script_json(value: Any) -> str:
    """``value`` as JSON that is safe to place inside a ``<script>`` element."""
    return json.dumps(value).translate(_SCRIPT_ESCAPES)


def _tab(example: Example, headers: str | None) -> dict[str, str | None]:
    variables = None if example.variables is None else json.dumps(example.variables, indent=2)
    return {"query": example.query, "variables": variables, "headers": headers}


def graphiql_options(
    *,
    examples: Sequence[Example],
    headers: Mapping[str, str] | None = None,
    persist_headers: bool = False,
) -> dict[str, Any]:
    """The props GraphiQL is rendered with (besides its fetcher)."""
    headers_json = None if headers is None else json.dumps(dict(headers), indent=2)
    options: dict[str, Any] = {
        "defaultEditorToolsVisibility": "headers",
        "isHeadersEditorEnabled": True,
        "shouldPersistHeaders": persist_headers,
    }
    if examples:
        options["defaultTabs"] = [_tab(example, headers_json) for example in examples]
        options["defaultQuery"] = examples[0].query  # what a new tab starts with
    if headers_json is not None:
        # GraphiQL 3.8 shows these, not the first tab's own, when it opens; also in new tabs and
        # in tabs restored from storage without their headers. (It likewise opens with an empty
        # variables editor whatever the first tab holds, so the first example takes no variables.)
        options["defaultHeaders"] = headers_json
    return options


def graphiql_html(
    *,
    examples: Sequence[Example],
    headers: Mapping[str, str] | None = None,
    persist_headers: bool = False,
    title: str = "Stats gateway",
) -> str:
    """GraphiQL 3 on React 18: one tab per example, ``headers`` prefilled, the headers editor open."""
    options = script_json(
        graphiql_options(examples=examples, headers=headers, persist_headers=persist_headers)
    )
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>{html.escape(title)} · GraphiQL</title>
  <link rel="stylesheet" href="{STATIC_PREFIX}/graphiql.min.css" />
  <style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="{STATIC_PREFIX}/react.production.min.js"></script>
  <script src="{STATIC_PREFIX}/react-dom.production.min.js"></script>
  <script src="{STATIC_PREFIX}/graphiql.min.js"></script>
  <script>
    const fetcher = GraphiQL.createFetcher({{ url: window.location.pathname }});
    const options = {options};
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {{ fetcher, ...options }})
    );
  </script>
</body>
</html>
"""
