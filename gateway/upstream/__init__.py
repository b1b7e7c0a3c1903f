"""The only package that speaks HTTP to the upstreams.

``UPSTREAMS`` is the table of upstream services: each data source class names its source and the
prefix of its settings (``<prefix>_url``, ``<prefix>_max_rps``). Adding an upstream adds a line here.
"""

from __future__ import annotations

from gateway.upstream.datasource import DataSource
from gateway.upstream.eras import ErasAPI
from gateway.upstream.figshare import FigshareAPI

UPSTREAMS: tuple[type[DataSource], ...] = (ErasAPI, FigshareAPI)
