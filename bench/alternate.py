#!/usr/bin/env python3
"""Two or more versions of the gateway under one peer scenario, served in turn: which is faster.

    git worktree add /tmp/before <commit>
    python bench/alternate.py --scenario unique-auth --rounds 4 /tmp/before . ".+GATEWAY_LOG_LEVEL=warning"

Each argument is a checkout of the gateway (served with ``python -m gateway serve`` from it, its
code first on the path), optionally followed by ``+NAME=VALUE`` settings; ``apollo`` serves the
peer as ``compare.py`` installed it (/tmp/stats-peer-apollo) and ``floor`` serves
``bench/floor_app.py``. Needs the peers' simulator on :9101/:9102 and wrk. Every round serves each
version in turn on :8300 (a fresh process, wrk's warm-up, then the measured run), so a drift of the
machine during the run reaches all versions alike; the medians of the rounds are printed with
each round's requests per second. ``compare.py`` stays the measure against the peer: this tells
one change from another when their difference is smaller than the spread between its runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE.parents[1] / "shared" / "peers"
SIM = "http://127.0.0.1:9101"
FIGSHARE_SIM = "http://127.0.0.1:9102"
URL = "http://127.0.0.1:8300/graphql"
# name: (lua script, connections, upstream latency in ms)
SCENARIOS = {
    "hot": ("hot.lua", 32, 20),
    "fanout": ("fanout.lua", 8, 50),
    "unique-auth": ("unique_auth.lua", 32, 20),
    "unique-auth-0ms": ("unique_auth.lua", 32, 0),
}


def post(url: str, body: bytes | None = None) -> bytes:
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return bytes(answer.read())


def wait_ready(seconds: float = 60) -> None:
    """Until the server on :8300 answers a query (the gateway, the peer and the floor all do)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            post(URL, b'{"query": "{ __typename }"}')
            return
        except OSError:
            time.sleep(0.2)  # polling a process we started: there is nothing to await
    raise SystemExit(f"{URL} did not answer")


def gateway_env(**settings: str) -> dict[str, str]:
    """This process's environment without its GATEWAY_* settings, the simulator's URLs, ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return env | {"GATEWAY_ERAS_URL": SIM, "GATEWAY_FIGSHARE_URL": FIGSHARE_SIM} | settings


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(scenario: str, seconds: int, conns: int | None) -> dict[str, str]:
    lua, default_conns, _ = SCENARIOS[scenario]
    conns = conns or default_conns
    tag = str(time.time_ns() // 1000 % 900000 + 100000)  # fresh ids and tokens for every run
    extra = ["Bearer bench-fanout"] if scenario == "fanout" else []
    command = ["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s", "-s", lua, URL]
    out = subprocess.run([*command, "--", tag, *extra], cwd=PEERS / "wrk", capture_output=True, text=True)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKRESULT")), None)
    if line is None:
        raise SystemExit(f"wrk failed: {out.stdout[-400:]} {out.stderr[-400:]}")
    return dict(kv.split("=", 1) for kv in line.split()[1:])


def command_for(version: str) -> tuple[list[str], str, dict[str, str]]:
    """The command serving ``version`` on :8300, its working directory and its environment."""
    where, *settings = version.split("+")
    env = gateway_env(**dict(s.split("=", 1) for s in settings))
    if where == "apollo":
        env |= {"NODE_ENV": "production", "HOST": "127.0.0.1", "PORT": "8300", "PEER_RESPONSE_CACHE": "0"}
        env |= {"ERAS_URL": SIM, "FIGSHARE_URL": FIGSHARE_SIM}
        return ["node", "/tmp/stats-peer-apollo/src/index.js"], "/tmp", env
    if where == "floor":
        return [sys.executable, str(HERE / "floor_app.py")], str(HERE.parent), env
    checkout = str(Path(where).resolve())
    env["PYTHONPATH"] = checkout
    return [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", "8300"], checkout, env


def measure(
    version: str, scenario: str, seconds: int, warmup: int, conns: int | None
) -> tuple[float, float, float]:
    """(req/s, p50 ms, CPU ms per request) of one served process."""
    command, cwd, env = command_for(version)
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready()
        wrk(scenario, warmup, conns)
        before = cpu_seconds(server.pid)
        found = wrk(scenario, seconds, conns)
        used = cpu_seconds(server.pid) - before
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    requests = max(int(found["requests"]), 1)
    return float(found["rps"]), float(found["p50_ms"]), 1000 * used / requests


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("versions", nargs="+")
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="unique-auth")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--connections", type=int, help="instead of the scenario's own")
    args = ap.parse_args()
    post(f"{SIM}/__latency?ms={SCENARIOS[args.scenario][2]}")
    found: dict[str, list[tuple[float, float, float]]] = {v: [] for v in args.versions}
    for _ in range(args.rounds):
        for version in args.versions:
            run = measure(version, args.scenario, args.seconds, args.warmup, args.connections)
            found[version].append(run)
    for version, runs in found.items():
        rps, p50, cpu = (statistics.median(run[i] for run in runs) for i in range(3))
        each = ", ".join(f"{run[0]:,.0f}" for run in runs)
        print(f"{version}: {rps:,.1f} req/s, p50 {p50:.2f} ms, CPU {cpu:.3f} ms/req ({each})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
