"""A mixed soak: normal traffic beside hostile queries, for minutes, watching latency and memory.

One ``stats-gateway serve`` process with default settings (``memory://`` cache bounded by
``GATEWAY_CACHE_MAX_BYTES``) in front of both emulators (a process of their own, ``--latency``
seconds added to every answer, standing in for the network). ``--clients`` clients send normal
queries from a realistic mix, public and credentialed (the README's examples, and project,
volunteer, group and Figshare pages over varying windows: a few thousand distinct operations),
pausing ``--pause`` seconds between two; one more client sends a hostile query of
``hostile_bench.HOSTILE`` every ``--hostile-every`` seconds. The gateway's RSS is sampled every
``--sample`` seconds.

Reported: p50/p99 of the normal queries (all, public, credentialed), their errors, what the
hostile queries got, and RSS: whether it stays flat within 10% after the warm-up (``--warmup``
minutes; a fifth of the run by default) and under ``GATEWAY_CACHE_MAX_BYTES`` (``--cache-mib``,
its default otherwise) plus ``MARGIN_BYTES``.

    python bench/soak_bench.py [--minutes 10] [--clients 8] [--pause 0.05] [--hostile-every 1.0]
                               [--latency 0.02] [--sample 5] [--cache-mib N] [--warmup M]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from hostile_bench import HOSTILE, Emulators, GatewayProcess, quantile  # noqa: E402

from gateway.emulators import eras_data, figshare_data  # noqa: E402
from gateway.examples import EXAMPLES  # noqa: E402
from gateway.settings import Settings  # noqa: E402

# Besides the cache, what the README says to size a process for: the interpreter, the libraries,
# the schema, buffers and sockets (about 110 MiB after start-up), parsed documents kept for reuse
# (up to about 12 MiB), the allocator's slack, and the requests in flight.
MARGIN_BYTES = 200 * 2**20
FLAT = 0.10

BEARER = {
    eras_data.VOLUNTEER_ID: eras_data.VOLUNTEER_TOKEN,
    eras_data.SECOND_VOLUNTEER_ID: eras_data.SECOND_VOLUNTEER_TOKEN,
    eras_data.GROUP_ADMIN_ID: eras_data.GROUP_ADMIN_TOKEN,
    eras_data.OUTSIDER_ID: eras_data.OUTSIDER_TOKEN,
}
INSTITUTIONS = {
    slug: figshare_data.basic_header(*pair) for slug, pair in figshare_data.DEMO_INSTITUTIONS.items()
}

PROJECT = """query P($id: ID!, $s: Date!, $e: Date!) { zooniverse { project(id: $id) {
  classifications(startDate: $s, endDate: $e) { total series(period: WEEK, fillGaps: true) { start count } }
  comments(startDate: $s, endDate: $e) { total } } } }"""
VOLUNTEER = """query V($id: ID!, $s: Date!, $e: Date!) { zooniverse { user(id: $id) {
  classifications(startDate: $s, endDate: $e) { total timeSpent series(period: DAY) { start count }
    projectContributions { project { id } count } } } } }"""
GROUP = """query G($id: ID!, $s: Date!, $e: Date!) { zooniverse { userGroup(id: $id) {
  classifications(startDate: $s, endDate: $e) { total activeUsers series(period: MONTH) { start count }
    topContributors(limit: 5) { user { id } count } } } } }"""
ARTICLE = """query A($id: ID!, $s: Date!) { figshare { article(id: $id) {
  views(startDate: $s) { total series(period: DAY) { start count } }
  downloads(startDate: $s) { total countries(limit: 5) { country count } } } } }"""
INSTITUTION = """query I($inst: String!, $id: ID!, $s: Date!) { figshare(institution: $inst) {
  group(id: $id) { views(startDate: $s) { total series(period: MONTH) { start count } } } } }"""


@dataclass(frozen=True)
class Ask:
    kind: str
    query: str
    variables: dict[str, Any] | None
    headers: dict[str, str]

    @property
    def credentialed(self) -> bool:
        return bool(self.headers)


def _month(rng: random.Random, first: date, last: date) -> tuple[str, str]:
    """A random closed window of one to three months between ``first`` and ``last``."""
    months = (last.year - first.year) * 12 + last.month - first.month
    start = first.replace(day=1)
    offset = rng.randrange(months)
    start = date(start.year + (start.month - 1 + offset) // 12, (start.month - 1 + offset) % 12 + 1, 1)
    end = min(last, start + timedelta(days=rng.choice((30, 61, 91))))
    return start.isoformat(), end.isoformat()


def normal_ask(rng: random.Random, today: date) -> Ask:
    """One query of the realistic mix: mostly pages over varying windows, some examples."""
    past = today.replace(day=1) - timedelta(days=1)
    roll = rng.random()
    if roll < 0.15:
        example = rng.choice(EXAMPLES)
        headers = {}
        if "Authorization" in example.needs_headers:
            headers["Authorization"] = f"Bearer {eras_data.VOLUNTEER_TOKEN}"
        if "X-Figshare-Authorization" in example.needs_headers:
            headers["X-Figshare-Authorization"] = INSTITUTIONS["lboro"]
        return Ask("example", example.query, example.variables, headers)
    if roll < 0.40:
        s, e = _month(rng, date(2023, 1, 1), past)
        project = rng.choice(eras_data.DEMO_PROJECT_IDS)
        return Ask("project", PROJECT, {"id": str(project), "s": s, "e": e}, {})
    if roll < 0.55:
        user, token = rng.choice(list(BEARER.items()))
        s, e = _month(rng, date(2023, 1, 1), past)
        return Ask(
            "volunteer", VOLUNTEER, {"id": str(user), "s": s, "e": e}, {"Authorization": f"Bearer {token}"}
        )
    if roll < 0.70:
        group = rng.choice((42, 43, 44))  # public groups: answered without a credential
        s, e = _month(rng, date(2023, 1, 1), past)
        return Ask("group", GROUP, {"id": str(group), "s": s, "e": e}, {})
    start = (today - timedelta(days=rng.randrange(7, 90))).isoformat()
    if roll < 0.90:
        article = rng.choice(figshare_data.DEMO_ARTICLE_IDS)
        return Ask("article", ARTICLE, {"id": str(article), "s": start}, {})
    slug = rng.choice(list(INSTITUTIONS))
    group_id = rng.choice(figshare_data.DEMO_GROUP_IDS)
    return Ask(
        "institution",
        INSTITUTION,
        {"inst": slug, "id": str(group_id), "s": start},
        {"X-Figshare-Authorization": INSTITUTIONS[slug]},
    )


@dataclass
class Tally:
    public_s: list[float] = field(default_factory=list)
    credentialed_s: list[float] = field(default_factory=list)
    normal_errors: Counter[str] = field(default_factory=Counter)
    hostile: Counter[str] = field(default_factory=Counter)
    hostile_s: list[float] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)


async def normal_client(
    client: httpx.AsyncClient, seed: int, until: float, pause: float, tally: Tally
) -> None:
    rng = random.Random(seed)
    today = date.today()
    while time.monotonic() < until:
        ask = normal_ask(rng, today)
        began = time.perf_counter()
        response = await client.post(
            "/graphql", json={"query": ask.query, "variables": ask.variables}, headers=ask.headers
        )
        elapsed = time.perf_counter() - began
        (tally.credentialed_s if ask.credentialed else tally.public_s).append(elapsed)
        body = response.json()
        for error in body.get("errors") or []:
            tally.normal_errors[f"{ask.kind}: {error.get('extensions', {}).get('code')}"] += 1
        await asyncio.sleep(pause)  # think time: a steady load, not a saturating one


async def hostile_client(client: httpx.AsyncClient, until: float, every: float, tally: Tally) -> None:
    turn = 0
    while time.monotonic() < until:
        query, variables = list(HOSTILE.values())[turn % len(HOSTILE)]
        turn += 1
        began = time.perf_counter()
        text = f"#{turn}\n{query}"  # never seen before, as a hostile client would send it
        response = await client.post("/graphql", json={"query": text, "variables": variables})
        tally.hostile_s.append(time.perf_counter() - began)
        errors = response.json().get("errors") or []
        codes = "+".join(sorted({e.get("extensions", {}).get("code", "?") for e in errors})) or "data"
        tally.hostile[f"{response.status_code} {codes}"] += 1
        await asyncio.sleep(every)  # the hostile client's pace


async def sampler(gateway: GatewayProcess, began: float, until: float, every: float, tally: Tally) -> None:
    while time.monotonic() < until:
        tally.rss.append((time.monotonic() - began, gateway.rss_bytes()))
        await asyncio.sleep(every)  # sampling period
    tally.rss.append((time.monotonic() - began, gateway.rss_bytes()))


async def soak(gateway: GatewayProcess, args: argparse.Namespace) -> Tally:
    tally = Tally()
    began = time.monotonic()
    until = began + args.minutes * 60
    # Idle connections are given up before the gateway's keep-alive timeout (5 s) closes them: at the
    # same 5 s (httpx's default) a request can meet a connection as the gateway closes it, and fail.
    limits = httpx.Limits(max_connections=args.clients + 1, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=120, trust_env=False, limits=limits) as client:
        await asyncio.gather(
            *(normal_client(client, seed, until, args.pause, tally) for seed in range(args.clients)),
            hostile_client(client, until, args.hostile_every, tally),
            sampler(gateway, began, until, args.sample, tally),
        )
    return tally


def report(tally: Tally, args: argparse.Namespace, cpu_s: float) -> None:
    mib, seconds = 2**20, args.minutes * 60
    cache_bytes = args.cache_mib * mib if args.cache_mib else Settings().cache_max_bytes
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"stats-gateway serve, one process, default settings but GATEWAY_CACHE_MAX_BYTES "
        f"{cache_bytes / mib:.0f} MiB; {args.minutes:g} min; {args.clients} normal clients pausing "
        f"{args.pause * 1000:.0f} ms; a hostile query every {args.hostile_every:g} s; upstream latency "
        f"{args.latency * 1000:.0f} ms\n\n| normal queries | requests | requests/s | p50 ms | p99 ms "
        "| worst ms |\n|---|---:|---:|---:|---:|---:|"
    )
    kinds = [("all", tally.public_s + tally.credentialed_s), ("public", tally.public_s)]
    for name, values in [*kinds, ("credentialed", tally.credentialed_s)]:
        print(
            f"| {name} | {len(values)} | {len(values) / seconds:.1f} | {quantile(values, 0.5) * 1000:.1f} "
            f"| {quantile(values, 0.99) * 1000:.1f} | {quantile(values, 1.0) * 1000:.1f} |"
        )
    errors = ", ".join(f"{k} x{v}" for k, v in sorted(tally.normal_errors.items())) or "none"
    print(
        f"\nerrors in normal answers: {errors}\nhostile queries: {len(tally.hostile_s)} (p50 "
        f"{quantile(tally.hostile_s, 0.5) * 1000:.1f} ms, worst {quantile(tally.hostile_s, 1.0) * 1000:.1f} "
        "ms): " + ", ".join(f"{k} x{v}" for k, v in sorted(tally.hostile.items()))
    )
    print(f"gateway CPU: {cpu_s:.0f} s over {seconds:.0f} s ({cpu_s / seconds * 100:.0f}% of one core)")
    minutes: dict[int, int] = {}
    for at, rss in tally.rss:
        minutes[int(at // 60)] = rss  # the last sample of each minute
    print("RSS MiB at the end of each minute: " + ", ".join(f"{v / mib:.0f}" for v in minutes.values()))
    warm = args.warmup * 60 if args.warmup is not None else max(30.0, seconds / 5)
    after = [rss for at, rss in tally.rss if at >= warm] or [0]
    low, high, peak = min(after), max(after), max(rss for _, rss in tally.rss)
    spread = (high - low) / max(low, 1)
    print(
        f"after the {warm:.0f} s warm-up: RSS {low / mib:.0f}..{high / mib:.0f} MiB, spread "
        f"{spread * 100:.1f}% ({'flat' if spread <= FLAT else 'NOT flat'} within {FLAT * 100:.0f}%)"
    )
    bound = cache_bytes + MARGIN_BYTES
    print(
        f"peak RSS {peak / mib:.0f} MiB; GATEWAY_CACHE_MAX_BYTES {cache_bytes / mib:.0f} MiB + margin "
        f"{MARGIN_BYTES / mib:.0f} MiB = {bound / mib:.0f} MiB: {'under' if peak <= bound else 'OVER'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8, help="normal clients at once")
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between two normal queries")
    parser.add_argument("--hostile-every", type=float, default=1.0, help="seconds between hostile queries")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every upstream answer")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between two RSS samples")
    parser.add_argument("--cache-mib", type=int, help="GATEWAY_CACHE_MAX_BYTES in MiB (default: its own)")
    parser.add_argument("--warmup", type=float, help="minutes of warm-up (default: a fifth of the run)")
    args = parser.parse_args()
    bounded = (
        0 < args.minutes <= 240
        and 1 <= args.clients <= 256
        and 0 <= args.pause <= 60
        and 0.01 <= args.hostile_every <= 600
        and 0 <= args.latency <= 5
        and 0.5 <= args.sample <= 600
        and (args.cache_mib is None or 1 <= args.cache_mib <= 65536)
        and (args.warmup is None or 0 <= args.warmup < args.minutes)
    )
    if not bounded:
        raise SystemExit("an argument is out of bounds")
    emulators = Emulators(args.latency)
    settings = {"GATEWAY_ERAS_URL": emulators.eras_url, "GATEWAY_FIGSHARE_URL": emulators.figshare_url}
    if args.cache_mib:
        settings["GATEWAY_CACHE_MAX_BYTES"] = str(args.cache_mib * 2**20)
    try:
        gateway = GatewayProcess(settings)
        try:
            cpu_before = gateway.cpu_seconds()
            tally = asyncio.run(soak(gateway, args))
            report(tally, args, gateway.cpu_seconds() - cpu_before)
        finally:
            gateway.stop()
    finally:
        emulators.stop()


if __name__ == "__main__":
    main()
