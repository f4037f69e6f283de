#!/usr/bin/env python3
"""Fault tests, scripted and bounded, on loopback: the worker, the Temporal dev server and the
API are killed while runs are in flight; nothing may be lost or done twice.

One stack of separate processes (``tests/fault_support.py``: ``tideflow temporal`` on its
SQLite file, ``tideflow worker``, ``tideflow api``; free ports, own data dir) with the fake
OpenAI-compatible server and a loopback counting HTTP server.

1. worker-kill: runs of ``bench/apps/fault_http_chain.yml`` (four HTTP calls to the counting
   server) started in batches; after each batch, a random wait, then the worker's process
   group is SIGKILLed and started again. Then: every run succeeded with its outputs (else
   lost); no call of a node after its ActivityTaskCompleted in the run's history (a finished
   node executed twice); extra calls before it are in-flight retries (at-least-once).
2. temporal-restart: the same with the dev server stopped (SIGKILL and SIGTERM in turn) and
   started again on the same file and port.
3. api-restart: chat turns of ``bench/apps/chat_llm.yml`` stream a slow model answer; the API
   is SIGKILLed mid-stream and started again; each client reattaches with ``Last-Event-ID``;
   text and events are compared with the model's answer and the run's full stream.

    uv run python bench/faults.py --runs 50 --scenario all
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.openai_server import FakeLLMServer, start_fake_llm_server  # noqa: E402
from tests.fault_runs import import_chain, under_fire  # noqa: E402
from tests.fault_sse import CHAT_APP, SseReport, api_restart_round  # noqa: E402
from tests.fault_support import CountingServer, FaultStack  # noqa: E402

SCENARIOS = ("worker-kill", "temporal-restart", "api-restart")


def machine() -> dict[str, Any]:
    """Where it ran."""
    free = subprocess.run(["free", "-g"], capture_output=True, text=True, check=False).stdout
    return {
        "nproc": os.cpu_count(),
        "free_g": free.strip().splitlines(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_at_start": os.getloadavg(),
    }


def alternate(index: int) -> int:
    """SIGKILL, then SIGTERM, in turn."""
    return signal.SIGTERM if index % 2 else signal.SIGKILL


def run_scenarios(
    stack: FaultStack, fake: FakeLLMServer, counter: CountingServer, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """The chosen scenarios, one after the other on the same stack; their reports."""
    rng = random.Random(args.seed)
    wanted = SCENARIOS if args.scenario == "all" else (args.scenario,)
    reports: list[dict[str, Any]] = []
    chain = import_chain(stack) if {"worker-kill", "temporal-restart"} & set(wanted) else None
    if chain is not None and "worker-kill" in wanted:
        report = under_fire(
            stack, chain, counter, target="worker", runs=args.runs, batch=args.batch,
            delay_s=(0.0, 2.5), rng=rng,
        )  # fmt: skip
        reports.append(dataclasses.asdict(report))
    if chain is not None and "temporal-restart" in wanted:
        report = under_fire(
            stack, chain, counter, target="temporal", runs=args.runs, batch=args.batch * 2,
            delay_s=(0.0, 2.5), rng=rng, signals=alternate,
        )  # fmt: skip
        reports.append(dataclasses.asdict(report))
    if "api-restart" in wanted:
        _, key = stack.import_app(CHAT_APP)
        sse = SseReport()
        started = time.monotonic()
        remaining = args.runs
        while remaining > 0:
            streams = min(args.streams, remaining)
            api_restart_round(stack, fake, key, streams, sse)
            remaining -= streams
        sse.wall_s = round(time.monotonic() - started, 1)
        reports.append(dataclasses.asdict(sse))
    return reports


def main() -> None:
    """Parse the arguments, run, print a JSON report."""
    parser = argparse.ArgumentParser(description="Fault tests (see the module doc).")
    parser.add_argument("--runs", type=int, default=50, help="runs (streams) per scenario")
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all")
    parser.add_argument("--batch", type=int, default=5, help="runs started between worker kills")
    parser.add_argument("--streams", type=int, default=10, help="streams open per API restart")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    report: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    fake = start_fake_llm_server()
    counter = CountingServer(seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="tideflow-faults-") as work:
        stack = FaultStack(Path(work), {"TIDEFLOW_MODEL_GATEWAY_URL": fake.base_url})
        try:
            stack.start()
            report["scenarios"] = run_scenarios(stack, fake, counter, args)
        finally:
            stack.close()
            counter.close()
            fake.close()
    report["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(report, indent=2))
    sys.stdout.flush()
    # The Temporal SDK can crash at interpreter exit (stack-facts.md): leave at once.
    os._exit(0)


if __name__ == "__main__":
    main()
