"""``tideflow worker``: serve worker pools (``--pool``), or check a running worker (``--check``)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from tideflow.platform.settings import Settings
from tideflow.preflight import check_data_dir
from tideflow.workflows.task_queues import POOLS

EXIT_BAD_INPUT = 2


def add_worker_args(parser: argparse.ArgumentParser) -> None:
    """``--pool`` (repeatable, or a comma list) and ``--check``."""
    parser.add_argument(
        "--pool",
        action="append",
        metavar="POOL",
        help=(
            f"serve only these worker pools ({', '.join(POOLS)}; repeat or comma-separate). "
            "Default: all. A pool with a queue of its own (TIDEFLOW_LLM_TASK_QUEUE, "
            "TIDEFLOW_CODE_TASK_QUEUE, TIDEFLOW_INGESTION_TASK_QUEUE) is served on it; main "
            "serves the workflows and every activity on TIDEFLOW_TASK_QUEUE"
        ),
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help=(
            "exit 0 if a worker on this machine is running (its TIDEFLOW_WORKER_HEALTH_FILE "
            "is fresh), 1 if not: a container healthcheck"
        ),
    )


def worker_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run the worker until SIGINT/SIGTERM; exit 2 naming the setting for a pool it cannot
    serve. With ``--check``, only tell whether a worker here is alive."""
    if args.check:
        from tideflow.worker_health import check_health_file

        problem = check_health_file(settings.worker_health_file)
        print(problem or "worker is running", file=sys.stderr if problem else sys.stdout)
        return 1 if problem else 0
    from tideflow.worker import run_worker
    from tideflow.worker_pools import PoolError, parse_pools

    try:
        pools = parse_pools(args.pool)
        check_data_dir(settings)
        asyncio.run(run_worker(settings, pools))
    except PoolError as exc:
        print(f"tideflow: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
