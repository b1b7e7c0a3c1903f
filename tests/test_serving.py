"""Serving the gateway the ways a deployment does: one process, several workers, any ASGI server.

Each test starts a real server process on a free loopback port, pointed at the emulators, waits
until /healthz answers (polling with a bound), asks it a query and counts its worker processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import __version__
from tests.conftest import Upstream
from tests.demo_process import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
START_S = 60
QUERY = '{ zooniverse { classifications(endDate: "2025-01-01") { total } } }'


class Served:
    def __init__(self, command: list[str], env: dict[str, str], port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def ready(self) -> Served:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, trust_env=False).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)  # polling another process's start-up: nothing to await
        raise AssertionError(f"{self.url} did not come up:\n{self.output()}")

    def workers(self) -> int:
        """Processes below the one started (uvicorn's and gunicorn's workers)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parent = int(stat[stat.rindex(")") + 2 :].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
        found, todo = 0, list(children.get(self.process.pid, []))
        while todo:
            pid = todo.pop()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}").exists() else b""
            # multiprocessing's resource tracker is not a worker
            if b"python" in cmdline and b"resource_tracker" not in cmdline:
                found += 1
            todo += children.get(pid, [])
        return found

    def output(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stdout.read() if self.process.stdout else ""

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        if self.process.stdout:
            self.process.stdout.close()
        return code


@pytest.fixture
def serve(eras: Upstream, figshare: Upstream) -> Iterator[Any]:
    started: list[Served] = []

    def start(*args: str, extra_env: dict[str, str] | None = None, port: int | None = None) -> Served:
        port = port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "WEB_CONCURRENCY"}
        env.update(GATEWAY_ERAS_URL=eras.url, GATEWAY_FIGSHARE_URL=figshare.url, **(extra_env or {}))
        command = [a.replace("{port}", str(port)) for a in args]
        served = Served(command, env, port)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


def answers(served: Served) -> None:
    with httpx.Client(timeout=30, trust_env=False) as client:
        for _ in range(4):  # several connections' worth, so more than one worker may answer
            result = client.post(f"{served.url}/graphql", json={"query": QUERY}).json()
            assert result["data"]["zooniverse"]["classifications"]["total"] > 0


def test_serve_runs_the_workers_it_is_asked_for(serve: Any) -> None:
    served = serve(str(BIN / "stats-gateway"), "serve", "--port", "{port}", "--workers", "2").ready()
    answers(served)
    assert served.workers() == 2


def test_the_workers_setting_and_a_junk_web_concurrency_start_cleanly(serve: Any) -> None:
    served = serve(
        str(BIN / "stats-gateway"),
        "serve",
        "--port",
        "{port}",
        extra_env={"GATEWAY_WORKERS": "2", "WEB_CONCURRENCY": "lots"},
    ).ready()
    answers(served)
    assert served.workers() == 2


def test_uvicorn_serves_the_importable_app_with_workers(serve: Any) -> None:
    served = serve(
        str(BIN / "uvicorn"),
        "gateway.asgi:app",
        "--port",
        "{port}",
        "--workers",
        "2",
        "--log-level",
        "warning",
    ).ready()
    answers(served)
    assert served.workers() == 2


def test_gunicorn_serves_the_importable_app_with_uvicorn_workers(serve: Any) -> None:
    served = serve(
        str(BIN / "gunicorn"),
        "-k",
        "uvicorn_worker.UvicornWorker",
        "-w",
        "2",
        "-b",
        "127.0.0.1:{port}",
        "gateway.asgi:app",
        extra_env={"WEB_CONCURRENCY": "2"},
    ).ready()
    answers(served)
    assert served.workers() == 2


def test_a_taken_port_is_said_plainly_and_exits_non_zero(serve: Any) -> None:
    first = serve(str(BIN / "stats-gateway"), "serve", "--port", "{port}").ready()
    port = first.url.rsplit(":", 1)[1]
    done = subprocess.run(
        [str(BIN / "stats-gateway"), "serve", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"stats-gateway: cannot listen on 127.0.0.1:{port}: the port is already in use "
        "(by another gateway or program); choose another with --port"
    )


def test_version() -> None:
    done = subprocess.run(
        [str(BIN / "stats-gateway"), "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"stats-gateway {__version__}"
    assert __version__ != "0+unknown"
