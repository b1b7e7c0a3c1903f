"""``gateway.asgi:app``: the gateway configured from the environment, for any ASGI server.

    uvicorn gateway.asgi:app --workers 4
    gunicorn -k uvicorn_worker.UvicornWorker gateway.asgi:app

Bad configuration stops the worker with one line naming the variable, as ``stats-gateway serve``
does. ``STATS_GATEWAY_DEMO_HEADERS=1`` (set by ``serve --demo --workers N``) prefills the
explorer with the demo's credentials.

Logs follow ``GATEWAY_LOG_LEVEL`` and ``GATEWAY_LOG_FORMAT``; traces the ``OTEL_*`` variables. With
several workers, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by them (before they
start) so that ``/metrics`` answers with all of them; ``stats-gateway serve`` does this itself.
"""

from __future__ import annotations

import os
import sys

from gateway.app import create_app
from gateway.examples import demo_headers
from gateway.server import tune_interpreter
from gateway.settings import ConfigError, Settings
from gateway.telemetry import logs

try:
    _settings = Settings.from_env()
    logs.configure(_settings.log_level, _settings.log_format)
    app = create_app(
        _settings,
        explorer_headers=demo_headers() if os.environ.get("STATS_GATEWAY_DEMO_HEADERS") == "1" else None,
    )
except ConfigError as exc:
    print(f"stats-gateway: bad configuration: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
tune_interpreter()
