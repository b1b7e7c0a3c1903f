"""Per-operation context: the caller's data sources and loaders, the call log, today, the limits.

``ContextFactory`` is made once at start-up with the process-wide parts; calling it makes a fresh
context for one operation. Adding an upstream adds one line here (its data source).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import cached_property

from gateway.auth import Auth, CallerCredentials
from gateway.resolvers.args import Limits
from gateway.resolvers.figshare import ArticleCountLoader
from gateway.resolvers.zooniverse import ErasLoader
from gateway.upstream.calls import CallLog
from gateway.upstream.client import Upstream
from gateway.upstream.eras import ErasAPI
from gateway.upstream.figshare import FigshareAPI


class GatewayContext:
    """What the resolvers of one operation share."""

    def __init__(
        self,
        upstreams: Mapping[str, Upstream],
        auth: Auth,
        caller: CallerCredentials,
        today: date,
        limits: Limits,
        budget: int,
    ) -> None:
        self.calls = CallLog(budget=budget)
        self.today = today
        self.limits = limits
        self.budget = budget
        self.eras = ErasAPI(upstreams[ErasAPI.source], auth, caller, self.calls, today)
        self.figshare = FigshareAPI(upstreams[FigshareAPI.source], auth, caller, self.calls, today)

    @cached_property
    def eras_loader(self) -> ErasLoader:
        return ErasLoader(self.eras)

    @cached_property
    def article_counts(self) -> ArticleCountLoader:
        return ArticleCountLoader(self.figshare)


class ContextFactory:
    """Makes each operation's context from the long-lived parts."""

    def __init__(self, upstreams: Mapping[str, Upstream], auth: Auth, limits: Limits, budget: int) -> None:
        self.upstreams = upstreams
        self.auth = auth
        self.limits = limits
        self.budget = budget

    def __call__(self, caller: CallerCredentials, today: date) -> GatewayContext:
        return GatewayContext(self.upstreams, self.auth, caller, today, self.limits, self.budget)
