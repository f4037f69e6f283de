#!/usr/bin/env python3
"""The sandboxed code node's own cost (issue 11: <= 5 ms per node, pre-started and isolated).

Runs the ``run_code`` activity body (``ActivityEnvironment``: no Temporal round trip, which
``bench/activity_floor.py`` measures) ``--runs`` times back to back, after ``--warmup`` runs,
for each configuration: Python forked from the warm server or spawned, with the pool of
pre-started processes (``TIDEFLOW_CODE_POOL_SIZE``) at 2 or off. Every run is a fresh,
confined process that serves that run only. Reported per configuration: median, p90, p99 and
mean milliseconds per node, plus the load average around it.

    uv run python bench/code_node.py --runs 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temporalio.testing import ActivityEnvironment  # noqa: E402

from tideflow.activities.code import CodeOutputSpec, CodeRunInput, run_code  # noqa: E402
from tideflow.activities.code_pool import shutdown_code_pool  # noqa: E402
from tideflow.platform.settings import get_settings  # noqa: E402

# graphon's chain/code node body: one small dict in, one out.
CODE = "def main(x: int) -> dict:\n    return {'y': x + 1}\n"
CONFIGS = {
    "forked, pool 2": {"TIDEFLOW_CODE_FORKSERVER": "true", "TIDEFLOW_CODE_POOL_SIZE": "2"},
    "forked, no pool": {"TIDEFLOW_CODE_FORKSERVER": "true", "TIDEFLOW_CODE_POOL_SIZE": "0"},
    "spawned, pool 2": {"TIDEFLOW_CODE_FORKSERVER": "false", "TIDEFLOW_CODE_POOL_SIZE": "2"},
    "spawned, no pool": {"TIDEFLOW_CODE_FORKSERVER": "false", "TIDEFLOW_CODE_POOL_SIZE": "0"},
}


async def measure(runs: int, warmup: int) -> list[float]:
    """Milliseconds per ``run_code`` call, back to back."""
    env = ActivityEnvironment()
    spec = {"y": CodeOutputSpec(type="number")}
    times: list[float] = []
    for i in range(warmup + runs):
        request = CodeRunInput(
            node_id="code", language="python3", code=CODE, inputs={"x": i}, outputs=spec
        )
        began = time.perf_counter()
        result = await env.run(run_code, request)
        took = (time.perf_counter() - began) * 1000
        assert result.outputs == {"y": i + 1}
        if i >= warmup:
            times.append(took)
    await shutdown_code_pool()
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p90_ms": at(0.9),
        "p99_ms": at(0.99),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--only", choices=sorted(CONFIGS), action="append")
    args = parser.parse_args()
    report: dict[str, Any] = {"runs": args.runs, "nproc": os.cpu_count(), "configs": {}}
    for name, env in CONFIGS.items():
        if args.only and name not in args.only:
            continue
        os.environ.update(env)
        get_settings.cache_clear()
        load = os.getloadavg()[0]
        times = asyncio.run(measure(args.runs, args.warmup))
        report["configs"][name] = {**summary(times), "load1_before": load}
        print(name, report["configs"][name], file=sys.stderr)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
