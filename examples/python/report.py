"""A research office's report: an article's views and downloads per month, written to a CSV file.

    pip install -r examples/python/requirements.txt
    python examples/python/report.py --url http://127.0.0.1:8000/graphql --out report.csv

One GraphQL query with variables (the README's ArticleReport example) gives both series; pandas
lines them up by bucket, one row per month (or --period), and writes them out. Credentials come
from the environment, for an institution's scope (--institution):

    STATS_FIGSHARE_AUTH  the X-Figshare-Authorization value, "Basic <base64 of user:password>"
    STATS_TOKEN          a Zooniverse bearer token, sent as "Authorization: Bearer ..."

Against the demo (stats-gateway serve --demo), lboro's credentials are printed by the demo:

    STATS_FIGSHARE_AUTH="Basic bGJvcm8tc3RhdHM6bGJvcm8tc3RhdHMtc2VjcmV0" \\
      python examples/python/report.py --institution lboro --out lboro.csv
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import httpx
import pandas as pd

QUERY = """\
query ArticleReport(
  $article: ID!, $start: Date!, $end: Date, $period: Period! = MONTH, $institution: String
) {
  figshare(institution: $institution) {
    article(id: $article) {
      views(startDate: $start, endDate: $end) { total series(period: $period) { start count } }
      downloads(startDate: $start, endDate: $end) { total series(period: $period) { start count } }
    }
  }
}
"""
COUNTERS = ("views", "downloads")


def headers_from_env() -> dict[str, str]:
    headers = {}
    if token := os.environ.get("STATS_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    if figshare := os.environ.get("STATS_FIGSHARE_AUTH"):
        headers["X-Figshare-Authorization"] = figshare
    return headers


def error_line(error: dict[str, Any]) -> str:
    return f"{error.get('extensions', {}).get('code', 'ERROR')}: {error.get('message', '')}"


def fetch(url: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The article's counts, or SystemExit with the gateway's errors."""
    response = httpx.post(
        url, json={"query": QUERY, "variables": variables}, headers=headers_from_env(), timeout=60
    )
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    errors = body.get("errors") or ([] if response.is_success else [{"message": response.text}])
    if errors:
        messages = "; ".join(error_line(e) for e in errors)
        raise SystemExit(f"the gateway answered with errors: {messages}")
    article: dict[str, Any] = body["data"]["figshare"]["article"]
    return article


def table(article: dict[str, Any]) -> pd.DataFrame:
    """One row per bucket: start, views, downloads (0 where a counter has no events)."""
    columns = {}
    for counter in COUNTERS:
        buckets = pd.DataFrame(article[counter]["series"], columns=["start", "count"])
        columns[counter] = buckets.set_index("start")["count"]
    frame = pd.DataFrame(columns).fillna(0).astype(int).sort_index()
    return frame.rename_axis("start").reset_index()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000/graphql", help="the gateway's GraphQL URL")
    parser.add_argument("--out", default="article-report.csv", help="CSV file to write")
    parser.add_argument("--article", default="766364", help="Figshare article id")
    parser.add_argument("--start", default="2026-09-01", help="first day, YYYY-MM-DD")
    parser.add_argument("--end", default=None, help="last day, YYYY-MM-DD (default: today)")
    parser.add_argument("--period", default="MONTH", choices=["DAY", "WEEK", "MONTH", "YEAR"])
    parser.add_argument("--institution", default=None, help="institution short name, e.g. lboro")
    args = parser.parse_args(argv)

    variables = {
        "article": args.article,
        "start": args.start,
        "end": args.end,
        "period": args.period,
        "institution": args.institution,
    }
    article = fetch(args.url, variables)
    report = table(article)
    report.to_csv(args.out, index=False)
    span = f"{report['start'].iloc[0]} to {report['start'].iloc[-1]}" if len(report) else "no buckets"
    print(
        f"article {args.article}: {len(report)} {args.period.lower()} rows ({span}), "
        f"{article['views']['total']} views, {article['downloads']['total']} downloads -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
