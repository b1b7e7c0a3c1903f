"""Shared fixtures: both emulators and the gateway, each served on a real loopback port.

Every emulator is served by ``served``; tests that need one with other data or options of their
own (the emulators' own tests) serve it the same way.

Dates are fixed: the emulators' data end on TODAY and every part of the system is told that today
is TODAY, so numbers and cache lifetimes do not depend on the day the suite runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.emulators.eras import build_eras_emulator
from gateway.emulators.eras_data import ErasDataset
from gateway.emulators.figshare import build_figshare_emulator
from gateway.emulators.figshare_data import FigshareDataset
from gateway.emulators.recorder import EmulatorApp
from gateway.emulators.server import LoopbackServer
from gateway.settings import Settings

TODAY = date(2026, 11, 20)


def fixed_today() -> date:
    return TODAY


Call = tuple[str, str, tuple[tuple[str, str], ...], str | None]  # method, path, params, Authorization


@dataclasses.dataclass
class Upstream:
    """A served emulator: its URL, request log and fault rules."""

    emulator: EmulatorApp
    server: LoopbackServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def log(self) -> Any:
        return self.emulator.log

    @property
    def faults(self) -> Any:
        return self.emulator.faults

    def calls(self) -> list[Call]:
        """The requests received, in a comparable form (order does not matter)."""
        found = []
        for r in self.log.requests:
            assert len(r.params) == len(r.query), f"a query parameter was repeated: {r.query}"
            found.append((r.method, r.path, tuple(sorted(r.params.items())), r.header("authorization")))
        return sorted(found)

    def assert_calls(self, *expected: Call) -> None:
        """It received exactly ``expected``, in any order."""
        assert self.calls() == sorted(expected)


def call(path: str, auth: str | None = None, method: str = "GET", **params: str) -> Call:
    """A request an emulator should receive: ``auth`` is the ``Authorization`` sent, if any."""
    return (method, path, tuple(sorted(params.items())), auth)


def window(first: str, last: str) -> dict[str, str]:
    """The ``start_date``/``end_date`` parameters both upstreams take."""
    return {"start_date": first, "end_date": last}


@contextlib.contextmanager
def served(emulator: EmulatorApp) -> Iterator[Upstream]:
    """``emulator`` served on a loopback port for the block: how every test serves an emulator."""
    server = emulator.serve()
    try:
        yield Upstream(emulator, server)
    finally:
        server.stop()


@contextlib.contextmanager
def cleared(upstream: Upstream) -> Iterator[Upstream]:
    """``upstream`` with an empty request log and no faults, and no faults left behind."""
    upstream.log.clear()
    upstream.faults.clear()
    try:
        yield upstream
    finally:
        upstream.faults.clear()


@pytest.fixture(scope="session")
def eras_dataset() -> ErasDataset:
    return ErasDataset.generate(end=TODAY)


@pytest.fixture(scope="session")
def figshare_dataset() -> FigshareDataset:
    return FigshareDataset.generate(end=TODAY)


@pytest.fixture(scope="session")
def _eras_server(eras_dataset: ErasDataset) -> Iterator[Upstream]:
    with served(build_eras_emulator(eras_dataset, today=fixed_today)) as upstream:
        yield upstream


@pytest.fixture(scope="session")
def _figshare_server(figshare_dataset: FigshareDataset) -> Iterator[Upstream]:
    with served(build_figshare_emulator(figshare_dataset, today=fixed_today)) as upstream:
        yield upstream


@pytest.fixture
def eras(_eras_server: Upstream) -> Iterator[Upstream]:
    """The ERAS emulator with an empty request log and no faults."""
    with cleared(_eras_server) as upstream:
        yield upstream


@pytest.fixture
def figshare(_figshare_server: Upstream) -> Iterator[Upstream]:
    """The Figshare emulator with an empty request log and no faults."""
    with cleared(_figshare_server) as upstream:
        yield upstream


class Gateway:
    """A gateway served on loopback, and a client to query it."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.url = server.url
        self.http = httpx.Client(base_url=server.url, timeout=30, trust_env=False)

    def post(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return self.http.post("/graphql", json=body, headers=_headers(headers))

    def query(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> dict[str, Any]:
        response = self.post(query, variables, **headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def close(self) -> None:
        self.http.close()
        self.server.stop()


def _headers(given: dict[str, str]) -> dict[str, str]:
    """Keyword names to header names: x_figshare_authorization -> X-Figshare-Authorization."""
    return {name.replace("_", "-"): value for name, value in given.items()}


GatewayFactory = Callable[..., Gateway]


@pytest.fixture
def make_gateway(eras: Upstream, figshare: Upstream) -> Iterator[GatewayFactory]:
    """Start gateways pointed at the emulators; ``settings`` fields may be overridden, ``clock``
    sets the cache's clock, and ``tracer_provider`` receives the spans."""
    started: list[Gateway] = []

    def make(
        *, clock: Callable[[], float] = time.time, tracer_provider: Any = None, **overrides: Any
    ) -> Gateway:
        settings = Settings(
            eras_url=eras.url,
            figshare_url=figshare.url,
            cache_url=overrides.pop("cache_url", "none://"),
            cache_secret="test-secret",
            **overrides,
        )
        app = create_app(settings, today=fixed_today, clock=clock, tracer_provider=tracer_provider)
        gateway = Gateway(LoopbackServer(app).start())
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.close()


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> Gateway:
    """A gateway with caching off, so every upstream request shows in the emulators' logs."""
    return make_gateway()


def data_of(result: dict[str, Any]) -> Any:
    """The data of a result that must have no errors."""
    assert not result.get("errors"), result.get("errors")
    return result["data"]


def codes(result: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in result.get("errors", [])]
