"""What both emulators share (gateway/emulators/recorder.py): the request log and injected faults.

Each case runs against both emulators, served by the session fixtures of ``tests/conftest.py``; the
one that stops its server serves an emulator of its own, the same way.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from gateway.emulators.eras import build_eras_emulator
from gateway.emulators.eras_data import VOLUNTEER_ID, VOLUNTEER_TOKEN, ErasDataset
from gateway.emulators.figshare import build_figshare_emulator
from gateway.emulators.figshare_data import DEMO_INSTITUTIONS, FigshareDataset, basic_header
from gateway.emulators.recorder import EmulatorApp, RecordedRequest
from tests.conftest import Upstream, fixed_today, served

# Per emulator: a route it answers 200 on, and the Authorization its clients send there.
ROUTES = {
    "eras": (f"/classifications/users/{VOLUNTEER_ID}", f"Bearer {VOLUNTEER_TOKEN}"),
    "figshare": ("/lboro/timeline/month/views/group/327", basic_header(*DEMO_INSTITUTIONS["lboro"])),
}
OPEN_ROUTES = {"eras": "/comments", "figshare": "/total/views/article/766364"}  # no credential needed


@pytest.fixture(params=sorted(ROUTES))
def emulator(request: pytest.FixtureRequest) -> Iterator[tuple[str, Upstream, httpx.Client]]:
    """Each emulator (log emptied, no faults) and a client of it."""
    upstream: Upstream = request.getfixturevalue(request.param)
    with httpx.Client(base_url=upstream.url, timeout=10) as client:
        yield request.param, upstream, client


def test_requests_are_recorded_as_received(emulator: tuple[str, Upstream, httpx.Client]) -> None:
    name, upstream, client = emulator
    path, credential = ROUTES[name]
    assert client.get(f"{path}?start_date=2025-01-01&period=month", headers={"Authorization": credential})
    client.post("/count/articles", json={"groups": [{"id": 327}]})
    assert len(upstream.log) == 2
    got, posted = upstream.log.requests
    assert (got.method, got.path) == ("GET", path)
    assert got.query == (("start_date", "2025-01-01"), ("period", "month"))
    assert got.params == {"start_date": "2025-01-01", "period": "month"}
    assert got.header("Authorization") == got.header("authorization") == credential
    assert (posted.method, posted.path, posted.body) == (
        "POST",
        "/count/articles",
        b'{"groups":[{"id":327}]}',
    )
    assert upstream.log.matching(path) == [got]
    assert upstream.log.matching("/", method="POST") == [posted]


def test_a_status_fault_answers_its_times_then_the_emulator_does(
    emulator: tuple[str, Upstream, httpx.Client],
) -> None:
    name, upstream, client = emulator
    path, credential = ROUTES[name]
    rule = upstream.faults.inject(f"^{path}$", status=503, body=b'{"message": "busy"}', times=1)
    failed = client.get(path, headers={"Authorization": credential})
    assert failed.status_code == 503
    assert failed.json() == {"message": "busy"}
    assert client.get(path, headers={"Authorization": credential}).status_code == 200
    assert rule.hits == 1
    assert len(upstream.log) == 2  # faulted requests are recorded too


def test_a_malformed_body_fault(emulator: tuple[str, Upstream, httpx.Client]) -> None:
    name, upstream, client = emulator
    path, credential = ROUTES[name]
    upstream.faults.inject(path, status=200, body=b'{"total_count": ')
    response = client.get(path, headers={"Authorization": credential})
    assert response.status_code == 200
    assert response.content == b'{"total_count": '
    with pytest.raises(json.JSONDecodeError):
        response.json()
    # The rule applies to the paths it matches only.
    other = client.get(OPEN_ROUTES[name])
    assert other.status_code == 200
    assert isinstance(other.json(), dict)


def test_a_latency_fault_holds_the_answer_past_a_clients_deadline(
    emulator: tuple[str, Upstream, httpx.Client],
) -> None:
    name, upstream, client = emulator
    path, credential = ROUTES[name]
    upstream.faults.inject(path, delay_s=5, times=1)
    with pytest.raises(httpx.ReadTimeout):
        client.get(path, headers={"Authorization": credential}, timeout=0.2)
    # Only the delayed request waits: the next one is answered.
    assert client.get(path, headers={"Authorization": credential}).status_code == 200


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_a_hanging_request_is_released_when_the_server_stops(
    name: str,
    eras_dataset: ErasDataset,
    figshare_dataset: FigshareDataset,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own: EmulatorApp = (
        build_eras_emulator(eras_dataset, today=fixed_today)
        if name == "eras"
        else build_figshare_emulator(figshare_dataset, today=fixed_today)
    )
    arrived = threading.Event()
    record = own.log.append

    def record_and_signal(request: RecordedRequest) -> None:
        record(request)
        arrived.set()

    # Lets the test know the request reached the emulator without polling for it.
    monkeypatch.setattr(own.log, "append", record_and_signal)
    path, credential = ROUTES[name]
    own.faults.inject(path, hang=True)
    outcome: list[object] = []
    with served(own) as upstream:

        def ask() -> None:
            try:
                outcome.append(
                    httpx.get(upstream.url + path, headers={"Authorization": credential}, timeout=30)
                )
            except httpx.HTTPError as error:
                outcome.append(error)

        worker = threading.Thread(target=ask)
        worker.start()
        assert arrived.wait(10)
        assert not outcome  # the request is hanging
    worker.join(10)  # the server has stopped: the request must have ended with it
    assert not worker.is_alive()
    # uvicorn answers the released request with a 500, or drops the connection; no timeout, no data.
    [ended] = outcome
    assert not isinstance(ended, httpx.TimeoutException)
    assert isinstance(ended, httpx.TransportError) or (
        isinstance(ended, httpx.Response) and ended.status_code == 500
    )
