"""What hostile queries cost the gateway, and whether anyone else notices while they run.

Each query of ``HOSTILE`` (a thousand-year daily series, breakdowns from year 1, thousands of
``_entities``, hundreds of aliases, big documents) is sent ``--repeat`` times (its text made new
each time by a comment, as a hostile client would) to one
``stats-gateway serve`` process (default settings, caching off: every run takes the whole path);
the emulators run in a process of their own. Reported per query: its codes, the upstream requests
it caused (its ``X-Stats-Trace``), its time on loopback and the gateway's CPU (measured alone),
then the latencies of ``/healthz`` and of a normal query asked over and over beside it.

    python bench/hostile_bench.py [--repeat 10] [--latency 0.0] [--only TEXT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
START_S, RUN_S = 60.0, 300.0  # bounds on a process's start-up, and on one measurement
PROBE_GAP_S = 0.005  # between two /healthz probes

_BREAKDOWN = 'views(startDate: "0001-01-01") { countries { country count } }'
_ALIASES = 'p%d: project(id: "%d") { classifications { total } }'
_ENTITIES = (
    "query($r: [_Any!]!) { _entities(representations: $r) "
    "{ ... on ZooniverseProject { classifications { total } } } }"
)


def _entities(count: int) -> dict[str, Any]:
    return {"r": [{"__typename": "ZooniverseProject", "id": str(i)} for i in range(1, count + 1)]}


def _aliases(count: int) -> str:
    return "{ zooniverse { " + " ".join(_ALIASES % (i, i) for i in range(1, count + 1)) + " } }"


_SERIES = (
    '{ zooniverse { classifications(startDate: "%s", endDate: "%s") '
    "{ series(period: %s, fillGaps: true) { start count } } } }"
)
_ARTICLE = '{ figshare { article(id: "766364") { %s } } }'

# name -> (query, variables). Every one is refused or answered within the call budget.
HOSTILE: dict[str, tuple[str, dict[str, Any] | None]] = {
    "1,000-year DAY series, fillGaps": (_SERIES % ("0070-06-04", "9173-01-04", "DAY"), None),
    "countries from 0001-01-01": (_ARTICLE % _BREAKDOWN, None),
    "three breakdown aliases": (_ARTICLE % " ".join(f"{a}: {_BREAKDOWN}" for a in "abc"), None),
    "_entities x 5,000": (_ENTITIES, _entities(5000)),
    "_entities x 100 (the limit)": (_ENTITIES, _entities(100)),
    "60 aliases, one request each": (_aliases(60), None),
    "200 aliases (the limit)": (_aliases(200), None),
    "9,999 YEAR buckets, fillGaps (the largest series)": (
        _SERIES % ("0001-01-01", "9999-12-31", "YEAR"),
        None,
    ),
    "40 KB document (over GATEWAY_MAX_QUERY_BYTES)": ("{ zooniverse { __typename } }" + " " * 40_000, None),
    # 12 KB: under the byte limit.
    "6,000 tokens (over GATEWAY_MAX_QUERY_TOKENS)": ("{ zooniverse {" + " t" * 6000 + " } }", None),
    "32 KB of one repeated field (within every limit)": (
        "{ zooniverse { " + "__typename " * 2900 + "} }",
        None,
    ),
}

NORMAL_QUERY = """{ zooniverse { project(id: "1234") { classifications(startDate: "2026-01-01",
  endDate: "2026-06-30") { total series(period: MONTH) { start count } } } } }"""


# The emulators, served by a process of their own until the parent closes its stdin.
EMULATORS = """
import json, sys
from gateway.emulators.eras import build_eras_emulator
from gateway.emulators.figshare import build_figshare_emulator
emulators = [build_eras_emulator(), build_figshare_emulator()]
[e.faults.inject("/", delay_s=float(sys.argv[1])) for e in emulators if float(sys.argv[1])]
servers = [emulator.serve() for emulator in emulators]
print(json.dumps([s.url for s in servers]), flush=True)
sys.stdin.read()
[s.stop() for s in servers]
"""


def _env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return {**clean, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}  # the checkout's own package


class Emulators:
    """Both emulators in a child process; ``latency`` seconds added to every answer."""

    def __init__(self, latency: float) -> None:
        command = [sys.executable, "-c", EMULATORS, str(latency)]
        pipes: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
        self.process = subprocess.Popen(command, cwd=ROOT, env=_env(), **pipes)
        line = self.process.stdout.readline() if self.process.stdout else ""  # its URLs, once serving
        self.eras_url, self.figshare_url = json.loads(line or '["the emulators did not start"]')

    def stop(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]  # the child's signal to stop
        end(self.process)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def end(process: subprocess.Popen[Any]) -> None:
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


class GatewayProcess:
    """``python -m gateway serve`` on a free port, configured only by ``GATEWAY_*`` variables."""

    def __init__(self, settings: dict[str, str]) -> None:
        with socket.socket() as sock:  # a free port, for the moment it takes to start
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--port", str(self.port), "--log-level", "warning"],
            cwd=ROOT,
            env={**_env(), **settings},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the gateway exited with status {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, trust_env=False).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)  # nothing to await: the process is starting
        self.stop()
        raise SystemExit("the gateway did not start in time")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        end(self.process)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Run:
    codes: set[str] = field(default_factory=set)
    seconds: list[float] = field(default_factory=list)
    upstream: int = 0
    cpu_s: float = 0.0
    upstream_cpu_s: float = 0.0  # the emulators' (another process on the same cores)
    healthz_s: list[float] = field(default_factory=list)
    normal_s: list[float] = field(default_factory=list)
    wrong: int = 0  # normal answers or /healthz that were not what they should be


async def post(client: httpx.AsyncClient, query: str, variables: Any = None) -> dict[str, Any]:
    # The trace lists every call made; caching is off, so each one went upstream.
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers={"X-Stats-Trace": "1"}
    )
    answer: dict[str, Any] = response.json()
    answer["status"] = response.status_code
    return answer


async def probe(until: asyncio.Event, ask: Callable[[], Any], into: list[float]) -> None:
    """Ask again and again until ``until`` is set, recording each latency."""
    while not until.is_set():
        began = time.perf_counter()
        await ask()
        into.append(time.perf_counter() - began)
        await asyncio.sleep(PROBE_GAP_S)  # a steady probe rate, not a wait for anything


async def measure(
    gateway: GatewayProcess,
    emulators: Emulators,
    query: str | None,
    variables: Any,
    repeat: int,
    probing: bool,
) -> Run:
    """``query`` sent ``repeat`` times (None: idle as long), with the probes if ``probing``."""
    run = Run()
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=RUN_S, trust_env=False) as hostile,
        httpx.AsyncClient(base_url=gateway.url, timeout=RUN_S, trust_env=False) as health,
        httpx.AsyncClient(base_url=gateway.url, timeout=RUN_S, trust_env=False) as normal,
    ):
        expected = (await post(normal, NORMAL_QUERY))["data"]

        async def normal_query() -> None:
            run.wrong += (await post(normal, NORMAL_QUERY)).get("data") != expected

        async def healthz() -> None:
            run.wrong += (await health.get("/healthz")).status_code != 200

        done = asyncio.Event()
        pairs = ((healthz, run.healthz_s), (normal_query, run.normal_s)) if probing else ()
        probes = [asyncio.ensure_future(probe(done, ask, into)) for ask, into in pairs]
        cpu_before = gateway.cpu_seconds()
        upstream_before = cpu_seconds(emulators.process.pid)
        try:
            async with asyncio.timeout(RUN_S):
                for turn in range(repeat):
                    began = time.perf_counter()
                    if query is None:
                        await asyncio.sleep(0.05)  # idle baseline: the probes alone
                        continue
                    # A document never seen before each time, as a hostile client would send.
                    answer = await post(hostile, f"#{turn}\n{query}", variables)
                    run.seconds.append(time.perf_counter() - began)
                    errors = answer.get("errors") or []
                    run.codes |= {f"{answer['status']} {e.get('extensions', {}).get('code')}" for e in errors}
                    run.upstream += len((answer.get("extensions") or {}).get("statsTrace") or [])
        finally:
            done.set()
            await asyncio.gather(*probes)
        run.cpu_s = gateway.cpu_seconds() - cpu_before
        run.upstream_cpu_s = cpu_seconds(emulators.process.pid) - upstream_before
    return run


def ms(values: list[float], *quantiles: float) -> str:
    """The given quantiles of ``values`` (seconds) in milliseconds (1.0: the worst)."""
    return " / ".join(f"{quantile(values, q) * 1000:.1f}" for q in quantiles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10, help="runs of each hostile query")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every upstream answer")
    parser.add_argument("--only", default="", help="the queries whose name holds this text")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 1000 or not 0 <= args.latency <= 5:
        raise SystemExit("--repeat or --latency out of bounds")
    emulators = Emulators(args.latency)
    try:
        urls = {"GATEWAY_ERAS_URL": emulators.eras_url, "GATEWAY_FIGSHARE_URL": emulators.figshare_url}
        gateway = GatewayProcess({**urls, "GATEWAY_CACHE_URL": "none://"})
        try:
            report(gateway, args.repeat, args.latency, args.only, emulators)
        finally:
            gateway.stop()
    finally:
        emulators.stop()


def row(name: str, alone: Run, probed: Run, count: int) -> None:
    """``alone``: the query's own codes, time and CPU; ``probed``: the probes' latencies beside it."""
    wrong = f" ({probed.wrong} wrong!)" if probed.wrong else ""
    print(
        f"| {name} | {', '.join(sorted(alone.codes)) or '200 data'} | {alone.upstream / count:.0f} "
        f"| {ms(alone.seconds, 0.5, 1.0)} | {alone.cpu_s * 1000 / count:.1f} "
        f"| {alone.upstream_cpu_s * 1000 / count:.1f} "
        f"| {ms(probed.healthz_s, 0.5, 0.99, 1.0)} | {ms(probed.normal_s, 0.5, 0.99, 1.0)}{wrong} |",
        flush=True,
    )


def report(gateway: GatewayProcess, repeat: int, latency: float, only: str, emulators: Emulators) -> None:
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"stats-gateway serve, one process, cache none://; upstream latency {latency * 1000:.0f} ms; "
        f"{repeat} runs of each query\n\n"
        "| query | HTTP and codes | upstream requests per run | gateway time ms, median / worst "
        "| gateway CPU ms per run | emulators' CPU ms per run | /healthz ms meanwhile, p50 / p99 / worst "
        "| normal query ms meanwhile, p50 / p99 / worst |\n|---|---|---:|---:|---:|---:|---:|---:|"
    )
    idle = asyncio.run(measure(gateway, emulators, None, None, 40, probing=True))
    row("idle (the probes alone)", idle, idle, 40)
    for name, (query, variables) in HOSTILE.items():
        if only not in name:
            continue
        alone = asyncio.run(measure(gateway, emulators, query, variables, repeat, probing=False))
        probed = asyncio.run(measure(gateway, emulators, query, variables, repeat, probing=True))
        row(name, alone, probed, repeat)
    print(f"\ngateway RSS at the end: {gateway.rss_bytes() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
