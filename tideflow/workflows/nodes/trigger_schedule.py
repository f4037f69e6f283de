"""Schedule trigger: a root node that starts the published app on a timetable.

Publishing the app creates a Temporal Schedule from this node (``tideflow.platform.schedules``);
each firing runs the graph from here with ``sys.timestamp`` set to the scheduled time. The node
has no outputs. Its config is Dify's: ``mode`` ``visual`` (``frequency`` hourly|daily|weekly|
monthly with ``visual_config``) or ``cron`` (``cron_expression``), and an IANA ``timezone``.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.nodes._common import as_dict, as_list
from tideflow.workflows.nodes._cron import WEEKDAYS, CronError, parse_cron, parse_time
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

MODES = ("visual", "cron")
FREQUENCIES = ("hourly", "daily", "weekly", "monthly")
# Dify's defaults for a new node.
DEFAULT_VISUAL = {"time": "12:00 AM", "weekdays": ["sun"], "on_minute": 0, "monthly_days": [1]}


def _on_minute(config: dict[str, Any]) -> str:
    minute = config.get("on_minute", 0)
    if isinstance(minute, bool) or not isinstance(minute, int) or not 0 <= minute <= 59:
        raise CronError("on_minute must be a whole minute 0-59")
    return str(minute)


def _weekdays(config: dict[str, Any]) -> str:
    days = as_list(config.get("weekdays", DEFAULT_VISUAL["weekdays"]))
    if not days:
        raise CronError("weekdays: choose at least one day")
    bad = [d for d in days if not isinstance(d, str) or d.lower()[:3] not in WEEKDAYS]
    if bad:
        raise CronError(f"weekdays: {bad[0]!r} is not one of {', '.join(WEEKDAYS)}")
    return ",".join(str(n) for n in sorted({WEEKDAYS.index(d.lower()[:3]) for d in days}))


def _monthly_days(config: dict[str, Any]) -> str:
    days = as_list(config.get("monthly_days", DEFAULT_VISUAL["monthly_days"]))
    if not days:
        raise CronError("monthly_days: choose at least one day")
    numbers: set[int] = set()
    last = False
    for day in days:
        if day == "last":
            last = True
        elif isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 31:
            numbers.add(day)
        else:
            raise CronError(f"monthly_days: {day!r} is not a day 1-31 or 'last'")
    return ",".join([*(str(n) for n in sorted(numbers)), *(["L"] if last else [])])


def visual_cron(frequency: Any, visual_config: Any) -> str:
    """The cron expression of Dify's visual form (``CronError`` naming the bad setting)."""
    config = as_dict(visual_config)
    if frequency not in FREQUENCIES:
        raise CronError(f"frequency must be one of {', '.join(FREQUENCIES)}")
    if frequency == "hourly":
        return f"{_on_minute(config)} * * * *"
    try:
        hour, minute = parse_time(config.get("time", DEFAULT_VISUAL["time"]))
    except CronError as err:
        raise CronError(f"time: {err}") from None
    if frequency == "daily":
        return f"{minute} {hour} * * *"
    if frequency == "weekly":
        return f"{minute} {hour} * * {_weekdays(config)}"
    return f"{minute} {hour} {_monthly_days(config)} * *"


def cron_expression(data: dict[str, Any]) -> str:
    """The node's timetable as a cron expression (``CronError`` when it cannot be read)."""
    mode = data.get("mode") or "visual"
    if mode == "cron":
        expression = data.get("cron_expression")
        if not isinstance(expression, str) or not expression.strip():
            raise CronError("cron_expression is required in cron mode")
        return expression.strip()
    return visual_cron(data.get("frequency") or "daily", data.get("visual_config"))


def timezone_name(data: dict[str, Any]) -> str:
    """The node's IANA time zone (default UTC)."""
    return str(data.get("timezone") or "UTC")


def _timezone_problems(data: dict[str, Any]) -> ConfigProblems:
    name = timezone_name(data)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return [("timezone", f"{name!r} is not an IANA time zone such as Europe/Paris")]
    return []


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Mode, the visual settings or the cron expression, and the time zone."""
    mode = data.get("mode") or "visual"
    if mode not in MODES:
        return [("mode", "must be visual or cron"), *_timezone_problems(data)]
    try:
        parse_cron(cron_expression(data))
        problems: ConfigProblems = []
    except CronError as err:
        message = str(err)
        field = "cron_expression" if mode == "cron" else _visual_field(message)
        problems = [(field, message)]
    return problems + _timezone_problems(data)


def _visual_field(message: str) -> str:
    head = message.split(":", 1)[0].split()[0]
    return "frequency" if head == "frequency" else f"visual_config.{head}"


async def run(_ctx: NodeContext) -> NodeResult:
    """Nothing to do: the schedule started the run (``sys.timestamp`` is its time)."""
    return NodeResult(inputs={}, outputs={})


def _outputs(_data: dict[str, Any]) -> set[str] | None:
    return set()


SPECS = [NodeSpec(type="trigger-schedule", validate=validate, outputs=_outputs)]
RUNNERS = {"trigger-schedule": run}
