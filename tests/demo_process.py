"""`python -m gateway serve --demo` in a subprocess on a free port, for tests that need the real thing,
and a check that an answer has data."""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LIMIT_S = 60


@dataclass(frozen=True)
class DemoGateway:
    url: str
    """The gateway's origin, e.g. ``http://127.0.0.1:43817`` (no trailing slash)."""
    banner: str
    """Everything the demo printed up to the moment it listened."""

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def demo_gateway(extra_env: dict[str, str] | None = None) -> Iterator[DemoGateway]:
    """Start the demo, wait until it listens, yield where it is, and stop it afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(extra_env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    try:
        while True:
            line = lines.get(timeout=LIMIT_S)
            assert line, "the demo exited:\n" + "".join(seen)
            seen.append(line)
            if "Uvicorn running on" in line:  # logged once the socket listens
                break
        yield DemoGateway(f"http://127.0.0.1:{port}", "".join(seen))
    finally:
        process.terminate()
        process.wait(timeout=LIMIT_S)
        if process.stdout is not None:
            process.stdout.close()


def emptiness(value: Any, path: str = "data") -> list[str]:
    """Where an answer has no data: null fields, empty lists and zero totals."""
    found: list[str] = []
    if value is None:
        found.append(f"{path} is null")
    elif isinstance(value, list):
        if not value:
            found.append(f"{path} is empty")
        for i, item in enumerate(value):
            found += emptiness(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in {"total", "timeSpent", "activeUsers", "publicArticleCount"} and item == 0:
                found.append(f"{path}.{key} is 0")
            found += emptiness(item, f"{path}.{key}")
    return found
