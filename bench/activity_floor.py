#!/usr/bin/env python3
"""A chain of code nodes against a hand-written workflow calling the same activities (issue 11).

One embedded Temporal dev server (SQLite, WAL, as ``bench/run_graph.py``), one process, one
sandbox pool (``code_pool``), two workers with the same slot counts: the graph worker
(``GraphWorkflow``) on one task queue, ``FloorCodeChain`` (bench/floor_workflows.py: the
same ``run_code`` activity, code, retry policy, timeouts and heartbeat as a code node) on
another. Runs alternate graph / floor, one at a time, ``--warmup`` + ``--repeat`` each; the
graph's time includes its build (load + validate + compile), as ``run_graph.py``'s total.

    uv run python bench/activity_floor.py --nodes 20 --repeat 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.floor_workflows import APPEND, FloorCodeChain  # noqa: E402
from bench.run_graph import build_plan  # noqa: E402
from tideflow.local_run import embedded_dev_server, execute_graph, graph_worker  # noqa: E402
from tideflow.platform.settings import Settings  # noqa: E402
from tideflow.platform.temporal import TideflowTemporal  # noqa: E402
from tideflow.workflows.engine.models import GraphRunInput  # noqa: E402


def chain_app(count: int) -> dict[str, Any]:
    """start -> ``count`` code nodes (each appends "x") -> end, as a Dify DSL mapping."""
    nodes: list[dict[str, Any]] = [
        {"id": "start", "data": {"type": "start", "title": "Start", "variables": []}}
    ]
    edges: list[dict[str, Any]] = []
    previous = None
    for index in range(count):
        node_id = f"c{index}"
        source = [previous, "text"] if previous else None
        data: dict[str, Any] = {
            "type": "code",
            "title": node_id,
            "code_language": "python3",
            "code": APPEND if previous else 'def main() -> dict:\n    return {"text": "x"}\n',
            "variables": [{"variable": "text", "value_selector": source}] if source else [],
            "outputs": {"text": {"type": "string", "children": None}},
        }
        nodes.append({"id": node_id, "data": data})
        edges.append({"id": f"e{index}", "source": previous or "start", "target": node_id})
        previous = node_id
    end = {"variable": "text", "value_selector": [previous, "text"]}
    nodes.append({"id": "end", "data": {"type": "end", "title": "End", "outputs": [end]}})
    edges.append({"id": "e-end", "source": previous, "target": "end"})
    return {
        "kind": "app",
        "version": "0.3.0",
        "app": {"mode": "workflow", "name": f"code-chain-{count}"},
        "workflow": {"graph": {"nodes": nodes, "edges": edges}},
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Server, pool and both workers up; alternate graph and floor runs."""
    from tideflow.activities.code import run_code
    from tideflow.activities.code_pool import sandbox_pool

    settings = Settings()
    doc = chain_app(args.nodes)
    graph_q, floor_q = f"graph-{uuid.uuid4().hex[:8]}", f"floor-{uuid.uuid4().hex[:8]}"
    graph_s: list[float] = []
    floor_s: list[float] = []
    with tempfile.TemporaryDirectory(prefix="tideflow-floor-") as tmp:
        async with embedded_dev_server(Path(tmp) / "temporal.db") as client:
            slots = {"max_concurrent_activities": 100, "max_concurrent_workflow_tasks": 100}
            graph_worker_ = graph_worker(client, settings, graph_q, **slots)
            floor_worker = TideflowTemporal(settings).worker(
                client,
                workflows=[FloorCodeChain],
                activities=[run_code],
                task_queue=floor_q,
                **slots,
            )
            async with sandbox_pool(settings), graph_worker_, floor_worker:
                for index in range(args.warmup + args.repeat):
                    began = time.perf_counter()
                    plan, problem = build_plan(doc, [])
                    if plan is None:
                        raise RuntimeError(problem)
                    result = await execute_graph(client, graph_q, GraphRunInput(plan=plan))
                    took_graph = time.perf_counter() - began
                    if result.status != "succeeded" or result.outputs != {"text": "x" * args.nodes}:
                        raise RuntimeError(f"graph run: {result.status} {result.error}")
                    began = time.perf_counter()
                    floor = await client.execute_workflow(
                        FloorCodeChain.run,
                        args.nodes,
                        id=f"floor-{uuid.uuid4()}",
                        task_queue=floor_q,
                    )
                    took_floor = time.perf_counter() - began
                    if floor != {"text": "x" * args.nodes}:
                        raise RuntimeError(f"floor run: {floor}")
                    if index >= args.warmup:
                        graph_s.append(took_graph)
                        floor_s.append(took_floor)
                    print(
                        f"{index}: graph {took_graph:.3f}s floor {took_floor:.3f}s", file=sys.stderr
                    )
    graph_med, floor_med = statistics.median(graph_s), statistics.median(floor_s)
    return {
        "nodes": args.nodes,
        "repeat": args.repeat,
        "graph_median_s": round(graph_med, 4),
        "graph_min_max_s": [round(min(graph_s), 4), round(max(graph_s), 4)],
        "floor_median_s": round(floor_med, 4),
        "floor_min_max_s": [round(min(floor_s), 4), round(max(floor_s), 4)],
        "graph_ms_per_activity": round(1000 * graph_med / args.nodes, 2),
        "floor_ms_per_activity": round(1000 * floor_med / args.nodes, 2),
        "graph_over_floor": round(graph_med / floor_med, 3),
        "loadavg_after": os.getloadavg(),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version()},
    }


def main() -> int:
    """Parse arguments, run, print the JSON report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--nodes", type=int, default=20, help="code nodes in the chain")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    report = asyncio.run(bench(args))
    print(json.dumps(report, indent=2))
    sys.stdout.flush()
    os._exit(0)  # temporalio/sdk-python#300


if __name__ == "__main__":
    sys.exit(main())
