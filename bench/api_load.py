#!/usr/bin/env python3
"""``POST /v1/workflows/run`` (blocking) under load against its floor (issue 11).

Starts a whole ``tideflow up`` stack (bench/stack.py) with the per-key rate limit off
(``TIDEFLOW_API_RATE_LIMIT_PER_MINUTE=0``), imports ``bench/apps/five_node.yml``
(start -> template -> code -> template -> end: one ``run_code`` activity) and starts a
second worker process (``--floor-worker``) on the same Temporal server serving the
hand-written ``FloorFiveNodes`` workflow (bench/floor_workflows.py: the same activity, retry
policy and timeouts) on its own task queue, with the stack worker's slot counts (100/100).

1. closed loop, floor and API path in turn at each level: C concurrent clients each run one
   workflow after another for ``--seconds``; C doubles until a path's wf/s grows by less than
   5 % twice (or ``--max-clients``). Saturation = the best wf/s seen.
2. open loop on the API: requests at a fixed rate (``--open-fraction`` x the API's
   saturation) for ``--open-seconds``; latency is measured from each request's *scheduled*
   time (no coordinated omission); at most ``--max-in-flight`` outstanding, the rest counted
   as dropped.

    uv run python bench/api_load.py --seconds 10 --open-seconds 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stack import app_key, start_stack, stop_stack  # noqa: E402

FLOOR_QUEUE = "bench-floor"
APP = ROOT / "bench" / "apps" / "five_node.yml"

Call = Callable[[int], Awaitable[None]]


async def serve_floor() -> None:
    """The floor worker: FloorFiveNodes + FloorCodeChain and the real ``run_code``."""
    from bench.floor_workflows import FloorCodeChain, FloorFiveNodes
    from tideflow.activities.code import run_code
    from tideflow.activities.code_pool import sandbox_pool
    from tideflow.platform.settings import get_settings
    from tideflow.platform.temporal import TideflowTemporal

    settings = get_settings()
    temporal = TideflowTemporal(settings)
    client = await temporal.connect()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    worker = temporal.worker(
        client,
        workflows=[FloorFiveNodes, FloorCodeChain],
        activities=[run_code],
        task_queue=os.environ.get("BENCH_FLOOR_QUEUE", FLOOR_QUEUE),
        max_concurrent_activities=100,
        max_concurrent_workflow_tasks=100,
    )
    async with sandbox_pool(settings), worker:
        print("floor worker ready", file=sys.stderr, flush=True)
        await stop.wait()


def start_floor_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``api_load.py --floor-worker`` in its own process (its output goes to our stderr)."""
    return subprocess.Popen(
        [sys.executable, __file__, "--floor-worker"], env=env, stdout=sys.stderr, cwd=ROOT
    )


async def closed_loop(call: Call, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` loops of back-to-back calls for ``seconds``: wf/s and latency."""
    took: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def loop() -> None:
        nonlocal errors
        while time.perf_counter() < end:
            began = time.perf_counter()
            try:
                await call(next(counter))
                took.append(time.perf_counter() - began)
            except Exception as exc:  # a failed run counts, and is shown once
                errors += 1
                if errors == 1:
                    print(f"error: {exc!r}", file=sys.stderr)

    began = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(clients)))
    wall = time.perf_counter() - began
    return {
        "clients": clients,
        "done": len(took),
        "errors": errors,
        "wf_per_s": round(len(took) / wall, 2),
        "median_ms": round(statistics.median(took) * 1000, 1) if took else None,
    }


async def saturate(calls: dict[str, Call], seconds: float, max_clients: int) -> dict[str, Any]:
    """Per path, double the clients until wf/s grows < 5 % twice in a row. The paths are
    measured in turn at each level, so noise from other load hits both alike."""
    report: dict[str, Any] = {name: {"levels": [], "best": None, "flat": 0} for name in calls}
    clients = 1
    while clients <= max_clients:
        live = [name for name in calls if report[name]["flat"] < 2]
        if not live:
            break
        for name in live:
            entry = report[name]
            level = await closed_loop(calls[name], clients, seconds)
            level["load1"] = round(os.getloadavg()[0], 2)
            print(f"  {name} C={clients}: {level}", file=sys.stderr, flush=True)
            entry["levels"].append(level)
            best = entry["best"]
            entry["flat"] = (
                0
                if best is None or level["wf_per_s"] > best["wf_per_s"] * 1.05
                else entry["flat"] + 1
            )
            if best is None or level["wf_per_s"] > best["wf_per_s"]:
                entry["best"] = level
        clients *= 2
    return {
        name: {
            "saturation_wf_per_s": entry["best"]["wf_per_s"],
            "at_clients": entry["best"]["clients"],
            "levels": entry["levels"],
        }
        for name, entry in report.items()
    }


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def open_loop(call: Call, rate: float, seconds: float, cap: int) -> dict[str, Any]:
    """Requests at ``rate``/s for ``seconds``, latency from each scheduled start."""
    took: list[float] = []
    errors = dropped = 0
    in_flight: set[asyncio.Task[None]] = set()
    start = time.perf_counter()

    async def one(index: int, due: float) -> None:
        nonlocal errors
        try:
            await call(index)
            took.append(time.perf_counter() - due)
        except Exception as exc:
            errors += 1
            if errors == 1:
                print(f"error: {exc!r}", file=sys.stderr)

    total = int(rate * seconds)
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= cap:
            dropped += 1
            continue
        task = asyncio.create_task(one(index, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    ordered = sorted(took)
    ms = [round(percentile(ordered, q) * 1000, 1) for q in (50, 95, 99)] if ordered else []
    return {
        "rate_per_s": round(rate, 2),
        "seconds": seconds,
        "sent": total - dropped,
        "done": len(took),
        "errors": errors,
        "dropped": dropped,
        "p50_ms": ms[0] if ms else None,
        "p95_ms": ms[1] if ms else None,
        "p99_ms": ms[2] if ms else None,
        "max_ms": round(ordered[-1] * 1000, 1) if ordered else None,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Stack + floor worker up, the closed loops, the open loop."""
    from temporalio.client import Client

    from bench.floor_workflows import FloorFiveNodes
    from tideflow.platform.settings import Settings
    from tideflow.platform.temporal import TideflowTemporal

    report: dict[str, Any] = {"uptime_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="tideflow-api-load-") as work:
        started = time.perf_counter()
        stack = start_stack(Path(work), {"TIDEFLOW_API_RATE_LIMIT_PER_MINUTE": "0"})
        report["stack_healthy_s"] = round(time.perf_counter() - started, 2)
        floor = start_floor_worker(stack.env)
        try:
            key = app_key(stack, APP)
            client: Client = await TideflowTemporal(
                Settings(temporal_address=stack.temporal)
            ).connect()
            http = httpx.AsyncClient(
                base_url=stack.api,
                timeout=120,
                limits=httpx.Limits(max_connections=500, max_keepalive_connections=500),
                headers={"Authorization": f"Bearer {key}"},
            )

            async def api_call(index: int) -> None:
                body = {"inputs": {"word": f" w{index} "}, "user": "bench"}
                body["response_mode"] = "blocking"
                response = await http.post("/v1/workflows/run", json=body)
                response.raise_for_status()
                data = response.json()["data"]
                if data["status"] != "succeeded" or data["outputs"] != {
                    "loud": f"W{index}W{index}"
                }:
                    raise RuntimeError(f"run {index}: {data}")

            async def floor_call(index: int) -> None:
                result = await client.execute_workflow(
                    FloorFiveNodes.run,
                    f" w{index} ",
                    id=f"floor-{uuid.uuid4()}",
                    task_queue=FLOOR_QUEUE,
                )
                if result != {"loud": f"W{index}W{index}"}:
                    raise RuntimeError(f"floor {index}: {result}")

            for call in (api_call, floor_call):  # warm-up: imports, sandboxes, connections
                await asyncio.wait_for(asyncio.gather(*(call(i) for i in range(10))), 120)
            report.update(
                await saturate(
                    {"floor": floor_call, "api": api_call}, args.seconds, args.max_clients
                )
            )
            ratio = report["api"]["saturation_wf_per_s"] / report["floor"]["saturation_wf_per_s"]
            report["api_over_floor"] = round(ratio, 3)
            rate = report["api"]["saturation_wf_per_s"] * args.open_fraction
            print(f"open loop at {rate:.1f}/s:", file=sys.stderr)
            report["open_loop_api"] = await open_loop(
                api_call, rate, args.open_seconds, args.max_in_flight
            )
            if args.open_floor:
                report["open_loop_floor"] = await open_loop(
                    floor_call, rate, args.open_seconds, args.max_in_flight
                )
            await http.aclose()
        finally:
            floor.send_signal(signal.SIGTERM)
            try:
                floor.wait(timeout=30)
            except subprocess.TimeoutExpired:
                floor.kill()
            stop_stack(stack)
    report["uptime_after"] = os.getloadavg()
    report["machine"] = {"nproc": os.cpu_count(), "python": platform.python_version()}
    return report


def main() -> int:
    """Parse arguments; the floor worker or the bench."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--floor-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help="per closed-loop level")
    parser.add_argument("--max-clients", type=int, default=64)
    parser.add_argument("--open-fraction", type=float, default=0.5)
    parser.add_argument("--open-seconds", type=float, default=40.0)
    parser.add_argument("--max-in-flight", type=int, default=200)
    parser.add_argument("--open-floor", action="store_true", help="open loop on the floor too")
    args = parser.parse_args()
    if args.floor_worker:
        asyncio.run(serve_floor())
        return 0
    report = asyncio.run(bench(args))
    print(json.dumps(report, indent=2))
    sys.stdout.flush()
    os._exit(0)  # temporalio/sdk-python#300: the SDK may crash at interpreter exit


if __name__ == "__main__":
    sys.exit(main())
