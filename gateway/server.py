"""Serving the app with uvicorn: the production HTTP stack, one process or several on one socket.

httptools and uvloop (``uvicorn[standard]``) parse HTTP and run the loop several times faster than
the pure-Python defaults. No access log line per request unless the log level is ``debug``.
"""

from __future__ import annotations

import gc
import logging

import uvicorn
from uvicorn.supervisors import Multiprocess

from gateway.settings import Settings

TRACE_LOG_LEVEL = 5  # uvicorn's own "trace" level, below DEBUG


def tune_gc() -> None:
    """Collect garbage less often, and never look at what start-up made again.

    A request allocates thousands of short-lived objects: with the default threshold (700) the
    collector ran several times per request and, every so often, walked the whole heap (caches
    included). Measured: a third of the CPU of a six-call query (bench/README.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _level(name: str) -> int:
    return TRACE_LOG_LEVEL if name == "trace" else logging.getLevelName(name.upper())


def config(settings: Settings, *, host: str, port: int, demo: bool = False) -> uvicorn.Config:
    """uvicorn's configuration for these settings (one process: the app itself; several: by import)."""
    from gateway.app import create_app
    from gateway.examples import demo_headers

    app: object = "gateway.asgi:app"
    if settings.workers == 1:
        app = create_app(settings, explorer_headers=demo_headers() if demo else None)
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        workers=settings.workers,  # always given: uvicorn would otherwise read WEB_CONCURRENCY
        http="httptools",
        loop="uvloop",
        lifespan="on",
        proxy_headers=False,  # nothing here reads the client's address
        log_level=_level(settings.log_level),
        access_log=settings.log_level in ("debug", "trace"),
        timeout_keep_alive=int(max(1, settings.http_keepalive_timeout_s)),
        timeout_graceful_shutdown=int(max(1, settings.shutdown_timeout_s)),
    )


def run(settings: Settings, *, host: str, port: int, demo: bool = False) -> int:
    logging.basicConfig(
        level=_level(settings.log_level), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server_config = config(settings, host=host, port=port, demo=demo)
    tune_gc()
    if settings.workers == 1:
        uvicorn.Server(server_config).run()
        return 0
    # Each worker imports gateway.asgi:app; the supervisor restarts any that die.
    Multiprocess(server_config, sockets=[server_config.bind_socket()]).run()
    return 0
