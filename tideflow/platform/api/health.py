"""``GET /health``: the database, Temporal and worker, each with its own status."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from tideflow.activities.ping import PingInput, PingResult
from tideflow.platform.api.deps import SettingsDep, TemporalDep
from tideflow.platform.db.session import ping as ping_db
from tideflow.platform.settings import Settings

router = APIRouter(tags=["health"])

# A poller seen within this window counts as a live worker.
WORKER_FRESHNESS = timedelta(seconds=90)


class ComponentStatus(BaseModel):
    """One component's health."""

    ok: bool
    detail: str = ""


class HealthReport(BaseModel):
    """The whole stack's health; HTTP 200 when ``status`` is ok, 503 otherwise."""

    status: Literal["ok", "degraded"]
    db: ComponentStatus
    temporal: ComponentStatus
    worker: ComponentStatus


async def _check_db(settings: Settings) -> ComponentStatus:
    try:
        await asyncio.wait_for(run_in_threadpool(ping_db, settings.db_url), timeout=5)
    except Exception as exc:
        return ComponentStatus(ok=False, detail=f"{type(exc).__name__}: {exc}")
    backend = settings.db_url.split(":", 1)[0]
    return ComponentStatus(ok=True, detail=backend)


async def _check_worker(client: Client, settings: Settings) -> ComponentStatus:
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal_namespace,
        task_queue=TaskQueue(name=settings.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    response = await client.workflow_service.describe_task_queue(
        request, timeout=timedelta(seconds=5)
    )
    now = datetime.now(UTC)
    live = [
        p
        for p in response.pollers
        if now - p.last_access_time.ToDatetime(tzinfo=UTC) < WORKER_FRESHNESS
    ]
    if not live:
        return ComponentStatus(ok=False, detail=f"no worker polling {settings.task_queue!r}")
    return ComponentStatus(ok=True, detail=f"{len(live)} poller(s) on {settings.task_queue!r}")


async def _round_trip(client: Client, settings: Settings) -> ComponentStatus:
    result = await client.execute_workflow(
        "PingWorkflow",
        PingInput(message="health"),
        id=f"health-{uuid.uuid4()}",
        task_queue=settings.task_queue,
        execution_timeout=timedelta(seconds=10),
        result_type=PingResult,
    )
    return ComponentStatus(ok=True, detail=f"round trip via {result.worker}")


@router.get("/health", response_model=HealthReport)
async def health(
    settings: SettingsDep, temporal: TemporalDep, response: Response, deep: bool = False
) -> HealthReport:
    """Report each component; ``?deep=true`` also runs a workflow through a worker."""
    db = await _check_db(settings)
    client = temporal.client
    if client is None:
        detail = temporal.last_error or "connecting"
        temporal_status = ComponentStatus(ok=False, detail=detail)
        worker = ComponentStatus(ok=False, detail="Temporal not reachable")
    else:
        try:
            worker = await (_round_trip if deep else _check_worker)(client, settings)
            temporal_status = ComponentStatus(ok=True, detail=settings.temporal_target)
        except Exception as exc:
            temporal_status = ComponentStatus(ok=True, detail=settings.temporal_target)
            worker = ComponentStatus(ok=False, detail=f"{type(exc).__name__}: {exc}")
    all_ok = db.ok and temporal_status.ok and worker.ok
    if not all_ok:
        response.status_code = 503
    return HealthReport(
        status="ok" if all_ok else "degraded", db=db, temporal=temporal_status, worker=worker
    )
