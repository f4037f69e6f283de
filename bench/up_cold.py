#!/usr/bin/env python3
"""``tideflow up`` start-up time (issue 11): ``--starts`` cold starts, each in a fresh data dir
(new SQLite files, no migrations applied, no owner yet) on free ports.

Per start: the supervisor's own "healthy in X s" line (from the ``tideflow`` process's first
import, so the CLI's own imports count, through migrations, Temporal, worker, API and console
until ``/health`` answers 200) and the wall time from spawning ``tideflow up`` (interpreter
start and imports included) to the first 200 from ``/health`` seen by this process
(``bench/stack.py``'s poll, 0.2 s steps).
"Cold" means a fresh stack, not a cold page cache: the files were read by earlier starts.

    uv run python bench/up_cold.py --starts 5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stack import start_stack, stop_stack  # noqa: E402

HEALTHY = re.compile(r"healthy in ([0-9.]+) s")


def one_start() -> dict[str, Any]:
    """One fresh stack: its healthy time, then stopped."""
    with tempfile.TemporaryDirectory(prefix="tideflow-up-") as work:
        load = os.getloadavg()[0]
        began = time.perf_counter()
        stack = start_stack(Path(work))
        wall = time.perf_counter() - began
        try:
            deadline = time.monotonic() + 5
            said = None
            while said is None and time.monotonic() < deadline:
                said = next((m for line in stack.log if (m := HEALTHY.search(line))), None)
                time.sleep(0.05)
        finally:
            stop_stack(stack)
    return {
        "healthy_in_s": float(said.group(1)) if said else None,
        "wall_to_health_s": round(wall, 2),
        "load1_before": round(load, 2),
    }


def main() -> int:
    """Parse arguments, start and stop ``--starts`` stacks, print a JSON report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    starts: list[dict[str, Any]] = []
    for index in range(args.starts):
        starts.append(one_start())
        print(f"{index}: {starts[-1]}", file=sys.stderr, flush=True)
        time.sleep(2)  # let the last stack's processes go
    said = [s["healthy_in_s"] for s in starts if s["healthy_in_s"] is not None]
    walls = [s["wall_to_health_s"] for s in starts]
    report = {
        "starts": starts,
        "healthy_in_median_s": statistics.median(said) if said else None,
        "healthy_in_max_s": max(said) if said else None,
        "wall_median_s": statistics.median(walls),
        "wall_max_s": max(walls),
        "nproc": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
