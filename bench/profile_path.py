#!/usr/bin/env python3
"""Where one path's time goes: the gateway under py-spy while wrk drives one peer scenario.

    python bench/profile_path.py unique-auth [--seconds 10] [--latency-ms 0] [--top 25]

Needs the peers' upstream simulator running (``../shared/peers/upstream_sim.py``, ERAS on :9101,
Figshare on :9102), wrk and py-spy. Serves the gateway with its default settings on :8300, records
collapsed stacks at 500 Hz while wrk runs the scenario, then prints the functions with the most
samples, by self time and by inclusive time (own code, the libraries it calls, the event loop).
"""

from __future__ import annotations

import argparse
import collections
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from alternate import PEERS, SCENARIOS, gateway_env, wait_ready  # the same scenarios and start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--out", default="/tmp/stats-gateway-profile.txt")
    a = ap.parse_args()
    urllib.request.urlopen(
        urllib.request.Request(f"http://127.0.0.1:9101/__latency?ms={a.latency_ms}", method="POST")
    ).read()
    gateway = subprocess.Popen(
        ["stats-gateway", "serve", "--port", "8300"],
        env=gateway_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready()
        lua, conns, _ = SCENARIOS[a.scenario]
        wrk = [
            "wrk",
            "-t2",
            f"-c{conns}",
            f"-d{a.seconds + 4}s",
            "-s",
            lua,
            "http://127.0.0.1:8300/graphql",
            "--",
        ]
        wrk += [str(int(time.time()) % 900000 + 100000), "Bearer bench-profile"]
        load = subprocess.Popen(wrk, cwd=PEERS / "wrk", stdout=subprocess.PIPE, text=True)
        time.sleep(2)  # warm-up: the first requests fill the caches
        subprocess.run(
            [
                "py-spy",
                "record",
                "--pid",
                str(gateway.pid),
                "--rate",
                "500",
                "--duration",
                str(a.seconds),
                "--format",
                "raw",
                "--output",
                a.out,
                "--nonblocking",
            ],
            check=True,
            capture_output=True,
        )
        print(load.communicate()[0].splitlines()[-1])
    finally:
        gateway.send_signal(signal.SIGINT)
        gateway.wait(30)
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(a.out).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [
            f.split(" (")[0]
            + " ("
            + f.split(" (")[1].split(":")[0].split("site-packages/")[-1].split("/lib/python3.11/")[-1]
            + ")"
            if " (" in f
            else f
            for f in stack.split(";")
        ]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"{total} samples")
    for title, table in (("self", own), ("inclusive", inclusive)):
        print(f"\n-- by {title} time")
        for frame, n in table.most_common(a.top):
            print(f"{100 * n / total:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
