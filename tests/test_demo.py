"""`stats-gateway serve --demo` works offline and answers the README's example queries."""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
LIMIT_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[str, str]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
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
        yield f"http://127.0.0.1:{port}", "".join(seen)
    finally:
        process.terminate()
        process.wait(timeout=LIMIT_S)
        if process.stdout is not None:
            process.stdout.close()


def test_demo_prints_where_to_go_and_what_to_paste(demo: tuple[str, str]) -> None:
    url, banner = demo
    assert f"{url}/graphql" in banner
    assert "Bearer demo-token-volunteer" in banner
    assert "X-Figshare-Authorization: Basic " in banner
    assert "query Overview" in banner


def test_demo_answers_every_readme_example(demo: tuple[str, str]) -> None:
    url, _ = demo
    examples = re.findall(r"```graphql\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(examples) >= 5
    headers = {
        "Authorization": "Bearer demo-token-volunteer",
        "X-Figshare-Authorization": "Basic bGJvcm8tc3RhdHM6bGJvcm8tc3RhdHMtc2VjcmV0",
    }
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        for example in examples:
            result = client.post("/graphql", json={"query": example}, headers=headers).json()
            assert "errors" not in result, (example, result["errors"])
            assert result["data"]
        page = client.get("/graphql", headers={"Accept": "text/html"})
        assert "graphiql" in page.text.lower()
