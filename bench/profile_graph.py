#!/usr/bin/env python3
"""Where does a durable run spend its time? cProfile + Temporal history of one graph's runs.

  python bench/profile_graph.py GRAPH.yml [--repeat 5] [--top 30] [--gen chain:100:template]

Same setup as ``run_graph.py`` (one durable dev server, one in-process worker). The worker's
workflow tasks run on a thread pool of our own whose threads each run a cProfile profiler, so
the profile covers the workflow code (sandbox, engine, nodes) as well as the client and the
worker's event loop (the main thread). Prints the workflow-history event counts of the last run
(workflow tasks = server round trips; activity tasks = code nodes) and the top functions by
cumulative and by own time across all threads.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from run_graph import build_plan, durable_dev_server, load_document
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tideflow.local_run import execute_graph, graph_worker
from tideflow.platform.settings import Settings
from tideflow.workflows.engine.models import GraphRunInput

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _profile_thread() -> None:
    profile = cProfile.Profile()
    with _lock:
        _profiles.append(profile)
    profile.enable()


async def _history_counts(client: Client, workflow_id: str) -> Counter[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return Counter(EventType.Name(e.event_type) for e in history.events)


async def _main(args: argparse.Namespace) -> None:
    doc, label = load_document(args.graph, args.gen)
    plan, problem = build_plan(doc, [])
    if plan is None:
        raise SystemExit(problem)
    main_profile = cProfile.Profile()
    executor = ThreadPoolExecutor(max_workers=2, initializer=_profile_thread)
    task_queue = f"profile-{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory(prefix="tideflow-profile-") as tmp:
        async with durable_dev_server(Path(tmp)) as client:
            worker = graph_worker(client, Settings(), task_queue, workflow_task_executor=executor)
            async with worker:
                run_input = GraphRunInput(plan=plan)
                await execute_graph(client, task_queue, run_input)  # warm-up, not profiled
                times: list[float] = []
                workflow_id = ""
                main_profile.enable()
                for _ in range(args.repeat):
                    workflow_id = f"profile-{uuid.uuid4()}"
                    t0 = time.perf_counter()
                    await execute_graph(client, task_queue, run_input, workflow_id)
                    times.append(time.perf_counter() - t0)
                main_profile.disable()
                counts = await _history_counts(client, workflow_id)
    executor.shutdown(wait=True)
    print(f"{label}: {args.repeat} profiled runs, run s = {[round(t, 4) for t in times]}")
    print("history of the last run:", dict(sorted(counts.items())))
    stats: Any = pstats.Stats(main_profile)
    for profile in _profiles:
        profile.disable()
        stats.add(profile)
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        stats.stream = out
        stats.sort_stats(key).print_stats(args.top)
        print(f"--- top {args.top} by {key} (all threads) ---")
        print(out.getvalue().split("\n\n", 2)[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("graph", nargs="?")
    p.add_argument("--gen", default=None)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--top", type=int, default=30)
    args = p.parse_args()
    if not args.graph and not args.gen:
        args.gen = "chain:100:template"
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
