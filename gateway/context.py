"""Per-request context: the caller's credentials, the operation's planners and its call log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from starlette.requests import Request
from starlette.responses import Response

from gateway.resolvers.figshare import FigshareSource
from gateway.resolvers.zooniverse import ZooniverseSource
from gateway.upstream.base import CallLog


@dataclass
class GatewayContext:
    """What resolvers of one GraphQL request share. Built by ``app.GraphQLView.get_context``."""

    zooniverse: ZooniverseSource
    figshare: FigshareSource
    calls: CallLog
    today: date
    request: Request | None = None
    response: Response | None = None
    trace: bool = False
