#!/usr/bin/env python3
"""The uncached authenticated operation without the HTTP server: CPU, or instructions, per request.

    python bench/inprocess_bench.py [--requests 6000] [--warmup 2000] [--concurrency 32]
    python bench/inprocess_bench.py --callgrind [--requests 600] [--warmup 300]

Needs the peers' upstream simulator (``../shared/peers/upstream_sim.py``, ERAS on :9101); sets its
added latency (``--latency-ms``, default 0). Builds the gateway's ASGI app as ``stats-gateway
serve`` does (settings from ``GATEWAY_*``, so one setting can be compared with another), runs its
lifespan and calls it directly with the unique-auth scenario's request (a new bearer token each
time), ``--concurrency`` at a time; every answer must be a 200 without errors.

Timing on a shared virtual machine moves by a tenth between runs. ``--callgrind`` runs the same
under valgrind and counts the instructions of the measured requests only (collection is switched
on after the warm-up): the same code gives the same count to within a fraction of a per cent, so
two versions of one change can be told apart where a timing could not. Instructions leave out
what the kernel does and what a cache miss costs, so a saving in them is an upper bound.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import subprocess
import sys
import time
import urllib.request

import uvloop
from observability_bench import Driver  # the same in-process ASGI driver

QUERY = '{ zooniverse { user(id: "42") { classifications { total } } } }'


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def collect(state: str) -> None:
    """Switch valgrind's counting on or off for this process."""
    control = await asyncio.create_subprocess_exec(
        "callgrind_control", f"--instr={state}", str(os.getpid()), stdout=subprocess.DEVNULL
    )
    if await control.wait() != 0:
        raise SystemExit("callgrind_control failed")


async def run(args: argparse.Namespace) -> None:
    from gateway.app import create_app
    from gateway.server import tune_interpreter
    from gateway.settings import Settings
    from gateway.telemetry import logs

    settings = Settings.from_env(env_file=None)
    logs.configure(settings.log_level, settings.log_format, args.log_stream)
    driver = Driver(create_app(settings))
    prefix = f"inprocess-{time.time_ns()}"

    async def one(i: int) -> None:
        answer = await driver.post(QUERY, [(b"authorization", f"Bearer {prefix}-{i}".encode())])
        if b'"errors"' in answer:
            raise SystemExit(f"not a plain answer: {answer[:200]!r}")

    slots = asyncio.Semaphore(args.concurrency)

    async def bounded(i: int) -> None:
        async with slots:
            await one(i)

    await driver.start()
    tune_interpreter()
    await asyncio.gather(*(bounded(i) for i in range(args.warmup)))
    if args.counting:
        await collect("on")
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(bounded(args.warmup + i) for i in range(args.requests)))
    cpu1, wall1 = cpu_seconds(), time.perf_counter()
    if args.counting:
        await collect("off")
    await driver.stop()
    if not args.counting:
        n = args.requests
        print(f"CPU {1000 * (cpu1 - cpu0) / n:.3f} ms per request, {n / (wall1 - wall0):.0f} requests/s")


def under_callgrind(args: argparse.Namespace) -> int:
    out = f"/tmp/inprocess-callgrind.{os.getpid()}"
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "--counting",
        f"--requests={args.requests}",
        f"--warmup={args.warmup}",
        f"--concurrency={args.concurrency}",
        f"--latency-ms={args.latency_ms}",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        print(done.stdout, done.stderr[-2000:], sep="\n")
        return 1
    os.unlink(out)
    print(f"{int(found.group(1)) // args.requests:,} instructions per request")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--callgrind", action="store_true", help="count instructions under valgrind")
    ap.add_argument("--counting", action="store_true", help=argparse.SUPPRESS)  # the run valgrind watches
    args = ap.parse_args()
    small = args.callgrind or args.counting
    args.requests = args.requests or (600 if small else 6000)
    args.warmup = args.warmup or (300 if small else 2000)
    if args.callgrind:
        return under_callgrind(args)
    os.environ.setdefault("GATEWAY_ERAS_URL", "http://127.0.0.1:9101")
    os.environ.setdefault("GATEWAY_FIGSHARE_URL", "http://127.0.0.1:9102")
    if not args.counting:
        request = urllib.request.Request(
            f"http://127.0.0.1:9101/__latency?ms={args.latency_ms}", method="POST"
        )
        urllib.request.urlopen(request).read()
    with open(os.devnull, "w") as args.log_stream:  # the operation lines are written, then dropped
        uvloop.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
