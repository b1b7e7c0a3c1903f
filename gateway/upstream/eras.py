"""ERAS, Zooniverse's stats service: its four read routes and the shapes of their answers.

Requests follow eras-api.md exactly: id lists joined with commas, ``YYYY-MM-DD`` dates, lower-case
``period``, and boolean flags sent only as ``=true`` (ERAS checks conflicting flags by presence, so
a ``=false`` can turn a good request into a 400). The caller's bearer token goes only to the users
and user-groups routes (see ``gateway.auth``). ``ErasAPI`` builds, fetches and reads in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

from gateway.auth import Access
from gateway.dates import Window
from gateway.errors import Forbidden, UpstreamError
from gateway.upstream.body import BodyReader, window_params
from gateway.upstream.calls import UpstreamRequest
from gateway.upstream.datasource import DataSource, Path, Paths

SOURCE = "ERAS"
T = TypeVar("T")


class ErasRoute(Enum):
    CLASSIFICATIONS = "classifications"
    COMMENTS = "comments"
    USER = "user"
    USER_GROUP = "user_group"

    @property
    def access(self) -> Access:
        return _ACCESS[self]


_ACCESS = {
    ErasRoute.CLASSIFICATIONS: Access.PUBLIC,
    ErasRoute.COMMENTS: Access.PUBLIC,
    ErasRoute.USER: Access.REQUIRED,
    # Visibility is the group's business: forward what the caller has, let ERAS decide.
    ErasRoute.USER_GROUP: Access.OPTIONAL,
}


@dataclass(frozen=True)
class ErasQuery:
    """What selects the rows counted: a route, its subject and filters, and a window."""

    route: ErasRoute
    subject_id: str | None = None  # the user or group id
    project_ids: tuple[str, ...] | None = None
    workflow_ids: tuple[str, ...] | None = None
    user_ids: tuple[str, ...] | None = None  # /comments only
    window: Window = field(default_factory=Window)

    @property
    def filtered(self) -> bool:
        return self.project_ids is not None or self.workflow_ids is not None

    @property
    def path(self) -> str:
        if self.route is ErasRoute.USER:
            return f"/classifications/users/{self.subject_id}"
        if self.route is ErasRoute.USER_GROUP:
            return f"/classifications/user_groups/{self.subject_id}"
        return f"/{self.route.value}"


@dataclass(frozen=True)
class ErasFlags:
    """What one request asks for on top of the counts; merged from the fields that need it."""

    period: str | None = None  # day | week | month | year
    time_spent: bool = False
    project_contributions: bool = False
    order_by_recents: bool = False
    top_contributors: int | None = None
    breakdown: bool = False


def build_params(query: ErasQuery, flags: ErasFlags) -> tuple[tuple[str, str], ...]:
    params: list[tuple[str, str]] = []
    for name, ids in (
        ("project_id", query.project_ids),
        ("workflow_id", query.workflow_ids),
        ("user_id", query.user_ids),
    ):
        if ids is not None:
            params.append((name, ",".join(ids)))
    params += window_params(query.window)
    if flags.period is not None:
        params.append(("period", flags.period))
    if flags.time_spent:
        params.append(("time_spent", "true"))
    if flags.project_contributions:
        params.append(("project_contributions", "true"))
    if flags.order_by_recents:
        params.append(("order_project_contributions_by", "recents"))
    if flags.top_contributors is not None:
        params.append(("top_contributors", str(flags.top_contributors)))
    if flags.breakdown:
        params.append(("individual_stats_breakdown", "true"))
    return tuple(params)


@dataclass(frozen=True)
class ErasBucket:
    """One bucket of an answer's time series (the answers' shapes follow)."""

    start: date
    count: int
    session_time: float | None


@dataclass(frozen=True)
class ErasContribution:
    project_id: str
    count: int
    session_time: float | None


@dataclass(frozen=True)
class ErasContributor:
    user_id: str
    count: int
    session_time: float


@dataclass(frozen=True)
class ErasMember:
    user_id: str
    count: int
    session_time: float
    projects: tuple[ErasContribution, ...]


@dataclass(frozen=True)
class ErasCounts:
    """A read of any counts answer; keys the request did not ask for are None."""

    total: int
    time_spent: float | None = None
    active_users: int | None = None
    buckets: tuple[ErasBucket, ...] | None = None
    contributions: tuple[ErasContribution, ...] | None = None
    top_contributors: tuple[ErasContributor, ...] | None = None


_read = BodyReader(SOURCE, "ERAS")


def _bucket_day(value: Any) -> date:
    # "2023-09-18T00:00:00.000Z": the UTC start of the bucket.
    if not isinstance(value, str):
        raise _read.fail("a bucket period is not text")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        raise _read.fail(f"bucket period {value[:40]!r}") from None


def _contribution(item: Any) -> ErasContribution:
    body = _read.obj(item, "a project contribution")
    return ErasContribution(
        project_id=str(_read.int_(body.get("project_id"), "project_id")),
        count=_read.int_(body.get("count"), "count"),
        session_time=_read.opt_num(body, "session_time", "session_time"),
    )


def read_counts(raw: Any) -> ErasCounts:
    r = _read
    body = r.obj(raw, "the answer")
    buckets = None
    if "data" in body:
        buckets = tuple(
            ErasBucket(
                start=_bucket_day(r.obj(item, "a bucket").get("period")),
                count=r.int_(item.get("count"), "bucket count"),
                session_time=r.opt_num(item, "session_time", "bucket session_time"),
            )
            for item in r.items(body["data"], "data")
        )
    contributions = None
    if "project_contributions" in body:
        contributions = tuple(
            _contribution(item) for item in r.items(body["project_contributions"], "contributions")
        )
    top = None
    if "top_contributors" in body:
        top = tuple(
            ErasContributor(
                user_id=str(r.int_(r.obj(item, "a contributor").get("user_id"), "user_id")),
                count=r.int_(item.get("count"), "count"),
                session_time=r.num(item.get("session_time"), "session_time"),
            )
            for item in r.items(body["top_contributors"], "top_contributors")
        )
    active = body.get("active_users")
    return ErasCounts(
        total=r.int_(body.get("total_count"), "total_count"),
        time_spent=r.opt_num(body, "time_spent", "time_spent"),
        active_users=None if active is None else r.int_(active, "active_users"),
        buckets=buckets,
        contributions=contributions,
        top_contributors=top,
    )


def read_breakdown(raw: Any) -> tuple[ErasMember, ...]:
    r = _read
    body = r.obj(raw, "the answer")
    members = []
    for item in r.items(body.get("group_member_stats_breakdown"), "group_member_stats_breakdown"):
        member = r.obj(item, "a member")
        members.append(
            ErasMember(
                user_id=str(r.int_(member.get("user_id"), "user_id")),
                count=r.int_(member.get("count"), "count"),
                session_time=r.num(member.get("session_time"), "session_time"),
                projects=tuple(
                    _contribution(p)
                    for p in r.items(member.get("project_contributions"), "project_contributions")
                ),
            )
        )
    return tuple(members)


# ---------------------------------------------------------------------- the data source


class ErasAPI(DataSource):
    """ERAS's routes, as one operation asks them."""

    source = SOURCE
    settings_prefix = "eras"
    message_key = "error"

    def check_access(self, route: ErasRoute) -> None:
        """Raise UNAUTHENTICATED now if ``route`` needs a credential the caller did not send."""
        self.forwarding(route.access, "A volunteer's classification stats")

    def request(self, query: ErasQuery, flags: ErasFlags) -> UpstreamRequest:
        forwarding = self.forwarding(query.route.access, "A volunteer's classification stats")
        return UpstreamRequest(
            "GET",
            query.path,
            params=build_params(query, flags),
            forwarding=forwarding,
            settled=query.window.settled(self.today),
        )

    async def counts_each(
        self,
        query: ErasQuery,
        flags: Sequence[ErasFlags],
        paths: Paths | None = None,
        *,
        detached: bool = False,
    ) -> list[ErasCounts | BaseException]:
        """One request per flag set (budgeted together), each answer read or its failure; ``paths[i]``
        are the fields request ``i`` serves, ``detached`` as in ``DataSource.fetch_all``."""
        requests = [self.request(query, f) for f in flags]
        answers = await self.fetch_all(requests, paths, return_exceptions=True, detached=detached)
        return [a if isinstance(a, BaseException) else _read_or_error(read_counts, a) for a in answers]

    async def breakdown(self, query: ErasQuery, path: Path | None = None) -> tuple[ErasMember, ...]:
        return read_breakdown(await self.fetch(self.request(query, ErasFlags(breakdown=True)), path))

    def error_message(self, body: bytes) -> str | None:
        text = super().error_message(body)
        # An unknown group's 404 text is a Ruby inspect dump; its status says enough.
        return None if text is None or text.startswith("{") else text

    def error_from_response(
        self, request: UpstreamRequest, status: int, body: bytes, retry_after_s: float | None
    ) -> UpstreamError:
        if status == 403 and not request.forwarding.credentialed:
            # ERAS refuses with 403 when no token came too (a private group's stats): FORBIDDEN,
            # as every upstream 403, but say what would help.
            said = self.error_message(body)
            return Forbidden(
                "ERAS refused to show this without a bearer token"
                + (f" ({said})." if said else ".")
                + f" To see it, {self.auth.hint(SOURCE)}.",
                source=SOURCE,
                status=403,
            )
        return super().error_from_response(request, status, body, retry_after_s)


def _read_or_error(read: Callable[[Any], T], raw: Any) -> T | BaseException:
    try:
        return read(raw)
    except UpstreamError as exc:
        return exc
