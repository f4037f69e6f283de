"""Cron expressions as Temporal calendar specs: what Temporal's own cron strings lack (``L``,
the Vixie day rule) checked against the fire times the real dev server computes."""

from __future__ import annotations

import calendar
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleRange,
    ScheduleState,
)

from tideflow.platform.schedules import cron_spec, ranges


async def _next_times(client: Client, expression: str, timezone: str = "UTC") -> list[datetime]:
    """The next fire times Temporal computes for ``expression`` (a paused schedule)."""
    schedule_id = f"test-spec-{uuid.uuid4().hex[:8]}"
    handle = await client.create_schedule(
        schedule_id,
        Schedule(
            action=ScheduleActionStartWorkflow("NotRun", id=schedule_id, task_queue="nobody"),
            spec=cron_spec(expression, timezone),
            state=ScheduleState(paused=True),
        ),
    )
    try:
        times = list((await handle.describe()).info.next_action_times)
    finally:
        await handle.delete()
    assert times, expression
    return [t.astimezone(ZoneInfo(timezone)) for t in times]


def test_values_become_runs_of_ranges() -> None:
    assert ranges([5, 1, 2, 3, 9, 10]) == [
        ScheduleRange(1, 3),
        ScheduleRange(5, 5),
        ScheduleRange(9, 10),
    ]


async def test_last_day_of_month(temporal_client: Client) -> None:
    times = await _next_times(temporal_client, "0 12 L * *")
    assert len(times) >= 5
    for moment in times:
        last = calendar.monthrange(moment.year, moment.month)[1]
        assert (moment.day, moment.hour, moment.minute) == (last, 12, 0), moment
    months = [(t.year, t.month) for t in times]
    assert len(set(months)) == len(months)  # once a month


async def test_last_day_of_february_follows_leap_years(temporal_client: Client) -> None:
    times = await _next_times(temporal_client, "0 0 L FEB *")
    assert [(t.year, t.day) for t in times[:3]] == [
        (y, 29 if calendar.isleap(y) else 28) for y in range(times[0].year, times[0].year + 3)
    ]


async def test_day_of_month_or_weekday_vixie_rule(temporal_client: Client) -> None:
    times = await _next_times(temporal_client, "0 6 13 * FRI")
    assert all(t.day == 13 or t.isoweekday() == 5 for t in times)
    assert any(t.day == 13 and t.isoweekday() != 5 for t in times) or any(
        t.isoweekday() == 5 and t.day != 13 for t in times
    )
    fridays = [t for t in times if t.isoweekday() == 5]
    assert len(fridays) >= len(times) - 2  # mostly Fridays: OR, not "Friday the 13th" only


async def test_time_zone_and_names(temporal_client: Client) -> None:
    times = await _next_times(temporal_client, "30 8 * JAN-DEC mon-fri", "America/New_York")
    assert all((t.hour, t.minute) == (8, 30) and t.isoweekday() <= 5 for t in times)
