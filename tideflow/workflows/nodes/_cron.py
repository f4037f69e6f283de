"""Dify's schedule expressions read into calendars: 5-field cron (and macros) and the visual form.

Temporal parses cron strings itself, but without ``L`` (last day of the month) and without the
Vixie rule (a day-of-month and a day-of-week that are both set match on *either*); so the
expression is read here into plain value sets (``CronCalendar``) that the platform turns into
Temporal calendar specs, one calendar per alternative.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_FIELDS = ("minute", "hour", "day_of_month", "month", "day_of_week")
_BOUNDS = {"minute": (0, 59), "hour": (0, 23), "day_of_month": (1, 31), "month": (1, 12)}
# ``5L`` (last Friday), ``L-2``, ``LW``/``15W`` (nearest weekday), ``5#3`` (third Friday).
_UNSUPPORTED = re.compile(r"\d*[Ll](-\d+)?|[Ll]?\d*[Ww]|\d+#\d+")
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*([AaPp][Mm])?\s*$")


class CronError(ValueError):
    """An expression that cannot be scheduled; the message names the part that is wrong."""


@dataclasses.dataclass(frozen=True)
class CronCalendar:
    """The times one alternative matches: every field must match."""

    minute: tuple[int, ...]
    hour: tuple[int, ...]
    # Days of the month; ``last_day`` adds the month's last day (``L``).
    day_of_month: tuple[int, ...]
    month: tuple[int, ...]
    # 0 is Sunday.
    day_of_week: tuple[int, ...]
    last_day: bool = False


def _number(text: str, field: str, names: tuple[str, ...], offset: int) -> int:
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + offset
    if not text.isdigit():
        raise CronError(f"{field}: {text!r} is not a number")
    return int(text)


def _part(part: str, field: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    """The values of one comma-separated part: ``*``, ``a``, ``a-b``, each with ``/step``."""
    offset = 1 if field == "month" else 0
    base, _, step_text = part.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) < 1:
            raise CronError(f"{field}: step {step_text!r} must be a positive number")
        step = int(step_text)
    if base in ("*", "?"):
        start, end = low, high
    elif "-" in base:
        first, _, last = base.partition("-")
        start, end = (_number(first, field, names, offset), _number(last, field, names, offset))
    else:
        start = _number(base, field, names, offset)
        end = high if step_text else start
    if start > end:
        raise CronError(f"{field}: range {base!r} runs backwards")
    if start < low or end > high:
        raise CronError(f"{field}: {base!r} is outside {low}-{high}")
    return set(range(start, end + 1, step))


def _field(text: str, field: str) -> tuple[tuple[int, ...], bool]:
    """(values, last day asked for) of one field."""
    if field == "day_of_week":
        low, high, names = 0, 7, WEEKDAYS
    else:
        (low, high), names = _BOUNDS[field], (MONTHS if field == "month" else ())
    values: set[int] = set()
    last = False
    for part in text.split(","):
        if field == "day_of_month" and part.upper() == "L":
            last = True
        elif part == "?" and field not in ("day_of_month", "day_of_week"):
            raise CronError(f"{field}: '?' is only allowed for the day of month or week")
        elif _UNSUPPORTED.fullmatch(part):
            raise CronError(
                f"{field}: {part!r} is not supported (only a lone 'L' in the day of month)"
            )
        elif not part:
            raise CronError(f"{field}: empty value in {text!r}")
        else:
            values |= _part(part, field, low, high, names)
    if field == "day_of_week" and 7 in values:  # 0 and 7 are both Sunday
        values = (values - {7}) | {0}
    return tuple(sorted(values)), last


def parse_cron(expression: str) -> list[CronCalendar]:
    """The calendars of a 5-field cron expression or macro (``CronError`` when wrong)."""
    text = MACROS.get(expression.strip().lower(), expression)
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise CronError(
            f"{expression!r} must have 5 fields (minute hour day-of-month month day-of-week) "
            f"or be one of {', '.join(MACROS)}"
        )
    fields = {name: _field(part, name) for name, part in zip(_FIELDS, parts, strict=True)}
    days, last = fields["day_of_month"]
    weekdays = fields["day_of_week"][0]
    base = CronCalendar(
        minute=fields["minute"][0],
        hour=fields["hour"][0],
        day_of_month=days,
        month=fields["month"][0],
        day_of_week=weekdays,
        last_day=last,
    )
    if parts[2][0] in "*?" or parts[4][0] in "*?":
        return [base]  # one of them unrestricted: both must match (plain AND)
    # Both set: a match on either fires (the Vixie rule): two alternatives.
    return [
        dataclasses.replace(base, day_of_week=tuple(range(7))),
        dataclasses.replace(base, day_of_month=tuple(range(1, 32)), last_day=False),
    ]


def parse_time(value: Any) -> tuple[int, int]:
    """(hour 0-23, minute) of ``"2:30 PM"`` (Dify's 12-hour clock) or ``"14:30"``."""
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise CronError("use a time like 2:30 PM")
    hour, minute, half = int(match[1]), int(match[2]), (match[3] or "").upper()
    if minute > 59 or (half and not 1 <= hour <= 12) or hour > 23:
        raise CronError(f"{value!r} is not a time of day")
    if half:
        hour = hour % 12 + (12 if half == "PM" else 0)
    return hour, minute
