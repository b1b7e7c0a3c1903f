"""Deterministic synthetic data behind the Figshare Statistics emulator.

The data set has one *scope* for the public service (``/total/...``) and one per institution
(``/lboro/total/...``). The contract leaves open how the two relate (figshare-stats-api.md §10 Q15),
so every scope is generated independently from its own random stream and nothing ties its numbers
to another scope's. All scopes share one id layout (articles from 766364, authors from 13456,
groups from 327, collections from 15, projects from 13) so that the ``DEMO_*`` ids below exist, and
have data, in every scope.

Events are stored pre-aggregated: one ``EventRow`` per (article, day, counter, country, city,
referrer) with its count. They copy the quirks of the real service: a country ``"Unknown"``, the
city keys ``"Unknown"`` and the misspelt ``"Unkown"``, events without a city (counted in the
country's total only), more than 10 cities in some countries, more than 200 countries for the
first demo article, and few ``shares``.
"""

from __future__ import annotations

import base64
import bisect
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

COUNTERS: tuple[str, ...] = ("views", "downloads", "shares")
"""The counters the service knows (path segment ``{counter}``)."""

ITEM_KINDS: tuple[str, ...] = ("article", "author", "collection", "group", "project")
"""The scope objects the service knows (path segment ``{item}``)."""

ITEM_TYPES: tuple[str, ...] = (
    "article",
    "project",
    "collection",
    "dataset",
    "figure",
    "poster",
    "media",
    "presentation",
    "paper",
    "fileset",
    "thesis",
    "code",
)
"""The legacy item-type names (contract §3 and §10 Q6); articles only ever carry these."""

CATEGORY_IDS: tuple[int, ...] = (2, 4, 12, 19, 24, 39, 56, 77, 215, 1116)
"""Category ids given to articles; 2 is the one used in the upstream documentation examples."""

DEMO_INSTITUTIONS: dict[str, tuple[str, str]] = {
    "lboro": ("lboro-stats", "lboro-stats-secret"),
    "monash": ("monash-stats", "monash-stats-secret"),
    "ryerson": ("ryerson-stats", "ryerson-stats-secret"),
}
"""Institution slug -> (username, password) of its stats-only Basic credentials."""

ARTICLE_BASE = 766364
AUTHOR_BASE = 13456
GROUP_BASE = 327
COLLECTION_BASE = 15
PROJECT_BASE = 13

DEMO_ARTICLE_IDS: tuple[int, ...] = (766364, 766365, 766366)
"""Articles with views, downloads and shares in every scope, also in the last 90 days."""
DEMO_AUTHOR_IDS: tuple[int, ...] = (13456, 13457, 13458)
"""Authors of the demo articles (13456 wrote the first two)."""
DEMO_GROUP_IDS: tuple[int, ...] = (327, 328, 329)
"""Groups of the demo articles, one each."""
DEMO_COLLECTION_IDS: tuple[int, ...] = (15, 16)
"""Collections holding the demo articles."""
DEMO_PROJECT_IDS: tuple[int, ...] = (13, 14)
"""Projects holding the first two demo articles."""

# Links of each demo article: (author ids, group id, collection ids, project id).
_DEMO_LINKS: tuple[tuple[tuple[int, ...], int, tuple[int, ...], int | None], ...] = (
    ((13456,), 327, (15,), 13),
    ((13457, 13456), 328, (15, 16), 14),
    ((13458,), 329, (16,), None),
)


def basic_header(username: str, password: str) -> str:
    """The ``Authorization`` value for HTTP Basic credentials: ``"Basic <base64>"``."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def utc_today() -> date:
    """Today's date in UTC (the service's notion of "today")."""
    return datetime.now(UTC).date()


# ---------------------------------------------------------------------------------------------
# Geography and referrers
# ---------------------------------------------------------------------------------------------

# Countries where most events come from, with a relative weight and their city keys. The real
# service reports "Unknown" and the misspelt "Unkown" as city keys, so both appear here.
# fmt: off
_MAJOR_COUNTRIES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("United States", 30, (
        "New York", "Los Angeles", "Chicago", "Houston", "Boston", "San Francisco", "Seattle",
        "Ashburn", "Atlanta", "Philadelphia", "Denver", "Austin", "Mountain View", "Columbus",
        "Unknown",
    )),
    ("United Kingdom", 14, (
        "London", "Oxford", "Cambridge", "Manchester", "Loughborough", "Leeds", "Birmingham",
        "Edinburgh", "Glasgow", "Bristol", "Sheffield", "Nottingham", "Unknown", "Unkown",
    )),
    ("China", 12, (
        "Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Hangzhou", "Nanjing", "Wuhan", "Chengdu",
        "Xi'an", "Tianjin", "Chongqing", "Hefei", "Unknown",
    )),
    ("Germany", 8, (
        "Berlin", "Munich", "Hamburg", "Frankfurt am Main", "Cologne", "Stuttgart", "Dresden",
        "Leipzig", "Heidelberg", "Göttingen", "Bonn", "Unknown",
    )),
    ("Australia", 6, (
        "Melbourne", "Sydney", "Brisbane", "Perth", "Adelaide", "Canberra", "Hobart", "Unknown",
    )),
    ("Canada", 5, (
        "Toronto", "Montreal", "Vancouver", "Ottawa", "Calgary", "Unknown",
    )),
    ("India", 6, (
        "Mumbai", "Delhi", "Bengaluru", "Chennai", "Hyderabad", "Kolkata", "Pune", "Unknown",
    )),
    ("Japan", 4, (
        "Tokyo", "Osaka", "Kyoto", "Unknown",
    )),
    ("France", 4, (
        "Paris", "Lyon", "Marseille", "Toulouse", "Unknown",
    )),
    ("Netherlands", 3, (
        "Amsterdam", "Delft", "Utrecht", "Leiden", "Unknown",
    )),
    ("Brazil", 3, (
        "São Paulo", "Rio de Janeiro", "Unknown",
    )),
    ("Spain", 2, (
        "Madrid", "Barcelona", "Unknown",
    )),
    ("Italy", 2, (
        "Rome", "Milan", "Unknown",
    )),
    ("New Zealand", 2, (
        "Auckland", "Wellington", "Unknown",
    )),
    ("South Korea", 2, (
        "Seoul", "Unknown",
    )),
    ("Unknown", 3, (
        "Unknown",
    )),
)

# Every other country (UN members plus territories the geolocation database reports). Events
# from these are rare and mostly have no city. With the major ones there are more than 200, so
# the service's 200-country cut can be observed.
_OTHER_COUNTRIES: tuple[str, ...] = (
    "Afghanistan", "Albania", "Algeria", "Andorra", "Angola", "Antigua and Barbuda", "Argentina",
    "Armenia", "Austria", "Azerbaijan", "Bahamas", "Bahrain", "Bangladesh", "Barbados", "Belarus",
    "Belgium", "Belize", "Benin", "Bhutan", "Bolivia", "Bosnia and Herzegovina", "Botswana",
    "Brunei", "Bulgaria", "Burkina Faso", "Burundi", "Cabo Verde", "Cambodia", "Cameroon",
    "Central African Republic", "Chad", "Chile", "Colombia", "Comoros", "Congo", "Costa Rica",
    "Côte d'Ivoire", "Croatia", "Cuba", "Cyprus", "Czechia", "Democratic Republic of the Congo",
    "Denmark", "Djibouti", "Dominica", "Dominican Republic", "Ecuador", "Egypt", "El Salvador",
    "Equatorial Guinea", "Eritrea", "Estonia", "Eswatini", "Ethiopia", "Fiji", "Finland", "Gabon",
    "Gambia", "Georgia", "Ghana", "Greece", "Grenada", "Guatemala", "Guinea", "Guinea-Bissau",
    "Guyana", "Haiti", "Honduras", "Hungary", "Iceland", "Indonesia", "Iran", "Iraq", "Ireland",
    "Israel", "Jamaica", "Jordan", "Kazakhstan", "Kenya", "Kiribati", "Kuwait", "Kyrgyzstan",
    "Laos", "Latvia", "Lebanon", "Lesotho", "Liberia", "Libya", "Liechtenstein", "Lithuania",
    "Luxembourg", "Madagascar", "Malawi", "Malaysia", "Maldives", "Mali", "Malta",
    "Marshall Islands", "Mauritania", "Mauritius", "Mexico", "Micronesia", "Moldova", "Monaco",
    "Mongolia", "Montenegro", "Morocco", "Mozambique", "Myanmar", "Namibia", "Nauru", "Nepal",
    "Nicaragua", "Niger", "Nigeria", "North Korea", "North Macedonia", "Norway", "Oman", "Pakistan",
    "Palau", "Panama", "Papua New Guinea", "Paraguay", "Peru", "Philippines", "Poland", "Portugal",
    "Qatar", "Romania", "Russia", "Rwanda", "Saint Kitts and Nevis", "Saint Lucia",
    "Saint Vincent and the Grenadines", "Samoa", "San Marino", "Sao Tome and Principe",
    "Saudi Arabia", "Senegal", "Serbia", "Seychelles", "Sierra Leone", "Singapore", "Slovakia",
    "Slovenia", "Solomon Islands", "Somalia", "South Africa", "South Sudan", "Sri Lanka", "Sudan",
    "Suriname", "Sweden", "Switzerland", "Syria", "Tajikistan", "Tanzania", "Thailand",
    "Timor-Leste", "Togo", "Tonga", "Trinidad and Tobago", "Tunisia", "Turkey", "Turkmenistan",
    "Tuvalu", "Uganda", "Ukraine", "United Arab Emirates", "Uruguay", "Uzbekistan", "Vanuatu",
    "Vatican City", "Venezuela", "Vietnam", "Yemen", "Zambia", "Zimbabwe", "Taiwan", "Hong Kong",
    "Macao", "Puerto Rico", "Greenland", "Bermuda", "Guam", "Réunion", "New Caledonia",
    "French Polynesia", "Gibraltar", "Isle of Man", "Jersey", "Guernsey", "Faroe Islands", "Aruba",
    "Curaçao", "Cayman Islands", "Kosovo", "Palestine", "Western Sahara", "Martinique",
    "Guadeloupe", "French Guiana",
)
# fmt: on

ALL_COUNTRIES: tuple[str, ...] = tuple(c for c, _, _ in _MAJOR_COUNTRIES) + _OTHER_COUNTRIES
"""Every country name the data set uses (including ``"Unknown"``)."""

# Referrer hosts with weights; None stands for direct traffic, which has no referrer and so
# never shows up in a referral ranking.
_REFERRERS: tuple[tuple[str | None, int], ...] = (
    (None, 40),
    ("www.google.com", 25),
    ("scholar.google.com", 10),
    ("www.bing.com", 4),
    ("duckduckgo.com", 3),
    ("doi.org", 6),
    ("figshare.com", 5),
    ("t.co", 2),
    ("www.facebook.com", 1),
    ("en.wikipedia.org", 2),
    ("github.com", 2),
)

_COUNTER_WEIGHTS: tuple[int, ...] = (74, 24, 2)
_UNSHARED_WEIGHTS: tuple[int, ...] = (76, 24, 0)
# Share of articles that are ever shared: for most, the service has no shares at all.
_SHARED_RATE = 0.3
# Share of events whose city could not be resolved at all (no city key, country total only).
_NO_CITY_RATE = 0.08

_ITEM_TYPE_WEIGHTS: tuple[int, ...] = (2, 1, 1, 30, 20, 5, 8, 4, 10, 12, 4, 3)


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Article:
    """One article (figshare "item") and the objects it belongs to."""

    id: int
    title: str
    item_type: str
    category_ids: tuple[int, ...]
    author_ids: tuple[int, ...]
    group_id: int
    collection_ids: tuple[int, ...] = ()
    project_id: int | None = None
    is_public: bool = True
    cites: int = 0


@dataclass(frozen=True)
class Author:
    """A figshare author (the author id, not an institutional user id)."""

    id: int
    full_name: str


@dataclass(frozen=True)
class Group:
    """An institutional group."""

    id: int
    name: str


@dataclass(frozen=True)
class Collection:
    """A collection; its articles are the ones listing its id in ``collection_ids``."""

    id: int
    title: str


@dataclass(frozen=True)
class Project:
    """A project; its articles are the ones whose ``project_id`` is its id."""

    id: int
    title: str


class EventRow(NamedTuple):
    """``events`` events of one kind on one article, on one day, from one place and referrer.

    ``city`` None means the event had a country but no city: it counts in the country total only.
    ``referral`` None means direct traffic (no referrer host). ``events`` is always at least 1.
    """

    article_id: int
    day: date
    counter: str
    country: str
    city: str | None
    referral: str | None
    events: int


@dataclass
class ScopeData:
    """The catalogue and events of one scope: public (``slug`` None) or one institution."""

    slug: str | None
    articles: dict[int, Article]
    authors: dict[int, Author]
    groups: dict[int, Group]
    collections: dict[int, Collection]
    projects: dict[int, Project]
    rows: tuple[EventRow, ...]
    _series: dict[tuple[int, str], tuple[list[date], list[EventRow]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Rows per (article, counter), sorted by day, so a date window is two bisections.
        series: dict[tuple[int, str], tuple[list[date], list[EventRow]]] = {}
        for row in sorted(self.rows, key=lambda r: (r.article_id, r.counter, r.day)):
            days, rows = series.setdefault((row.article_id, row.counter), ([], []))
            days.append(row.day)
            rows.append(row)
        self._series = series

    def articles_of(self, item: str, item_id: int) -> list[Article]:
        """The articles whose events count for ``item`` ``item_id`` (empty if it is unknown)."""
        if item == "article":
            article = self.articles.get(item_id)
            return [] if article is None else [article]
        return [a for a in self.articles.values() if item_id in item_ids_of(a, item)]

    def rows_for(
        self, article_id: int, counter: str, first: date | None = None, last: date | None = None
    ) -> Sequence[EventRow]:
        """The article's rows for ``counter`` with ``first <= day <= last`` (None: unbounded)."""
        days, rows = self._series.get((article_id, counter), ([], []))
        lo = 0 if first is None else bisect.bisect_left(days, first)
        hi = len(days) if last is None else bisect.bisect_right(days, last)
        return rows[lo:hi]


def item_ids_of(article: Article, item: str) -> tuple[int, ...]:
    """The ids of the objects of kind ``item`` that ``article`` belongs to."""
    if item == "article":
        return (article.id,)
    if item == "author":
        return article.author_ids
    if item == "group":
        return (article.group_id,)
    if item == "collection":
        return article.collection_ids
    if item == "project":
        return () if article.project_id is None else (article.project_id,)
    raise ValueError(f"unknown item kind: {item}")


@dataclass(frozen=True)
class _ScopeSize:
    articles: int
    authors: int
    groups: int
    collections: int
    projects: int


_PUBLIC_SIZE = _ScopeSize(articles=300, authors=120, groups=12, collections=20, projects=10)
_INSTITUTION_SIZE = _ScopeSize(articles=120, authors=50, groups=6, collections=8, projects=5)


@dataclass
class FigshareDataset:
    """All scopes of the emulated service, their credentials, and the dates the events span."""

    seed: int
    start: date
    end: date
    public: ScopeData
    institutions: dict[str, ScopeData]
    credentials: dict[str, tuple[str, str]]

    @classmethod
    def generate(
        cls,
        seed: int = 11,
        start: date = date(2021, 1, 1),
        end: date | None = None,
        *,
        institutions: Mapping[str, tuple[str, str]] | None = None,
    ) -> FigshareDataset:
        """Build the data set; the same arguments always give the same data.

        ``end`` defaults to today (UTC). ``institutions`` maps slug -> (username, password) and
        defaults to ``DEMO_INSTITUTIONS``.
        """
        end = utc_today() if end is None else end
        if end < start:
            raise ValueError("end must not be before start")
        creds = dict(DEMO_INSTITUTIONS if institutions is None else institutions)
        # The service tells scopes apart by the first path segment, so a slug cannot be a family.
        clashes = set(creds) & {"total", "timeline", "breakdown", "top", "count"}
        if clashes:
            raise ValueError(f"institution slugs clash with route names: {sorted(clashes)}")
        public = _generate_scope(None, random.Random(f"{seed}:public"), start, end, _PUBLIC_SIZE)
        scopes = {
            slug: _generate_scope(slug, random.Random(f"{seed}:{slug}"), start, end, _INSTITUTION_SIZE)
            for slug in creds
        }
        return cls(seed, start, end, public, scopes, creds)

    def scope(self, slug: str | None) -> ScopeData:
        """The public scope for None, else the institution's (KeyError if unknown)."""
        return self.public if slug is None else self.institutions[slug]


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------

_FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Elif", "Femi", "Grace", "Hiro", "Ines", "Jon")
_LAST_NAMES = ("Okafor", "Smith", "Tanaka", "Müller", "Rossi", "Nguyen", "Patel", "Silva")
_TOPICS = ("soil", "glacier", "protein", "survey", "traffic", "coral", "battery", "speech")


def _generate_scope(
    slug: str | None, rng: random.Random, start: date, end: date, size: _ScopeSize
) -> ScopeData:
    authors = {
        AUTHOR_BASE + i: Author(AUTHOR_BASE + i, f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}")
        for i in range(size.authors)
    }
    groups = {GROUP_BASE + i: Group(GROUP_BASE + i, f"Group {i + 1}") for i in range(size.groups)}
    collections = {
        COLLECTION_BASE + i: Collection(COLLECTION_BASE + i, f"{rng.choice(_TOPICS)} collection")
        for i in range(size.collections)
    }
    projects = {
        PROJECT_BASE + i: Project(PROJECT_BASE + i, f"{rng.choice(_TOPICS)} project")
        for i in range(size.projects)
    }
    articles = {
        ARTICLE_BASE + i: _generate_article(rng, i, authors, groups, collections, projects)
        for i in range(size.articles)
    }
    counts: dict[tuple[int, date, str, str, str | None, str | None], int] = {}
    events = _EventSampler(rng, counts)
    for index, article in enumerate(articles.values()):
        if not article.is_public:
            continue  # unpublished items have no landing page, so no events
        if index < len(DEMO_ARTICLE_IDS):
            events.demo_activity(article.id, start, end, long_tail=index == 0)
            published = start
        else:
            published = start + timedelta(days=rng.randrange(max(1, (end - start).days - 30)))
        popularity = min(rng.paretovariate(1.3), 40.0)
        shared = rng.random() < _SHARED_RATE
        events.spread(article.id, int(20 * popularity), published, end, shared=shared)
    rows = tuple(EventRow(a, d, c, co, ci, r, n) for (a, d, c, co, ci, r), n in counts.items())
    return ScopeData(slug, articles, authors, groups, collections, projects, rows)


def _generate_article(
    rng: random.Random,
    index: int,
    authors: Mapping[int, Author],
    groups: Mapping[int, Group],
    collections: Mapping[int, Collection],
    projects: Mapping[int, Project],
) -> Article:
    article_id = ARTICLE_BASE + index
    item_type = rng.choices(ITEM_TYPES, weights=_ITEM_TYPE_WEIGHTS)[0]
    categories = tuple(sorted(rng.sample(CATEGORY_IDS, rng.randint(1, 3))))
    title = f"{rng.choice(_TOPICS).capitalize()} {item_type} {index + 1}"
    cites = int(rng.expovariate(0.3))
    collection_ids: tuple[int, ...]
    if index < len(_DEMO_LINKS):
        author_ids, group_id, collection_ids, project_id = _DEMO_LINKS[index]
        return Article(
            article_id,
            title,
            item_type,
            categories,
            author_ids,
            group_id,
            collection_ids,
            project_id,
            True,
            cites,
        )
    author_ids = tuple(rng.sample(sorted(authors), rng.choices((1, 2, 3, 4), (5, 3, 2, 1))[0]))
    group_id = rng.choice(sorted(groups))
    collection_ids = ()
    if rng.random() < 0.25:
        collection_ids = tuple(sorted(rng.sample(sorted(collections), rng.randint(1, 2))))
    project_id = rng.choice(sorted(projects)) if rng.random() < 0.15 else None
    is_public = rng.random() < 0.9
    # An unpublished item cannot be cited.
    return Article(
        article_id,
        title,
        item_type,
        categories,
        author_ids,
        group_id,
        collection_ids,
        project_id,
        is_public,
        cites if is_public else 0,
    )


class _EventSampler:
    """Draws events and adds them to the per-(article, day, counter, place, referrer) counts."""

    def __init__(
        self,
        rng: random.Random,
        counts: dict[tuple[int, date, str, str, str | None, str | None], int],
    ) -> None:
        self.rng = rng
        self.counts = counts
        self.countries = [c for c, _, _ in _MAJOR_COUNTRIES] + ["*other*"]
        self.country_weights = [w for _, w, _ in _MAJOR_COUNTRIES] + [6]
        self.cities = {c: cities for c, _, cities in _MAJOR_COUNTRIES}
        self.referrers = [r for r, _ in _REFERRERS]
        self.referrer_weights = [w for _, w in _REFERRERS]

    def add(
        self,
        article_id: int,
        day: date,
        counter: str,
        country: str,
        city: str | None,
        referral: str | None,
        n: int,
    ) -> None:
        key = (article_id, day, counter, country, city, referral)
        self.counts[key] = self.counts.get(key, 0) + n

    def spread(self, article_id: int, n_rows: int, first: date, last: date, *, shared: bool) -> None:
        """Add ``n_rows`` random events on days in ``first..last``."""
        rng = self.rng
        span = (last - first).days + 1
        weights = _COUNTER_WEIGHTS if shared else _UNSHARED_WEIGHTS
        counters = rng.choices(COUNTERS, weights=weights, k=n_rows)
        countries = rng.choices(self.countries, weights=self.country_weights, k=n_rows)
        referrers = rng.choices(self.referrers, weights=self.referrer_weights, k=n_rows)
        for counter, country, referral in zip(counters, countries, referrers, strict=True):
            day = first + timedelta(days=rng.randrange(span))
            self.add(
                article_id,
                day,
                counter,
                *self._place(country),
                referral,
                1 + int(rng.expovariate(0.8)),
            )

    def _place(self, country: str) -> tuple[str, str | None]:
        rng = self.rng
        if country == "*other*":
            return rng.choice(_OTHER_COUNTRIES), None if rng.random() < 0.7 else "Unknown"
        if rng.random() < _NO_CITY_RATE:
            return country, None
        cities = self.cities[country]
        # Earlier cities in the list are the bigger ones.
        return country, rng.choices(cities, weights=range(len(cities) + 1, 1, -1))[0]

    def demo_activity(self, article_id: int, start: date, end: date, *, long_tail: bool) -> None:
        """Steady recent traffic (so default windows have data) and, optionally, a long tail.

        The long tail puts one view from every country, and one from every city of the major
        countries, within the 300 days before ``end``: a one-year breakdown then has more than
        200 countries and several countries with more than 10 cities.
        """
        rng = self.rng
        for back in range(min(90, (end - start).days + 1)):
            day = end - timedelta(days=back)
            for counter, rate in (("views", 4), ("downloads", 2), ("shares", 0)):
                for _ in range(rng.randint(1 if counter != "shares" else 0, rate + 1)):
                    country = rng.choices(self.countries[:-1], self.country_weights[:-1])[0]
                    referral = rng.choices(self.referrers, self.referrer_weights)[0]
                    self.add(article_id, day, counter, *self._place(country), referral, 1)
        if not long_tail:
            return
        window = max(1, min(300, (end - start).days + 1))
        for country in ALL_COUNTRIES:
            day = end - timedelta(days=rng.randrange(window))
            self.add(article_id, day, "views", country, None, None, 1)
        for country, _, cities in _MAJOR_COUNTRIES:
            for city in cities:
                day = end - timedelta(days=rng.randrange(window))
                self.add(article_id, day, "views", country, city, "www.google.com", 1)
