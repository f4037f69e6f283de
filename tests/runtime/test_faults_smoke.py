"""The fault bench (``bench/faults.py``) in small: one stack of real processes; the worker
SIGKILLed with runs in flight, the Temporal dev server restarted, the API killed mid-stream.
Nothing lost, no finished node called again, no gap or duplicate in a reattached stream."""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeLLMServer
from tests.fault_runs import ChainApp, import_chain, under_fire
from tests.fault_sse import CHAT_APP, SseReport, api_restart_round
from tests.fault_support import CountingServer, FaultStack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def counter() -> Iterator[CountingServer]:
    server = CountingServer(seed=7)
    yield server
    server.close()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, _fake_llm_server: FakeLLMServer
) -> Iterator[FaultStack]:
    work: Path = tmp_path_factory.mktemp("faults")
    stack = FaultStack(work, {"TIDEFLOW_MODEL_GATEWAY_URL": _fake_llm_server.base_url})
    try:
        stack.start()
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def chain(stack: FaultStack) -> ChainApp:
    return import_chain(stack)


@pytest.mark.parametrize(
    ("target", "runs", "sig"),
    [("worker", 5, signal.SIGKILL), ("temporal", 3, signal.SIGTERM)],
    ids=["worker-sigkill", "temporal-sigterm"],
)
def test_runs_survive_a_restart_in_flight(
    stack: FaultStack,
    chain: ChainApp,
    counter: CountingServer,
    target: str,
    runs: int,
    sig: int,
) -> None:
    report = under_fire(
        stack,
        chain,
        counter,
        target=target,
        runs=runs,
        batch=runs,
        delay_s=(0.0, 1.0),
        rng=random.Random(7),
        timeout_s=180,
        signals=lambda _i: sig,
    )
    assert report.faults == 1
    assert report.lost == 0, report.lost_runs
    assert report.finished_reexecutions == 0
    assert report.rescheduled_nodes == 0
    assert report.other_exits == {}
    # Every run called each of its four nodes at least once (retries may add calls).
    tags = {h.tag for h in counter.hits if h.tag.startswith(target)}
    assert len(tags) == runs


def test_sse_reattaches_after_an_api_restart_without_gap(
    stack: FaultStack, _fake_llm_server: FakeLLMServer
) -> None:
    _, key = stack.import_app(CHAT_APP)
    report = SseReport()
    api_restart_round(stack, _fake_llm_server, key, 2, report, chunk_delay=0.05)
    assert (report.streams, report.reattaches, report.api_restarts) == (2, 2, 1)
    assert report.failures == []
    assert report.text_exact == 2
    assert (report.gap_chars, report.duplicate_chars) == (0, 0)
    assert (report.missing_events, report.duplicate_events) == (0, 0)
