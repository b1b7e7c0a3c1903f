"""Deterministic synthetic data for the ERAS emulator, and the fake Panoptes it asks about tokens.

ERAS (eras-api.md) counts two kinds of events: Panoptes classifications and Talk comments. It has no
users of its own: it asks Panoptes who a bearer token belongs to, how a user group shows its stats
(``stats_visibility``) and which roles a user holds in a group. ``ErasDataset`` holds both halves:
the events (``ClassificationEvent``, ``CommentEvent``) and a ``FakePanoptes`` directory.

The directory is fixed: the well-known identities below (``DEMO_TOKENS``, ``DEMO_GROUPS``) are the
same for every dataset, so the demo can print them and the tests can rely on them. The events
depend on the seed and the date span. Every well-known user classifies on the span's last day, so
each of them has data whatever the span.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from operator import itemgetter
from typing import Final

SESSION_CAP_S: Final = 10800
"""ERAS caps each classification's session time at three hours (``StreamEvents.session_time``)."""

STATS_VISIBILITIES: Final = (
    "public_show_all",
    "public_agg_show_ind_if_member",
    "public_agg_only",
    "private_show_agg_and_ind",
    "private_agg_only",
)
"""The five values of a Panoptes user group's ``stats_visibility``."""

GROUP_ADMIN_ROLE: Final = "group_admin"
GROUP_MEMBER_ROLE: Final = "group_member"

# ---------------------------------------------------------------- well-known identities

VOLUNTEER_ID: Final = 1325316
"""A volunteer who classifies a lot and is a plain member of groups 42-46."""
SECOND_VOLUNTEER_ID: Final = 1326056
"""Another volunteer: a member of groups 42, 43 and 45, and the admin of group 47."""
GROUP_ADMIN_ID: Final = 1325796
"""A volunteer with the ``group_admin`` role in groups 42-46."""
PANOPTES_ADMIN_ID: Final = 1101524
"""A Zooniverse staff account: Panoptes ``admin: true``, member of no group."""
OUTSIDER_ID: Final = 1329817
"""A volunteer with no group membership. Some of their older classifications still name group 44,
which they have since left: ERAS credits groups as recorded at classification time."""

VOLUNTEER_TOKEN: Final = "demo-token-volunteer"
SECOND_VOLUNTEER_TOKEN: Final = "demo-token-volunteer-2"
PANOPTES_ADMIN_TOKEN: Final = "demo-token-panoptes-admin"
GROUP_ADMIN_TOKEN: Final = "demo-token-group-admin"
OUTSIDER_TOKEN: Final = "demo-token-outsider"
EXPIRED_TOKEN: Final = "demo-token-expired"
"""A token Panoptes no longer accepts (ERAS answers 403 "Could not check authentication ...")."""

DEMO_TOKENS: Final[Mapping[str, str]] = {
    VOLUNTEER_TOKEN: f"volunteer {VOLUNTEER_ID}, plain member of groups 42-46",
    SECOND_VOLUNTEER_TOKEN: f"volunteer {SECOND_VOLUNTEER_ID}, member of 42, 43, 45, admin of 47",
    PANOPTES_ADMIN_TOKEN: f"Panoptes admin {PANOPTES_ADMIN_ID}, may see every user and group",
    GROUP_ADMIN_TOKEN: f"volunteer {GROUP_ADMIN_ID}, group admin of groups 42-46",
    OUTSIDER_TOKEN: f"volunteer {OUTSIDER_ID}, member of no group",
}
"""The tokens the fake Panoptes accepts for the well-known users, with who they are."""

DEMO_GROUPS: Final[Mapping[int, str]] = {
    42: "public_show_all",
    43: "public_agg_show_ind_if_member",
    44: "public_agg_only",
    45: "private_show_agg_and_ind",
    46: "private_agg_only",
    47: "public_agg_show_ind_if_member",
}
"""Every user group in the fake Panoptes, with its ``stats_visibility``."""

_GROUP_NAMES: Final[Mapping[int, str]] = {
    42: "Open Science Club",
    43: "Birdwatchers United",
    44: "Riverside School Year 9",
    45: "Deep Field Lab",
    46: "Acme Corp Volunteers",
    47: "Night Owls",
}

PROJECT_WORKFLOWS: Final[Mapping[int, tuple[int, ...]]] = {
    1234: (5678, 5679, 5680),
    335: (3110,),
    1613: (4021, 4022),
    1783: (5123,),
    1952: (6310, 6311),
    1972: (6402,),
    2210: (7015, 7016, 7017),
    4321: (8830, 8831),
}
"""Every project in the data and its workflows."""

DEMO_PROJECT_IDS: Final = tuple(PROJECT_WORKFLOWS)
DEMO_WORKFLOW_IDS: Final = tuple(w for ws in PROJECT_WORKFLOWS.values() for w in ws)
DEMO_USER_IDS: Final = (
    VOLUNTEER_ID,
    SECOND_VOLUNTEER_ID,
    GROUP_ADMIN_ID,
    PANOPTES_ADMIN_ID,
    OUTSIDER_ID,
)


# ---------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class ClassificationEvent:
    """One Panoptes classification as ERAS ingests it (times are UTC-aware)."""

    classification_id: int
    created_at: datetime
    project_id: int
    workflow_id: int
    user_id: int | None
    user_group_ids: tuple[int, ...]
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def session_micros(self) -> int:
        """``session_time`` in whole microseconds, so sums of it are exact."""
        if self.started_at is None or self.finished_at is None:
            return 0
        micros = (self.finished_at - self.started_at) // timedelta(microseconds=1)
        return min(max(micros, 0), SESSION_CAP_S * 1_000_000)

    @property
    def session_time(self) -> float:
        """Seconds from start to finish: 0 if a time is missing or negative, capped at 10800."""
        return self.session_micros / 1_000_000

    @property
    def credited_group_ids(self) -> tuple[int, ...]:
        """The groups this classification counts for: each distinct listed id, if a user is set."""
        if self.user_id is None:
            return ()
        return tuple(dict.fromkeys(self.user_group_ids))


@dataclass(frozen=True, slots=True)
class CommentEvent:
    """One Talk comment; ``project_id`` is None on site-wide boards."""

    comment_id: int
    created_at: datetime
    project_id: int | None
    user_id: int | None


# ---------------------------------------------------------------- fake Panoptes


@dataclass(frozen=True, slots=True)
class PanoptesUser:
    """What ERAS reads from Panoptes ``/api/me``."""

    id: int
    admin: bool = False


@dataclass(frozen=True, slots=True)
class PanoptesGroup:
    """What ERAS reads from Panoptes ``/api/user_groups/:id`` (the name is for people)."""

    id: int
    name: str
    stats_visibility: str


@dataclass(frozen=True)
class FakePanoptes:
    """Users, bearer tokens, user groups and memberships, answering ERAS's three questions."""

    users: Mapping[int, PanoptesUser]
    tokens: Mapping[str, int]
    groups: Mapping[int, PanoptesGroup]
    memberships: Mapping[tuple[int, int], tuple[str, ...]]
    """(user id, group id) -> roles; a record with no roles does not make a member."""

    def me(self, token: str) -> PanoptesUser | None:
        """The user a token belongs to, or None when Panoptes rejects it."""
        user_id = self.tokens.get(token)
        return None if user_id is None else self.users[user_id]

    def user_group(self, group_id: int) -> PanoptesGroup | None:
        """The group, or None where Panoptes answers 404."""
        return self.groups.get(group_id)

    def membership_roles(self, user_id: int, group_id: int) -> tuple[str, ...] | None:
        """The roles of the user's membership record in the group, or None without a record."""
        return self.memberships.get((user_id, group_id))

    def groups_of(self, user_id: int) -> tuple[int, ...]:
        """Groups in which the user currently holds a role, ascending."""
        return tuple(
            sorted(gid for (uid, gid), roles in self.memberships.items() if uid == user_id and roles)
        )


def build_panoptes() -> FakePanoptes:
    """The fixed directory: the well-known identities plus 35 other volunteers."""
    rng = random.Random(DEMO_USER_IDS[0])  # fixed: the directory never depends on a dataset seed
    others = sorted(rng.sample([i for i in range(1325320, 1331000) if i not in DEMO_USER_IDS], 35))
    users = {uid: PanoptesUser(uid) for uid in (*DEMO_USER_IDS, *others)}
    users[PANOPTES_ADMIN_ID] = PanoptesUser(PANOPTES_ADMIN_ID, admin=True)

    memberships: dict[tuple[int, int], tuple[str, ...]] = {}
    for gid in (42, 43, 44, 45, 46):
        memberships[(VOLUNTEER_ID, gid)] = (GROUP_MEMBER_ROLE,)
        memberships[(GROUP_ADMIN_ID, gid)] = (GROUP_ADMIN_ROLE,)
    for gid in (42, 43, 45):
        memberships[(SECOND_VOLUNTEER_ID, gid)] = (GROUP_MEMBER_ROLE,)
    memberships[(SECOND_VOLUNTEER_ID, 47)] = (GROUP_ADMIN_ROLE,)
    for uid in others:
        for gid in rng.sample(sorted(DEMO_GROUPS), rng.choice((0, 1, 1, 2, 3))):
            memberships[(uid, gid)] = (GROUP_MEMBER_ROLE,)

    groups = {gid: PanoptesGroup(gid, _GROUP_NAMES[gid], vis) for gid, vis in DEMO_GROUPS.items()}
    tokens = {
        VOLUNTEER_TOKEN: VOLUNTEER_ID,
        SECOND_VOLUNTEER_TOKEN: SECOND_VOLUNTEER_ID,
        PANOPTES_ADMIN_TOKEN: PANOPTES_ADMIN_ID,
        GROUP_ADMIN_TOKEN: GROUP_ADMIN_ID,
        OUTSIDER_TOKEN: OUTSIDER_ID,
    }
    return FakePanoptes(users=users, tokens=tokens, groups=groups, memberships=memberships)


# ---------------------------------------------------------------- the dataset


def utc_today() -> date:
    """Today's date in UTC, the only calendar ERAS knows."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class ErasDataset:
    """Events over ``start``..``end`` (inclusive UTC days) and the Panoptes directory."""

    classifications: tuple[ClassificationEvent, ...]
    comments: tuple[CommentEvent, ...]
    panoptes: FakePanoptes
    start: date
    end: date

    @classmethod
    def generate(cls, seed: int = 7, start: date = date(2023, 1, 1), end: date | None = None) -> ErasDataset:
        """A deterministic dataset for these arguments; ``end`` defaults to today (UTC)."""
        last = utc_today() if end is None else end
        if last < start:
            raise ValueError(f"end {last} is before start {start}")
        panoptes = build_panoptes()
        midpoint = start + timedelta(days=(last - start).days // 2)
        sampler = _EventSampler(random.Random(seed), panoptes, left_former_groups=midpoint)
        day = start
        while day <= last:
            sampler.ordinary_day(day)
            day += timedelta(days=1)
        sampler.well_known_day(last)
        return cls(
            classifications=sampler.classifications(),
            comments=sampler.comments(),
            panoptes=panoptes,
            start=start,
            end=last,
        )


_PROJECT_WEIGHTS: Final[Mapping[int, float]] = {
    1234: 5,
    335: 2,
    1613: 3,
    1783: 1,
    1952: 2,
    1972: 1.5,
    2210: 3,
    4321: 1,
}
# Fixed favourites make the well-known users' project lists stable across seeds.
_FAVOURITES: Final[Mapping[int, tuple[int, ...]]] = {
    VOLUNTEER_ID: (1234, 1613, 2210),
    SECOND_VOLUNTEER_ID: (1234, 335, 1952),
    GROUP_ADMIN_ID: (1613, 4321, 1234),
    PANOPTES_ADMIN_ID: (1972, 1783),
    OUTSIDER_ID: (2210, 335),
}
_ACTIVITY: Final[Mapping[int, float]] = {
    VOLUNTEER_ID: 6,
    SECOND_VOLUNTEER_ID: 4,
    GROUP_ADMIN_ID: 3,
    PANOPTES_ADMIN_ID: 1.5,
    OUTSIDER_ID: 2,
}
_FORMER_GROUPS: Final[Mapping[int, int]] = {OUTSIDER_ID: 44}
"""Groups a user has left: their classifications name it until the middle of the span."""

_ANONYMOUS_SHARE = 0.14
_STALE_GROUPS_SHARE = 0.03  # anonymous classifications still carrying group ids (never credited)
_MISSING_TIME_SHARE = 0.03
_NEGATIVE_TIME_SHARE = 0.015
_OVER_CAP_SHARE = 0.007
_DUPLICATE_GROUP_SHARE = 0.03
_FIRST_CLASSIFICATION_ID = 487_000_000
_FIRST_COMMENT_ID = 3_120_000


_RawClassification = tuple[datetime, int, int, int | None, tuple[int, ...], datetime | None, datetime | None]
"""A classification without its id: created_at, project, workflow, user, groups, start, finish."""


class _EventSampler:
    """Draws events day by day; ids are given in time order at the end."""

    def __init__(self, rng: random.Random, panoptes: FakePanoptes, *, left_former_groups: date) -> None:
        self._rng = rng
        self._left_former_groups = left_former_groups
        self._users = sorted(panoptes.users)
        self._user_weights = [_ACTIVITY.get(u, rng.uniform(0.2, 1.6)) for u in self._users]
        projects = list(_PROJECT_WEIGHTS)
        self._favourites = {
            u: _FAVOURITES.get(u) or tuple(rng.sample(projects, rng.randint(1, 4))) for u in self._users
        }
        self._groups = {u: panoptes.groups_of(u) for u in self._users}
        self._raw_classifications: list[_RawClassification] = []
        self._raw_comments: list[tuple[datetime, int | None, int | None]] = []

    def ordinary_day(self, day: date) -> None:
        rng = self._rng
        busy = 1.3 if day.weekday() >= 5 else 1.0  # volunteers classify more at weekends
        for _ in range(int(rng.randint(9, 24) * busy)):
            user = None if rng.random() < _ANONYMOUS_SHARE else self._pick_user()
            self._classify(day, user, self._pick_project(user))
        for _ in range(rng.randint(0, 5)):
            self._comment(day, self._pick_comment_user(), self._pick_comment_project())

    def well_known_day(self, day: date) -> None:
        """One classification and one comment by each well-known user on ``day``."""
        for user in DEMO_USER_IDS:
            project = _FAVOURITES[user][0]
            self._classify(day, user, project)
            self._comment(day, user, project)

    def _pick_user(self) -> int:
        return self._rng.choices(self._users, weights=self._user_weights)[0]

    def _pick_project(self, user: int | None) -> int:
        rng = self._rng
        if user is not None and rng.random() < 0.9:
            return rng.choice(self._favourites[user])
        return rng.choices(list(_PROJECT_WEIGHTS), weights=list(_PROJECT_WEIGHTS.values()))[0]

    def _pick_comment_user(self) -> int | None:
        return None if self._rng.random() < 0.06 else self._pick_user()

    def _pick_comment_project(self) -> int | None:
        return None if self._rng.random() < 0.15 else self._pick_project(None)

    def _moment(self, day: date) -> datetime:
        """A random instant of the day, to the millisecond (as Panoptes records it)."""
        ms = self._rng.randrange(86_400_000)
        return datetime.combine(day, time.min, tzinfo=UTC) + timedelta(milliseconds=ms)

    def _classify(self, day: date, user: int | None, project: int) -> None:
        rng = self._rng
        created = self._moment(day)
        workflow = rng.choice(PROJECT_WORKFLOWS[project])
        groups = self._group_ids(user, day) if user is not None else self._stale_group_ids()
        started, finished = self._session(created)
        self._raw_classifications.append((created, project, workflow, user, groups, started, finished))

    def _group_ids(self, user: int, day: date) -> tuple[int, ...]:
        rng = self._rng
        listed = [g for g in self._groups[user] if rng.random() < 0.9]
        former = _FORMER_GROUPS.get(user)
        if former is not None and day < self._left_former_groups:
            listed.append(former)
        if listed and rng.random() < _DUPLICATE_GROUP_SHARE:
            listed.append(listed[0])  # Panoptes metadata can repeat an id; ERAS counts it once
        return tuple(listed)

    def _stale_group_ids(self) -> tuple[int, ...]:
        if self._rng.random() < _STALE_GROUPS_SHARE:
            return (self._rng.choice(sorted(DEMO_GROUPS)),)
        return ()

    def _session(self, created: datetime) -> tuple[datetime | None, datetime | None]:
        rng = self._rng
        finished = created - timedelta(milliseconds=rng.randrange(50, 1500))
        roll = rng.random()
        if roll < _MISSING_TIME_SHARE:
            return (None, finished) if rng.random() < 0.5 else (finished, None)
        roll -= _MISSING_TIME_SHARE
        if roll < _NEGATIVE_TIME_SHARE:
            return finished + timedelta(milliseconds=rng.randrange(1, 90_000)), finished
        roll -= _NEGATIVE_TIME_SHARE
        if roll < _OVER_CAP_SHARE:
            seconds = rng.uniform(SESSION_CAP_S + 1, 5 * SESSION_CAP_S)
        else:
            seconds = min(rng.lognormvariate(3.4, 1.1), 0.95 * SESSION_CAP_S)
        return finished - timedelta(milliseconds=round(seconds * 1000)), finished

    def _comment(self, day: date, user: int | None, project: int | None) -> None:
        self._raw_comments.append((self._moment(day), project, user))

    def classifications(self) -> tuple[ClassificationEvent, ...]:
        ordered = sorted(self._raw_classifications, key=itemgetter(0))
        return tuple(
            ClassificationEvent(_FIRST_CLASSIFICATION_ID + offset, *raw) for offset, raw in enumerate(ordered)
        )

    def comments(self) -> tuple[CommentEvent, ...]:
        ordered = sorted(self._raw_comments, key=itemgetter(0))
        return tuple(CommentEvent(_FIRST_COMMENT_ID + offset, *raw) for offset, raw in enumerate(ordered))
