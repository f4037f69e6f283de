"""Schedule triggers end to end: publish makes a Temporal Schedule, the console controls it,
and each firing records a run (``triggered_from="schedule"``) whose ``sys.timestamp`` is the
time the schedule fired for. Real API, worker, Temporal dev server and SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select
from temporalio.client import (
    Client,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    ScheduleRange,
    ScheduleSpec,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from tests.api.conftest import Api
from tideflow.activities.scheduled import OpenScheduledRun, open_scheduled_run
from tideflow.platform import schedules
from tideflow.platform.db.models import App, WorkflowRun
from tideflow.platform.db.session import get_engine

SCHEDULE_NODE = "sched"
PARIS = ZoneInfo("Europe/Paris")


def _graph(schedule: dict[str, Any]) -> dict[str, Any]:
    """Schedule trigger -> End that outputs sys.timestamp."""
    end = {
        "type": "end",
        "title": "End",
        "outputs": [{"variable": "ts", "value_selector": ["sys", "timestamp"]}],
    }
    return {
        "nodes": [
            {
                "id": SCHEDULE_NODE,
                "data": {"type": "trigger-schedule", "title": "Every", **schedule},
            },
            {"id": "end", "data": end},
        ],
        "edges": [{"id": "e1", "source": SCHEDULE_NODE, "target": "end"}],
    }


async def _scheduled_app(api: Api, schedule: dict[str, Any], publish: bool = True) -> str:
    created = await api.http.post(
        "/console/api/apps", json={"name": "Nightly", "mode": "workflow"}, headers=api.console
    )
    assert created.status_code == 201, created.text
    app_id: str = created.json()["id"]
    await _save_draft(api, app_id, schedule)
    if publish:
        published = await _publish(api, app_id)
        assert published.status_code == 201, published.text
    return app_id


async def _save_draft(api: Api, app_id: str, schedule: dict[str, Any]) -> dict[str, Any]:
    saved = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/draft",
        json={"graph": _graph(schedule)},
        headers=api.console,
    )
    assert saved.status_code == 200, saved.text
    body: dict[str, Any] = saved.json()
    return body


async def _publish(api: Api, app_id: str) -> Any:
    return await api.http.post(f"/console/api/apps/{app_id}/workflows/publish", headers=api.console)


def _runs(api: Api, app_id: str) -> list[WorkflowRun]:
    with Session(get_engine(api.settings.db_url)) as session:
        query = select(WorkflowRun).where(WorkflowRun.app_id == app_id)
        return list(session.exec(query.order_by(col(WorkflowRun.created_at))))


async def _ended_runs(api: Api, app_id: str, count: int, timeout: float = 20) -> list[WorkflowRun]:
    """The app's first ``count`` runs once they have ended."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        runs = _runs(api, app_id)
        if len(runs) >= count and all(r.finished_at is not None for r in runs[:count]):
            return runs
        assert asyncio.get_running_loop().time() < deadline, [(r.id, r.status) for r in runs]
        await asyncio.sleep(0.05)


def _stamp(run: WorkflowRun) -> int:
    """The run's output ``ts`` (its sys.timestamp)."""
    assert run.outputs is not None, run.error
    value: int = run.outputs["ts"]
    return value


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _schedule_url(app_id: str) -> str:
    return f"/console/api/apps/{app_id}/schedule"


async def test_publish_creates_republish_updates_unpublish_deletes(
    api: Api, temporal_env: WorkflowEnvironment
) -> None:
    weekdays = {"mode": "cron", "cron_expression": "0 9 * * MON-FRI", "timezone": "Europe/Paris"}
    app_id = await _scheduled_app(api, weekdays)
    handle = temporal_env.client.get_schedule_handle(f"app-schedule-{app_id}")
    described = await handle.describe()
    spec = described.schedule.spec
    assert spec.time_zone_name == "Europe/Paris"
    [calendar] = spec.calendars
    assert calendar.hour == (ScheduleRange(9, 9, 1),)
    assert calendar.day_of_week == (ScheduleRange(1, 5, 1),)
    assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert described.schedule.policy.catchup_window == timedelta(minutes=1)

    got = await api.http.get(_schedule_url(app_id), headers=api.console)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["cron_expression"] == "0 9 * * MON-FRI" and body["timezone"] == "Europe/Paris"
    assert body["paused"] is False and body["overlap"] == "skip" and body["node_id"] == "sched"
    assert len(body["next_run_times"]) == 5
    for text in body["next_run_times"]:
        local = datetime.fromisoformat(text).astimezone(PARIS)
        assert (local.hour, local.minute) == (9, 0) and local.isoweekday() <= 5

    # Pause survives a republish; the republished spec replaces the old one.
    paused = await api.http.post(
        f"{_schedule_url(app_id)}/pause", json={"note": "holidays"}, headers=api.console
    )
    assert paused.status_code == 200 and paused.json()["paused"] is True
    monthly = {"frequency": "monthly", "visual_config": {"time": "6:30 PM", "monthly_days": [1]}}
    await _save_draft(api, app_id, monthly)
    assert (await _publish(api, app_id)).status_code == 201
    body = (await api.http.get(_schedule_url(app_id), headers=api.console)).json()
    assert body["paused"] is True and body["note"] == "holidays"
    assert body["mode"] == "visual" and body["cron_expression"] == "30 18 1 * *"
    assert body["timezone"] == "UTC"
    for text in body["next_run_times"]:
        moment = datetime.fromisoformat(text)
        assert (moment.day, moment.hour, moment.minute) == (1, 18, 30)
    resumed = await api.http.post(f"{_schedule_url(app_id)}/resume", headers=api.console)
    assert resumed.status_code == 200
    assert (await handle.describe()).schedule.state.paused is False

    unpublished = await api.http.delete(
        f"/console/api/apps/{app_id}/workflows/publish", headers=api.console
    )
    assert unpublished.status_code == 200, unpublished.text
    with pytest.raises(RPCError) as gone:
        await handle.describe()
    assert gone.value.status == RPCStatusCode.NOT_FOUND
    missing = await api.http.get(_schedule_url(app_id), headers=api.console)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    for action in ("pause", "resume", "trigger"):
        answer = await api.http.post(f"{_schedule_url(app_id)}/{action}", headers=api.console)
        assert answer.status_code == 404 and answer.json()["code"] == "not_found"

    # Publishing again brings it back; deleting the app deletes it.
    assert (await _publish(api, app_id)).status_code == 201
    assert (await handle.describe()).schedule.spec.calendars
    deleted = await api.http.delete(f"/console/api/apps/{app_id}", headers=api.console)
    assert deleted.status_code == 204
    with pytest.raises(RPCError):
        await handle.describe()


async def test_a_version_without_schedule_trigger_removes_the_schedule(
    api: Api, temporal_env: WorkflowEnvironment
) -> None:
    app_id = await _scheduled_app(api, {"mode": "cron", "cron_expression": "@daily"})
    handle = temporal_env.client.get_schedule_handle(f"app-schedule-{app_id}")
    assert (await handle.describe()).schedule.spec.calendars
    graph = {
        "nodes": [
            {"id": "start", "data": {"type": "start", "title": "Start", "variables": []}},
            {"id": "end", "data": {"type": "end", "title": "End", "outputs": []}},
        ],
        "edges": [{"id": "e1", "source": "start", "target": "end"}],
    }
    saved = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/draft", json={"graph": graph}, headers=api.console
    )
    assert saved.status_code == 200 and saved.json()["problems"] == []
    assert (await _publish(api, app_id)).status_code == 201
    with pytest.raises(RPCError):
        await handle.describe()
    other = await api.other_tenant()
    assert (await api.http.get(_schedule_url(app_id), headers=other)).status_code == 404


async def test_bad_schedule_config_refuses_publish_naming_fields(api: Api) -> None:
    bad = {
        "mode": "visual",
        "frequency": "weekly",
        "visual_config": {"time": "25:61 PM", "weekdays": ["mon"]},
        "timezone": "Mars/Olympus",
    }
    app_id = await _scheduled_app(api, bad, publish=False)
    refused = await _publish(api, app_id)
    assert refused.status_code == 400, refused.text
    fields = {(p["node_id"], p["field"]) for p in refused.json()["problems"]}
    assert fields == {(SCHEDULE_NODE, "visual_config.time"), (SCHEDULE_NODE, "timezone")}
    cron = {"mode": "cron", "cron_expression": "0 0 * * 5L"}
    saved = await _save_draft(api, app_id, cron)
    assert [p["field"] for p in saved["problems"]] == ["cron_expression"]


async def test_trigger_now_and_backfill_record_schedule_runs(api: Api) -> None:
    app_id = await _scheduled_app(api, {"mode": "cron", "cron_expression": "*/10 * * * *"})
    paused = await api.http.post(f"{_schedule_url(app_id)}/pause", headers=api.console)
    assert paused.status_code == 200
    before = datetime.now(UTC)
    triggered = await api.http.post(f"{_schedule_url(app_id)}/trigger", headers=api.console)
    assert triggered.status_code == 202, triggered.text
    [run] = await _ended_runs(api, app_id, 1)
    assert run.triggered_from == "schedule" and run.status == "succeeded", run.error
    stamp = _stamp(run)
    assert int(before.timestamp()) <= stamp <= int(datetime.now(UTC).timestamp())
    body = (await api.http.get(_schedule_url(app_id), headers=api.console)).json()
    [action] = body["recent_actions"]
    assert int(datetime.fromisoformat(action["scheduled_at"]).timestamp()) == stamp

    # Backfill: the firings of a past hour, each with its own scheduled time.
    hour = (before - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    backfill = {"start": hour.isoformat(), "end": (hour + timedelta(minutes=25)).isoformat()}
    filled = await api.http.post(
        f"{_schedule_url(app_id)}/backfill", json=backfill, headers=api.console
    )
    assert filled.status_code == 202, filled.text
    runs = await _ended_runs(api, app_id, 4)
    stamps = sorted(_stamp(r) for r in runs[1:])
    expected = [int((hour + timedelta(minutes=m)).timestamp()) for m in (0, 10, 20)]
    assert stamps == expected
    assert all(r.status == "succeeded" and r.triggered_from == "schedule" for r in runs)
    backwards = {"start": backfill["end"], "end": backfill["start"]}
    refused = await api.http.post(
        f"{_schedule_url(app_id)}/backfill", json=backwards, headers=api.console
    )
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_param"


async def test_a_schedule_fires_at_its_time(api: Api, temporal_env: WorkflowEnvironment) -> None:
    app_id = await _scheduled_app(api, {"mode": "cron", "cron_expression": "0 0 1 1 *"})
    # The same schedule, through the same code, but with a seconds-level spec: the next firing
    # is two to three seconds ahead.
    fire_at = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    spec = ScheduleSpec(
        calendars=[
            ScheduleCalendarSpec(
                second=[ScheduleRange(fire_at.second)],
                minute=[ScheduleRange(fire_at.minute)],
                hour=[ScheduleRange(fire_at.hour)],
                day_of_month=[ScheduleRange(fire_at.day)],
                month=[ScheduleRange(fire_at.month)],
                year=[ScheduleRange(fire_at.year)],
            )
        ],
        time_zone_name="UTC",
    )
    with Session(get_engine(api.settings.db_url)) as session:
        app = session.get(App, app_id)
        assert app is not None
    await schedules.put_schedule(temporal_env.client, api.settings, app, spec)
    [run] = await _ended_runs(api, app_id, 1, timeout=15)
    assert run.status == "succeeded" and run.triggered_from == "schedule", run.error
    assert _stamp(run) == int(fire_at.timestamp())
    started = await _run_started(temporal_env.client, run.temporal_workflow_id)
    # Never early; late only by the machine's load (30-50 ms on an idle machine; how late is
    # a benchmark's business, not a timed test's): the bound only tells "this firing" from
    # "some later one".
    lag = (started - fire_at).total_seconds()
    assert 0 <= lag < 10.0, f"the run started {lag:.3f} s after its scheduled time"
    recorded = (_aware(run.created_at) - fire_at).total_seconds()
    assert 0 <= recorded < 10.0, recorded


async def _run_started(client: Client, workflow_id: str) -> datetime:
    described = await client.get_workflow_handle(workflow_id).describe()
    return described.start_time


async def test_recording_a_firing_twice_keeps_one_run(api: Api) -> None:
    """A retried ``open_scheduled_run`` (same firing) finds the row it wrote."""
    app_id = await _scheduled_app(api, {"mode": "cron", "cron_expression": "@monthly"})
    when = datetime(2026, 3, 1, tzinfo=UTC)
    firing = OpenScheduledRun(app_id=app_id, scheduled_at=when, key="app-x-scheduled-2026-03-01")
    env = ActivityEnvironment()
    first = await env.run(open_scheduled_run, firing)
    again = await env.run(open_scheduled_run, firing)
    assert first.run_id and first.run_id == again.run_id
    assert first.run_input is not None and first.run_input.timestamp == int(when.timestamp())
    [row] = _runs(api, app_id)
    assert row.id == first.run_id and row.triggered_from == "schedule"
    assert row.temporal_workflow_id == first.workflow_id
    gone = await env.run(open_scheduled_run, firing.model_copy(update={"app_id": "no-such-app"}))
    assert gone.run_input is None and gone.skipped == "the app no longer exists"
