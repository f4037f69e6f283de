"""Dify's built-in ``time`` provider: the current time, weekdays, time zone conversions."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tideflow.plugins.tools.base import (
    FunctionTool,
    ToolContext,
    ToolError,
    ToolParameter,
    ToolResult,
)

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ToolError(f"Invalid timezone: {name!r}") from None


def _local(text: str, zone: ZoneInfo) -> datetime:
    try:
        return datetime.strptime(text.strip(), TIME_FORMAT).replace(tzinfo=zone)
    except ValueError:
        raise ToolError(
            f"Invalid datetime {text!r}: expected the form 2025-01-31 13:45:00"
        ) from None


async def _current_time(params: dict[str, Any], _context: ToolContext) -> ToolResult:
    zone = _zone(params["timezone"])
    try:
        return ToolResult(text=datetime.now(zone).strftime(params["format"]))
    except ValueError as exc:  # a format strftime rejects
        raise ToolError(f"Invalid format {params['format']!r}: {exc}") from None


async def _weekday(params: dict[str, Any], _context: ToolContext) -> ToolResult:
    year, month, day = params["year"], params["month"], params["day"]
    try:
        date = datetime(int(year), int(month), int(day))
    except (ValueError, OverflowError):
        raise ToolError(f"Invalid date: Year {year}, Month {month}, Day {day}.") from None
    readable = f"{calendar.month_name[date.month]} {date.day}, {date.year}"
    return ToolResult(text=f"{readable} is {calendar.day_name[date.weekday()]}.")


async def _timezone_conversion(params: dict[str, Any], _context: ToolContext) -> ToolResult:
    source = _local(params["current_time"], _zone(params["current_timezone"]))
    target = source.astimezone(_zone(params["target_timezone"]))
    return ToolResult(text=target.strftime(TIME_FORMAT))


async def _localtime_to_timestamp(params: dict[str, Any], _context: ToolContext) -> ToolResult:
    local = _local(params["localtime"], _zone(params["timezone"]))
    return ToolResult(text=str(int(local.timestamp())))


async def _timestamp_to_localtime(params: dict[str, Any], _context: ToolContext) -> ToolResult:
    try:
        moment = datetime.fromtimestamp(float(params["timestamp"]), UTC)
    except (ValueError, OverflowError, OSError):
        raise ToolError(f"Invalid timestamp: {params['timestamp']}") from None
    return ToolResult(text=moment.astimezone(_zone(params["timezone"])).strftime(TIME_FORMAT))


def _zone_param(name: str, default: str, description: str = "IANA time zone") -> ToolParameter:
    # Dify offers a short list in its editor but accepts any IANA name: so do we.
    return ToolParameter(name, "select", form="form", description=description, default=default)


CURRENT_TIME = FunctionTool(
    "current_time",
    "Current Time",
    "A tool for getting the current time.",
    [
        ToolParameter(
            "format", "string", form="form", description="strftime format", default=TIME_FORMAT
        ),
        _zone_param("timezone", "UTC"),
    ],
    _current_time,
)
WEEKDAY = FunctionTool(
    "weekday",
    "Weekday Calculator",
    "A tool for calculating the weekday of a given date.",
    [
        ToolParameter("year", "number", required=True),
        ToolParameter("month", "number", required=True),
        ToolParameter("day", "number", required=True),
    ],
    _weekday,
)
TIMEZONE_CONVERSION = FunctionTool(
    "timezone_conversion",
    "Timezone Conversion",
    "Convert a time (YYYY-MM-DD HH:MM:SS) from one time zone to another.",
    [
        ToolParameter("current_time", "string", required=True),
        ToolParameter("current_timezone", "string", required=True, default="Asia/Shanghai"),
        ToolParameter("target_timezone", "string", required=True, default="Asia/Tokyo"),
    ],
    _timezone_conversion,
)
LOCALTIME_TO_TIMESTAMP = FunctionTool(
    "localtime_to_timestamp",
    "Localtime to Timestamp",
    "Convert a local time (YYYY-MM-DD HH:MM:SS) to a Unix timestamp.",
    [
        ToolParameter("localtime", "string", required=True),
        ToolParameter("timezone", "string", default="Asia/Shanghai"),
    ],
    _localtime_to_timestamp,
)
TIMESTAMP_TO_LOCALTIME = FunctionTool(
    "timestamp_to_localtime",
    "Timestamp to Localtime",
    "Convert a Unix timestamp to a local time (YYYY-MM-DD HH:MM:SS).",
    [
        ToolParameter("timestamp", "number", required=True),
        ToolParameter("timezone", "string", default="Asia/Shanghai"),
    ],
    _timestamp_to_localtime,
)

TIME_TOOLS = (
    CURRENT_TIME,
    WEEKDAY,
    TIMEZONE_CONVERSION,
    LOCALTIME_TO_TIMESTAMP,
    TIMESTAMP_TO_LOCALTIME,
)
