"""``stats-gateway serve [--host] [--port] [--demo]`` and ``stats-gateway export-schema``.

Argument parsing only: settings come from ``Settings.from_env`` and the app from ``create_app``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from gateway.settings import ConfigError, Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stats-gateway", description="One GraphQL API over the ERAS and Figshare stats services."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the gateway over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="start built-in emulators of both upstreams with synthetic data and use them (offline)",
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
    except ConfigError as exc:
        print(f"stats-gateway: bad configuration: {exc}", file=sys.stderr)
        return 2
    return serve(settings, host=args.host, port=args.port, demo=args.demo)


def serve(settings: Settings, *, host: str, port: int, demo: bool) -> int:
    import uvicorn

    from gateway.app import create_app

    level = settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if demo:
        from gateway.emulators.demo import Demo

        with Demo.start() as running:
            settings = running.settings(settings)
            print(running.banner(host, port), flush=True)
            uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level)
        return 0
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level)
    return 0
