"""Fuzzing at scale: 10^4 generated requests against a gateway and both emulators, on loopback.

The requests are those of tests/test_fuzz.py (operations generated from the exported schema with
dates over the whole calendar, ids of any length and odd strings; argument values lifted into
variables; `_entities` representations good and bad; raw malformed requests and odd credential
headers), drawn by Hypothesis without shrinking. Every answer is classified; the run prints counts
by kind, HTTP status and error code, and the number of answers that break a promise: a status of
500 or more, a body that is not a JSON object, an error without `extensions.code`, or
INTERNAL_SERVER_ERROR. It exits 1 if there is any.

    python bench/fuzz_bench.py [--requests 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.app import create_app  # noqa: E402
from gateway.emulators.eras import build_eras_emulator  # noqa: E402
from gateway.emulators.figshare import build_figshare_emulator  # noqa: E402
from gateway.emulators.server import LoopbackServer  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from tests.test_fuzz import (  # noqa: E402
    date_requests,
    entity_requests,
    operation_requests,
    variable_requests,
)
from tests.test_http_protocol import Request, raw_requests, send  # noqa: E402

# Shares of the run, by kind of request.
KINDS: dict[str, tuple[float, Callable[[], st.SearchStrategy[Request]]]] = {
    "generated operations (POST and GET)": (0.40, operation_requests),
    "operations with variables": (0.20, variable_requests),
    "_entities representations": (0.10, entity_requests),
    "dates over the whole calendar": (0.10, date_requests),
    "raw requests and odd headers": (0.20, raw_requests),
}
PROBLEMS = ("status >= 500", "not a JSON object", "error without a code", "INTERNAL_SERVER_ERROR")


class Tally:
    def __init__(self) -> None:
        self.kinds: collections.Counter[str] = collections.Counter()
        self.statuses: collections.Counter[int] = collections.Counter()
        self.codes: collections.Counter[str] = collections.Counter()
        self.problems: collections.Counter[str] = collections.Counter()
        self.examples: list[str] = []

    def record(self, kind: str, request: Request, response: httpx.Response) -> None:
        self.kinds[kind] += 1
        self.statuses[response.status_code] += 1
        found = []
        if response.status_code >= 500:
            found.append("status >= 500")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            found.append("not a JSON object")
            body = {}
        for error in body.get("errors") or []:
            code = (error.get("extensions") or {}).get("code") if isinstance(error, dict) else None
            self.codes[str(code)] += 1
            if not isinstance(code, str):
                found.append("error without a code")
            elif code == "INTERNAL_SERVER_ERROR":
                found.append("INTERNAL_SERVER_ERROR")
        if not body.get("errors"):
            self.codes["(none: data only)"] += 1
        for problem in dict.fromkeys(found):
            self.problems[problem] += 1
        if found and len(self.examples) < 10:
            self.examples.append(
                f"{found}: {str(request)[:300]} -> {response.status_code} {response.text[:300]}"
            )


def run_kind(
    http: httpx.Client, kind: str, strategy: st.SearchStrategy[Request], count: int, seed: int, tally: Tally
) -> None:
    @hypothesis.seed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def drive(request: Request) -> None:
        try:
            response = send(http, dict(request))
        except httpx.HTTPError as exc:  # the client refused to send it, or the connection broke
            tally.kinds[kind] += 1
            tally.problems[f"no answer ({type(exc).__name__})"] += 1
            return
        tally.record(kind, request, response)

    drive()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10_000, help="requests to send (at most 100000)")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed (same seed, same requests)")
    args = parser.parse_args()
    total = max(len(KINDS), min(args.requests, 100_000))

    tally = Tally()
    eras, figshare = build_eras_emulator(), build_figshare_emulator()
    with eras.serve() as eras_server, figshare.serve() as figshare_server:
        # The default cache (memory://): the response cache and its keys are part of the path.
        settings_ = Settings(eras_url=eras_server.url, figshare_url=figshare_server.url)
        with (
            LoopbackServer(create_app(settings_)) as gateway,
            httpx.Client(base_url=gateway.url, timeout=60, trust_env=False) as http,
        ):
            started = time.perf_counter()
            for index, (kind, (share, strategy)) in enumerate(KINDS.items()):
                run_kind(http, kind, strategy(), max(1, round(total * share)), args.seed + index, tally)
            elapsed = time.perf_counter() - started
        upstream = len(eras.log) + len(figshare.log)

    sent = sum(tally.kinds.values())
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"{python}, Hypothesis {hypothesis.__version__}, seed {args.seed}")
    print(f"{sent} requests in {elapsed:.0f} s ({sent / elapsed:.0f}/s); {upstream} upstream requests\n")
    print("| kind | requests |\n|---|---:|")
    for kind, n in tally.kinds.items():
        print(f"| {kind} | {n} |")
    print("\n| HTTP status | answers |\n|---|---:|")
    for status, n in sorted(tally.statuses.items()):
        print(f"| {status} | {n} |")
    print("\n| extensions.code | errors |\n|---|---:|")
    for code, n in tally.codes.most_common():
        print(f"| {code} | {n} |")
    print("\n| broken promise | answers |\n|---|---:|")
    for problem in (*PROBLEMS, *(p for p in tally.problems if p not in PROBLEMS)):
        print(f"| {problem} | {tally.problems[problem]} |")
    for example in tally.examples:
        print(f"\n{example}")
    return 1 if sum(tally.problems.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
