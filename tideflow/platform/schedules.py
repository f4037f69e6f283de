"""Schedule triggers as Temporal Schedules: one per published workflow app whose root node is
``trigger-schedule``, id ``app-schedule-<app id>``.

Each firing starts ``ScheduledRunWorkflow`` (``tideflow.workflows.scheduled``), which records
the run (``triggered_from="schedule"``) and runs the app's newest published version. The
node's timetable (cron or Dify's visual form, see ``nodes.trigger_schedule``) becomes calendar
specs in the node's time zone; a firing is skipped while the previous run still goes (overlap
SKIP) and one missed by up to ``schedule_catchup_window_s`` still runs. Republishing updates the
schedule (keeping it paused if it was), unpublishing or deleting the app deletes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from tideflow.platform.api.errors import ApiError
from tideflow.platform.db.models import App
from tideflow.platform.runs.service import APP_ID, TENANT_ID
from tideflow.platform.settings import Settings
from tideflow.platform.task_queues import activity_queues
from tideflow.workflows.graph.plan import ExecutionPlan, PlanNode
from tideflow.workflows.nodes._cron import CronCalendar, CronError, parse_cron
from tideflow.workflows.nodes.trigger_schedule import cron_expression, timezone_name
from tideflow.workflows.scheduled import SCHEDULED_RUN_WORKFLOW, ScheduledRunRequest

SCHEDULE_NODE = "trigger-schedule"
_MONTHS_31 = (1, 3, 5, 7, 8, 10, 12)
_MONTHS_30 = (4, 6, 9, 11)
# Years for February's last day (the 29th or the 28th): Temporal takes years 2000-2100.
_LEAP_YEARS = (ScheduleRange(2024, 2096, 4),)
_COMMON_YEARS = (
    ScheduleRange(2025, 2097, 4),
    ScheduleRange(2026, 2098, 4),
    ScheduleRange(2027, 2099, 4),
    ScheduleRange(2100),
)


def schedule_id(app_id: str) -> str:
    """The Temporal Schedule id of an app."""
    return f"app-schedule-{app_id}"


def schedule_root(plan: ExecutionPlan) -> PlanNode | None:
    """The plan's ``trigger-schedule`` root node, if a workflow plan has one."""
    root = plan.nodes.get(plan.root_id)
    if plan.mode != "workflow" or root is None or root.type != SCHEDULE_NODE:
        return None
    return root


def ranges(values: Iterable[int]) -> list[ScheduleRange]:
    """Sorted values as runs of consecutive numbers."""
    out: list[ScheduleRange] = []
    for value in sorted(set(values)):
        if out and out[-1].end == value - 1:
            out[-1] = ScheduleRange(out[-1].start, value)
        else:
            out.append(ScheduleRange(value, value))
    return out


def _calendars(calendar: CronCalendar, comment: str) -> list[ScheduleCalendarSpec]:
    """Temporal calendars of one alternative; ``L`` becomes one calendar per month length."""

    def spec(
        days: Iterable[int], months: Iterable[int], years: Iterable[ScheduleRange] = ()
    ) -> ScheduleCalendarSpec:
        return ScheduleCalendarSpec(
            second=[ScheduleRange(0)],
            minute=ranges(calendar.minute),
            hour=ranges(calendar.hour),
            day_of_month=ranges(days),
            month=ranges(months),
            year=list(years),
            day_of_week=ranges(calendar.day_of_week),
            comment=comment,
        )

    out: list[ScheduleCalendarSpec] = []
    if calendar.day_of_month:
        out.append(spec(calendar.day_of_month, calendar.month))
    if calendar.last_day:
        months = set(calendar.month)
        for last, group in ((31, _MONTHS_31), (30, _MONTHS_30)):
            if months & set(group):
                out.append(spec([last], months & set(group)))
        if 2 in months:
            out.append(spec([29], [2], _LEAP_YEARS))
            out.append(spec([28], [2], _COMMON_YEARS))
    return out


def cron_spec(expression: str, timezone: str) -> ScheduleSpec:
    """The ScheduleSpec of a cron expression in an IANA time zone (``CronError`` if wrong)."""
    calendars = [c for alt in parse_cron(expression) for c in _calendars(alt, expression)]
    return ScheduleSpec(calendars=calendars, time_zone_name=timezone)


def node_spec(node: PlanNode) -> ScheduleSpec:
    """The ScheduleSpec of a ``trigger-schedule`` node's config."""
    return cron_spec(cron_expression(node.data), timezone_name(node.data))


def _schedule(settings: Settings, app: App, spec: ScheduleSpec, state: ScheduleState) -> Schedule:
    attributes = TypedSearchAttributes(
        [SearchAttributePair(TENANT_ID, app.tenant_id), SearchAttributePair(APP_ID, app.id)]
    )
    action = ScheduleActionStartWorkflow(
        SCHEDULED_RUN_WORKFLOW,
        ScheduledRunRequest(app_id=app.id, activity_queues=activity_queues(settings)),
        id=f"app-{app.id}-scheduled",
        task_queue=settings.task_queue,
        typed_search_attributes=attributes,
        static_summary=f"scheduled run of {app.name}"[:200],
    )
    policy = SchedulePolicy(
        overlap=ScheduleOverlapPolicy.SKIP,
        catchup_window=timedelta(seconds=settings.schedule_catchup_window_s),
    )
    return Schedule(action=action, spec=spec, policy=policy, state=state)


async def put_schedule(client: Client, settings: Settings, app: App, spec: ScheduleSpec) -> None:
    """Create the app's schedule with ``spec``, or update the one it has (paused or not, and
    the note saying why, kept)."""
    try:
        await client.create_schedule(
            schedule_id(app.id), _schedule(settings, app, spec, ScheduleState())
        )
        return
    except ScheduleAlreadyRunningError:
        pass
    except RPCError as err:
        raise _refused(err) from None

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        was = current.description.schedule.state
        state = ScheduleState(paused=was.paused, note=was.note)
        return ScheduleUpdate(schedule=_schedule(settings, app, spec, state))

    try:
        await client.get_schedule_handle(schedule_id(app.id)).update(update)
    except RPCError as err:
        raise _refused(err) from None


def _refused(err: RPCError) -> ApiError:
    if err.status == RPCStatusCode.INVALID_ARGUMENT:
        return ApiError(400, "invalid_param", f"the schedule was refused: {err.message}")
    return ApiError(503, "service_unavailable", f"Temporal did not take the schedule: {err}")


async def sync_schedule(client: Client, settings: Settings, app: App, plan: ExecutionPlan) -> None:
    """Publishing: the app's schedule follows the plan's schedule trigger (or goes)."""
    node = schedule_root(plan)
    if node is None:
        await remove_schedule(client, settings, app)
        return
    try:
        spec = node_spec(node)
    except CronError as err:  # validation already refused such a draft; kept for safety
        raise ApiError(400, "invalid_param", f"node {node.id}: {err}") from None
    await put_schedule(client, settings, app, spec)


async def remove_schedule(client: Client, settings: Settings, app: App) -> None:
    """Unpublishing or deleting the app: its schedule is deleted (none is fine)."""
    del settings
    try:
        await client.get_schedule_handle(schedule_id(app.id)).delete()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise


def handle(client: Client, app: App) -> ScheduleHandle:
    """The app's schedule (it may not exist)."""
    return client.get_schedule_handle(schedule_id(app.id))
