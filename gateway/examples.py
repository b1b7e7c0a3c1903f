"""The example queries, defined once: GraphiQL's tabs, the demo banner and the README show these.

``EXAMPLES[0]`` is the default example: GraphiQL's first tab, the query the demo prints, and the
README's first example. Every example answers with data in the demo (``stats-gateway serve --demo``).

The demo's synthetic data end on the current day and are generated afresh each day, so the windows
below are fixed dates chosen to stay covered whatever the day: Zooniverse classifications and
comments exist on every day from 2023-01-01, so their windows are closed windows in the past;
Figshare's steady traffic (views and downloads of the demo articles) covers only the last 90 days,
so Figshare windows have a fixed start and an open end, which always takes in those days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.emulators import eras_data, figshare_data


@dataclass(frozen=True)
class Example:
    """One example query: ``name`` is its operation name (and GraphiQL's tab title)."""

    name: str
    title: str
    query: str
    variables: dict[str, Any] | None = None
    needs_headers: tuple[str, ...] = ()


OVERVIEW = Example(
    name="Overview",
    title="Both sources in one operation",
    query="""\
query Overview {
  zooniverse {
    classifications(startDate: "2026-11-01", endDate: "2026-11-30") {
      total
      series(period: WEEK, fillGaps: true) { start count }
    }
  }
  figshare {
    article(id: "766364") {
      views(startDate: "2026-09-01") { total series(period: MONTH, fillGaps: true) { start count } }
    }
    top(counter: VIEWS, limit: 5) { key count }
  }
}
""",
)

PROJECT_PAGE = Example(
    name="ProjectPage",
    title="A project's page",
    query="""\
query ProjectPage {
  zooniverse {
    project(id: "1234") {
      classifications(startDate: "2026-01-01", endDate: "2026-11-30") {
        total
        series(period: MONTH) { start count }
      }
      comments(startDate: "2026-09-01", endDate: "2026-11-30") {
        total
        series(period: WEEK, fillGaps: true) { start count }
      }
    }
  }
}
""",
)

VOLUNTEER_PAGE = Example(
    name="VolunteerPage",
    title="A volunteer's stats page",
    query="""\
query VolunteerPage {
  zooniverse {
    user(id: "1325316") {
      classifications(startDate: "2026-11-01", endDate: "2026-11-30") {
        total
        timeSpent
        series(period: DAY) { start count timeSpent }
        projectContributions(orderBy: COUNT) { project { id } count }
      }
    }
  }
}
""",
    needs_headers=("Authorization",),
)

USER_GROUP_PAGE = Example(
    name="UserGroupPage",
    title="A user group's page and its contributors",
    query="""\
query UserGroupPage {
  zooniverse {
    userGroup(id: "42") {
      classifications(startDate: "2026-05-01", endDate: "2026-10-31") {
        total timeSpent activeUsers
        series(period: WEEK) { start count timeSpent }
        projectContributions { project { id } count timeSpent }
        topContributors(limit: 5) { user { id } count timeSpent }
      }
      memberStats(startDate: "2026-05-01", endDate: "2026-10-31") { user { id } count timeSpent }
    }
  }
}
""",
)

FIGSHARE_SCOPES = Example(
    name="FigshareScopes",
    title="Figshare, public and institution scope",
    query="""\
query FigshareScopes {
  figshare {
    article(id: "766364") {
      views { total }
      downloads(startDate: "2026-09-01") {
        total
        series(period: WEEK) { start count }
        countries(limit: 5) { country count cities { city count } }
      }
    }
    g327: group(id: "327") { publicArticleCount }
    g328: group(id: "328") { publicArticleCount }
    top(counter: VIEWS, limit: 5) { key count }
  }
  lboro: figshare(institution: "lboro") {
    group(id: "327") {
      views(startDate: "2026-01-01", filter: { itemType: "dataset" }) {
        total
        series(period: MONTH) { start count }
      }
      top(counter: DOWNLOADS, by: REFERRAL, limit: 3, startDate: "2026-09-01") { key count }
    }
  }
}
""",
    needs_headers=("X-Figshare-Authorization",),
)

ARTICLE_REPORT = Example(
    name="ArticleReport",
    title="An article's views and downloads, with variables",
    query="""\
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
""",
    variables={"article": "766364", "start": "2026-09-01"},
)

EXAMPLES: tuple[Example, ...] = (
    OVERVIEW,
    PROJECT_PAGE,
    VOLUNTEER_PAGE,
    USER_GROUP_PAGE,
    FIGSHARE_SCOPES,
    ARTICLE_REPORT,
)
"""Every example, in the order GraphiQL's tabs and the README show them; the first is the default."""


def demo_headers() -> dict[str, str]:
    """The demo's credentials: the volunteer's bearer token and the lboro institution's Figshare login."""
    username, password = figshare_data.DEMO_INSTITUTIONS["lboro"]
    return {
        "Authorization": f"Bearer {eras_data.VOLUNTEER_TOKEN}",
        "X-Figshare-Authorization": figshare_data.basic_header(username, password),
    }
