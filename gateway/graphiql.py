"""The GraphiQL page, served with its scripts from the gateway itself (no CDN, works offline)."""

from __future__ import annotations

import json

STATIC_PREFIX = "/static/graphiql"

DEFAULT_QUERY = """\
# Zooniverse (ERAS) and Figshare stats in one API.
# Credentials go in the Headers tab below:
# {"Authorization": "Bearer <token>",
#  "X-Figshare-Authorization": "Basic <base64>"}
{
  zooniverse {
    classifications(startDate: "2026-01-01") {
      total
      series(period: MONTH) { start count }
    }
  }
  figshare {
    top(counter: VIEWS, limit: 5) { key count }
  }
}
"""


def graphiql_html(title: str = "Stats gateway", default_query: str = DEFAULT_QUERY) -> str:
    """GraphiQL 3 on React 18, the headers editor open, headers kept in the browser's storage."""
    options = json.dumps(
        {
            "defaultQuery": default_query,
            "defaultEditorToolsVisibility": "headers",
            "shouldPersistHeaders": True,
            "isHeadersEditorEnabled": True,
        }
    )
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>{title} · GraphiQL</title>
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
