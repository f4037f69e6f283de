"""Console schedule of an app (``trigger-schedule``): read it, pause, resume, run now, backfill.

The schedule itself is a Temporal Schedule (``tideflow.platform.schedules``); these routes are
its controls. 404 when the app has no schedule (never published with a schedule trigger, or
unpublished).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, Field
from temporalio.client import ScheduleBackfill, ScheduleOverlapPolicy
from temporalio.service import RPCError, RPCStatusCode

from tideflow.platform import schedules
from tideflow.platform.api.deps import SessionDep, TemporalClientDep, TenantApp
from tideflow.platform.api.errors import ApiError, invalid_param, not_found
from tideflow.platform.db.crud import apps
from tideflow.platform.db.models import App
from tideflow.workflows.graph.plan import ExecutionPlan
from tideflow.workflows.nodes.trigger_schedule import cron_expression, timezone_name

router = APIRouter(prefix="/console/api/apps/{app_id}/schedule", tags=["console: schedule"])
T = TypeVar("T")
# The console shows this many upcoming firings (Dify shows 5).
NEXT_RUNS = 5


class PauseBody(BaseModel):
    """Why the schedule is paused (shown with it)."""

    note: str = Field(default="", max_length=500)


class BackfillBody(BaseModel):
    """Run every firing the schedule had between ``start`` and ``end`` (one after another)."""

    start: datetime
    end: datetime


async def _call(action: Callable[[], Awaitable[T]]) -> T:
    """A schedule call with Temporal's answers as API errors (never a 500)."""
    try:
        return await action()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise not_found("schedule") from None
        if err.status == RPCStatusCode.INVALID_ARGUMENT:
            raise invalid_param(err.message) from None
        raise ApiError(503, "service_unavailable", f"Temporal: {err.message}") from None
    except (ValueError, OverflowError) as err:  # a time Temporal cannot represent
        raise invalid_param(str(err)) from None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _node_config(session: SessionDep, app: App) -> dict[str, Any]:
    """The published schedule node's timetable as the user wrote it."""
    version = apps.latest_version(session, app)
    node = schedules.schedule_root(ExecutionPlan.model_validate(version.plan)) if version else None
    if node is None:
        return {"node_id": None, "mode": None, "cron_expression": None, "timezone": None}
    return {
        "node_id": node.id,
        "mode": node.data.get("mode") or "visual",
        "cron_expression": cron_expression(node.data),
        "timezone": timezone_name(node.data),
    }


@router.get("")
async def get_schedule(
    app: TenantApp, session: SessionDep, client: TemporalClientDep
) -> dict[str, Any]:
    """The schedule: its timetable, paused or not, the next firings and the recent ones."""
    described = await _call(schedules.handle(client, app).describe)
    schedule, info = described.schedule, described.info
    policy = schedule.policy
    window = policy.catchup_window.total_seconds() if policy.catchup_window else None
    return {
        "id": described.id,
        **_node_config(session, app),
        "paused": schedule.state.paused,
        "note": schedule.state.note or "",
        "overlap": policy.overlap.name.lower(),
        "catchup_window_s": window,
        "next_run_times": [_iso(t) for t in info.next_action_times[:NEXT_RUNS]],
        "recent_actions": [
            {
                "scheduled_at": _iso(action.scheduled_at),
                "started_at": _iso(action.started_at),
                "workflow_id": getattr(action.action, "workflow_id", None),
            }
            for action in info.recent_actions
        ],
        "num_actions": info.num_actions,
        "num_actions_skipped_overlap": info.num_actions_skipped_overlap,
        "num_actions_missed_catchup_window": info.num_actions_missed_catchup_window,
    }


@router.post("/pause")
async def pause(
    app: TenantApp, client: TemporalClientDep, body: PauseBody | None = None
) -> dict[str, Any]:
    """Stop firing until resumed (republishing keeps it paused)."""
    note = (body.note if body else "") or "paused from the console"
    await _call(lambda: schedules.handle(client, app).pause(note=note))
    return {"result": "success", "paused": True}


@router.post("/resume")
async def resume(app: TenantApp, client: TemporalClientDep) -> dict[str, Any]:
    """Fire again at the next scheduled time (missed ones are not made up)."""
    await _call(lambda: schedules.handle(client, app).unpause(note="resumed from the console"))
    return {"result": "success", "paused": False}


@router.post("/trigger", status_code=202)
async def trigger(app: TenantApp, client: TemporalClientDep) -> dict[str, Any]:
    """Run once now, even while paused or while an earlier run still goes."""
    overlap = ScheduleOverlapPolicy.ALLOW_ALL
    await _call(lambda: schedules.handle(client, app).trigger(overlap=overlap))
    return {"result": "success"}


@router.post("/backfill", status_code=202)
async def backfill(app: TenantApp, client: TemporalClientDep, body: BackfillBody) -> dict[str, Any]:
    """Run the firings between ``start`` and ``end`` (naive times are UTC), one at a time."""
    start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (body.start, body.end))
    if end <= start:
        raise invalid_param("end must be after start")
    request = ScheduleBackfill(start_at=start, end_at=end, overlap=ScheduleOverlapPolicy.BUFFER_ALL)
    await _call(lambda: schedules.handle(client, app).backfill(request))
    return {"result": "success"}
