"""Which workers one ``tideflow worker`` process runs: the pools it serves, each on its queue.

A pool with a task queue of its own (``TIDEFLOW_LLM_TASK_QUEUE``...) gets a worker on that
queue with that pool's activities only. The main queue's worker has every workflow and every
activity: runs started without routing (before the pools were configured, or by ``tideflow
run``) schedule all their activities on the main queue and still finish there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from temporalio import activity

from tideflow.platform.settings import Settings
from tideflow.platform.task_queues import pool_queue
from tideflow.workflows.task_queues import POOLS, Pool, pool_of

_POOLS_BY_NAME: dict[str, Pool] = {pool: pool for pool in POOLS}


class PoolError(ValueError):
    """A ``--pool`` selection the settings cannot serve (the message names the setting)."""


@dataclasses.dataclass(frozen=True)
class QueueWorker:
    """One Temporal worker of the process: its task queue, the pools it serves, what it runs."""

    task_queue: str
    pools: tuple[Pool, ...]
    workflows: Sequence[type]
    activities: Sequence[Any]


def parse_pools(values: Iterable[str] | None) -> tuple[Pool, ...]:
    """The pools named by ``--pool`` values (repeated and/or comma lists); none: every pool."""
    named: list[Pool] = []
    for value in values or ():
        for part in value.split(","):
            name = part.strip()
            if not name:
                continue
            pool = _POOLS_BY_NAME.get(name)
            if pool is None:
                raise PoolError(f"--pool: unknown pool {name!r}; choose from {', '.join(POOLS)}")
            if pool not in named:
                named.append(pool)
    return tuple(named) or POOLS


def queue_workers(
    settings: Settings,
    pools: Sequence[Pool],
    workflows: Sequence[type],
    activities: Sequence[Any],
) -> list[QueueWorker]:
    """The workers serving ``pools``: one per distinct task queue.

    A pool without a queue of its own is part of the main queue's worker; asking for it alone
    (without ``main``) is a PoolError, since its activities are scheduled on the main queue.
    """
    main = settings.task_queue
    served: dict[str, list[Pool]] = {}
    for pool in pools:
        queue = pool_queue(settings, pool)
        if pool != "main" and queue == main and "main" not in pools:
            raise PoolError(
                f"--pool {pool}: TIDEFLOW_{pool.upper()}_TASK_QUEUE is not set, so the {pool} "
                f"activities run on the main queue {main!r}; set it (the same on the API and "
                "every worker) or serve the main pool"
            )
        served.setdefault(queue, []).append(pool)
    found: list[QueueWorker] = []
    for queue, queue_pools in served.items():
        if queue == main:
            found.append(QueueWorker(queue, tuple(queue_pools), workflows, list(activities)))
            continue
        # Every pool routed to this queue (two pools may share one), selected or not: a task
        # of theirs reaching this worker must find its activity.
        mine = [
            fn for fn in activities if pool_queue(settings, pool_of(activity_name(fn))) == queue
        ]
        found.append(QueueWorker(queue, tuple(queue_pools), [], mine))
    return found


def defined_activity_name(fn: Any) -> str | None:
    """The name ``fn`` is registered under; None when it is not a named ``@activity.defn``."""
    # The SDK keeps an activity's definition private; its name is what the worker registers.
    definition = activity._Definition.from_callable(fn)  # pyright: ignore[reportPrivateUsage, reportUnknownMemberType]
    return definition.name if definition is not None else None


def activity_name(fn: Any) -> str:
    """The name an ``@activity.defn`` function is registered under."""
    name = defined_activity_name(fn)
    if name is None:
        raise ValueError(f"{fn!r} is not an @activity.defn function")
    return name
