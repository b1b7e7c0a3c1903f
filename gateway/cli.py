"""``stats-gateway serve [--host] [--port] [--demo] [--workers N] [--log-level L]``,
``stats-gateway export-schema`` and ``stats-gateway --version``.

Argument parsing and process start-up only: settings come from ``Settings.from_env`` and the app
from ``create_app`` (one process) or ``gateway.asgi`` (several).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator, Sequence

from gateway import __version__
from gateway.settings import ConfigError, Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stats-gateway", description="One GraphQL API over the ERAS and Figshare stats services."
    )
    parser.add_argument("--version", action="version", version=f"stats-gateway {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the gateway over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="start built-in emulators of both upstreams with synthetic data and use them (offline)",
    )
    serve.add_argument(
        "--workers", type=int, help="worker processes on one socket (default: GATEWAY_WORKERS, or 1)"
    )
    serve.add_argument(
        "--log-level",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="log level (default: GATEWAY_LOG_LEVEL, or info)",
    )
    commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "export-schema":
        from gateway.schema import schema

        sys.stdout.write(schema.as_str() + "\n")
        return 0
    try:
        settings = Settings.from_env()
        changes: dict[str, object] = {}
        if args.workers is not None:
            changes["workers"] = args.workers
        if args.log_level is not None:
            changes["log_level"] = args.log_level
        settings = settings.replace(**changes) if changes else settings
        from gateway.telemetry.tracing import check_env

        check_env()
    except ConfigError as exc:
        print(f"stats-gateway: bad configuration: {exc}", file=sys.stderr)
        return 2
    problem = _port_problem(args.host, args.port)
    if problem is not None:
        print(f"stats-gateway: cannot listen on {args.host}:{args.port}: {problem}", file=sys.stderr)
        return 1
    return serve(settings, host=args.host, port=args.port, demo=args.demo)


def _port_problem(host: str, port: int) -> str | None:
    """Why the address cannot be listened on, said plainly; None when it can."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"the host is unknown ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    "the port is already in use (by another gateway or program); choose another with --port"
                )
            return exc.strerror or str(exc)
    return None


@contextlib.contextmanager
def metrics_dir(workers: int) -> Iterator[None]:
    """Several workers write their metrics to one directory of files, so that ``/metrics`` answers
    for all of them: a fresh one for this run (removed at exit), unless the operator named one with
    PROMETHEUS_MULTIPROC_DIR. Set before the workers start: they read it when they import."""
    if workers == 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    directory = tempfile.mkdtemp(prefix="stats-gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(directory, ignore_errors=True)


def serve(settings: Settings, *, host: str, port: int, demo: bool) -> int:
    with metrics_dir(settings.workers):
        return _serve(settings, host=host, port=port, demo=demo)


def _serve(settings: Settings, *, host: str, port: int, demo: bool) -> int:
    from gateway.server import run

    if not demo:
        return run(settings, host=host, port=port)
    from gateway.emulators.demo import Demo

    with Demo.start() as running:
        settings = running.settings(settings)
        print(running.banner(host, port), flush=True)
        # Worker processes read their settings from the environment: point them at the emulators.
        os.environ.update(
            GATEWAY_ERAS_URL=settings.eras_url,
            GATEWAY_FIGSHARE_URL=settings.figshare_url,
            STATS_GATEWAY_DEMO_HEADERS="1",
        )
        return run(settings, host=host, port=port, demo=True)
