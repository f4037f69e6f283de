"""Runs of four HTTP calls under fire: the worker SIGKILLed, or the Temporal dev server
restarted, while runs are in flight; then every run must have succeeded with its outputs, and
no node whose activity had completed may have been called again.

"Executed twice" is measured from outside: each node calls the counting server
(``tests.fault_support.CountingServer``) with its run's tag. A call that arrives after the
node's ``ActivityTaskCompleted`` in the run's Temporal history is a re-execution of a finished
node (a durability bug). Extra calls before it are attempts lost with a killed worker and
retried (at-least-once, expected): counted as in-flight retries.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.fault_support import CountingServer, FaultStack

CHAIN_APP = Path(__file__).resolve().parents[1] / "bench" / "apps" / "fault_http_chain.yml"
NODES = ("a", "b", "c", "d")
TERMINAL = frozenset({"succeeded", "failed", "stopped", "partial-succeeded"})


@dataclass
class ChainApp:
    """The imported chain app."""

    app_id: str
    key: str

    def workflow_id(self, run_id: str) -> str:
        """The run's Temporal workflow id (``tideflow.platform.runs.service.workflow_id_of``)."""
        return f"app-{self.app_id}-{run_id}"


@dataclass
class RunCheck:
    """What the history and the counting server say about one run."""

    status: str
    outputs_ok: bool
    finished_reexecutions: int = 0  # calls after the node's ActivityTaskCompleted
    inflight_retries: int = 0  # extra calls before it (attempts lost with a worker)
    retried_attempts: int = 0  # activity attempts > 1 in the history
    max_attempt: int = 0  # the highest attempt of an activity (the policy allows 10)
    rescheduled_nodes: int = 0  # a node scheduled as a second activity


@dataclass
class FaultReport:
    """Counts of one scenario."""

    scenario: str
    runs: int = 0
    faults: int = 0
    faults_by_signal: dict[str, int] = field(default_factory=dict[str, int])
    lost: int = 0
    lost_runs: list[str] = field(default_factory=list[str])
    finished_reexecutions: int = 0
    inflight_retries: int = 0
    retried_attempts: int = 0
    max_attempt: int = 0
    rescheduled_nodes: int = 0
    other_exits: dict[str, int] = field(default_factory=dict[str, int])
    # Per batch: seconds from its first start request to the counting server's next hit (after
    # a worker restart: the new worker's start-up).
    first_hit_s: list[float] = field(default_factory=list[float])
    wall_s: float = 0.0


def import_chain(stack: FaultStack) -> ChainApp:
    """Import and publish the chain app."""
    return ChainApp(*stack.import_app(CHAIN_APP))


def start_run(stack: FaultStack, app: ChainApp, server: CountingServer, tag: str) -> str:
    """Start one run (``response_mode=async``); its run id."""
    body = {
        "inputs": {"base": server.base_url, "tag": tag},
        "user": "fault-bench",
        "response_mode": "async",
    }
    headers = {"Authorization": f"Bearer {app.key}"}
    response = httpx.post(f"{stack.api}/v1/workflows/run", json=body, headers=headers, timeout=60)
    response.raise_for_status()
    return str(response.json()["workflow_run_id"])


def wait_terminal(
    stack: FaultStack, app: ChainApp, run_ids: list[str], timeout_s: float
) -> dict[str, dict[str, Any]]:
    """Poll each run until it is terminal or ``timeout_s`` passes; run id -> last record."""
    headers = {"Authorization": f"Bearer {app.key}"}
    records: dict[str, dict[str, Any]] = {}
    pending = list(run_ids)
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=stack.api, headers=headers, timeout=30) as client:
        while pending and time.monotonic() < deadline:
            for run_id in list(pending):
                try:
                    response = client.get(f"/v1/workflows/run/{run_id}")
                except httpx.HTTPError:
                    break  # the API is restarting: try again shortly
                if response.status_code == 200:
                    records[run_id] = response.json()
                    if records[run_id]["status"] in TERMINAL:
                        pending.remove(run_id)
            time.sleep(0.5)
    return records


async def check_run(
    client: Client, app: ChainApp, server: CountingServer, tag: str, run_id: str, record: Any
) -> RunCheck:
    """Compare the run's history with the counting server's hits."""
    status = str((record or {}).get("status", "missing"))
    outputs = (record or {}).get("outputs") or {}
    check = RunCheck(status, outputs == {n: f"{tag}/{n}" for n in NODES})
    history = await client.get_workflow_handle(app.workflow_id(run_id)).fetch_history()
    node_of: dict[int, str] = {}
    completed: dict[str, float] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            node = str(json.loads(attrs.input.payloads[0].data).get("node_id"))
            if node in node_of.values():
                check.rescheduled_nodes += 1
            node_of[event.event_id] = node
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attempt = event.activity_task_started_event_attributes.attempt
            check.retried_attempts += max(0, attempt - 1)
            check.max_attempt = max(check.max_attempt, attempt)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
            completed.setdefault(node_of[scheduled], event.event_time.ToDatetime().timestamp())
    for node in NODES:
        hits = [h.wall for h in server.hits_of(tag) if h.node == node]
        done = completed.get(node)
        after = [t for t in hits if done is not None and t > done]
        check.finished_reexecutions += len(after)
        check.inflight_retries += max(0, len(hits) - len(after) - 1)
    return check


async def verify(
    stack: FaultStack,
    app: ChainApp,
    server: CountingServer,
    runs: dict[str, str],
    report: FaultReport,
    timeout_s: float,
) -> None:
    """Wait for every run (tag -> run id), then fill the report's counts."""
    records = wait_terminal(stack, app, list(runs.values()), timeout_s)
    client = await Client.connect(stack.temporal)
    for tag, run_id in runs.items():
        check = await check_run(client, app, server, tag, run_id, records.get(run_id))
        if check.status != "succeeded" or not check.outputs_ok:
            report.lost += 1
            report.lost_runs.append(f"{run_id} ({tag}): {check.status}")
        report.finished_reexecutions += check.finished_reexecutions
        report.inflight_retries += check.inflight_retries
        report.retried_attempts += check.retried_attempts
        report.rescheduled_nodes += check.rescheduled_nodes
        report.max_attempt = max(report.max_attempt, check.max_attempt)


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``condition`` every 20 ms for at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _revive_others(stack: FaultStack, report: FaultReport, target: str) -> None:
    """A piece other than the target that died on its own is counted and started again (as
    ``tideflow up`` would): a finding to report, not to hide."""
    for name in ("worker", "api"):
        proc = stack.pieces[name].proc
        if name != target and proc is not None and proc.poll() is not None:
            report.other_exits[name] = report.other_exits.get(name, 0) + 1
            stack.restart(name)


def under_fire(
    stack: FaultStack,
    app: ChainApp,
    server: CountingServer,
    *,
    target: str,
    runs: int,
    batch: int,
    delay_s: tuple[float, float],
    rng: random.Random,
    timeout_s: float = 600,
    signals: Callable[[int], int] = lambda _i: signal.SIGKILL,
) -> FaultReport:
    """Start ``runs`` runs in batches; after each batch, wait a random while and restart
    ``target`` (``worker`` or ``temporal``) with ``signals(i)``; then verify every run."""
    report = FaultReport(f"{target}-restart", runs=runs)
    started = time.monotonic()
    tags: dict[str, str] = {}
    prefix = f"{target}-{rng.randrange(10**6):06d}"
    for first in range(0, runs, batch):
        seen, batch_started = len(server.hits), time.monotonic()
        for i in range(first, min(runs, first + batch)):
            tag = f"{prefix}-{i:03d}"
            tags[tag] = start_run(stack, app, server, tag)
        # Fire only once the runs are under way (the restarted worker is polling), then at a
        # random moment: the fault lands on a random node of each run in flight.
        wait_until(lambda seen=seen: len(server.hits) > seen, 90)
        report.first_hit_s.append(round(time.monotonic() - batch_started, 1))
        time.sleep(rng.uniform(*delay_s))
        sig = signals(report.faults)
        stack.restart(target, sig)
        report.faults += 1
        name = signal.Signals(sig).name
        report.faults_by_signal[name] = report.faults_by_signal.get(name, 0) + 1
        time.sleep(1.0)  # let a piece that lost its server notice before looking
        _revive_others(stack, report, target)
    asyncio.run(verify(stack, app, server, tags, report, timeout_s))
    report.wall_s = round(time.monotonic() - started, 1)
    return report
