"""The task queue of each worker pool, from the settings (see tideflow.workflows.task_queues)."""

from __future__ import annotations

from tideflow.platform.settings import Settings
from tideflow.workflows.task_queues import POOLS, Pool


def pool_queue(settings: Settings, pool: Pool) -> str:
    """The task queue ``pool``'s workers serve: its own, or the main one when it has none."""
    own = {
        "llm": settings.llm_task_queue,
        "code": settings.code_task_queue,
        "ingestion": settings.ingestion_task_queue,
    }.get(pool)
    return own or settings.task_queue


def activity_queues(settings: Settings) -> dict[str, str]:
    """The routing a run carries in its input: each pool with a queue other than the main one.

    Empty when no pool has its own queue, so runs, and their histories, are as without pools.
    """
    routed: dict[str, str] = {}
    for pool in POOLS:
        queue = pool_queue(settings, pool)
        if queue != settings.task_queue:
            routed[pool] = queue
    return routed
