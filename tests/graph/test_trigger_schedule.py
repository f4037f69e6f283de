"""Schedule trigger config: Dify's visual form to cron, cron parsing, and validation problems."""

from __future__ import annotations

from typing import Any

import pytest

from tideflow.workflows.nodes import NODE_RUNNERS, NODE_SPECS
from tideflow.workflows.nodes._cron import CronError, parse_cron, parse_time
from tideflow.workflows.nodes.trigger_schedule import cron_expression, validate, visual_cron


@pytest.mark.parametrize(
    ("frequency", "config", "cron"),
    [
        ("hourly", {"on_minute": 0}, "0 * * * *"),
        ("hourly", {"on_minute": 45}, "45 * * * *"),
        ("daily", {"time": "12:00 AM"}, "0 0 * * *"),
        ("daily", {"time": "12:30 PM"}, "30 12 * * *"),
        ("daily", {"time": "2:30 PM"}, "30 14 * * *"),
        ("daily", {"time": "11:59 pm"}, "59 23 * * *"),
        ("daily", {"time": "07:05"}, "5 7 * * *"),
        ("weekly", {"time": "9:00 AM", "weekdays": ["mon", "wed", "fri"]}, "0 9 * * 1,3,5"),
        ("weekly", {"time": "9:00 AM", "weekdays": ["sat", "sun"]}, "0 9 * * 0,6"),
        ("monthly", {"time": "8:15 AM", "monthly_days": [1, 15]}, "15 8 1,15 * *"),
        ("monthly", {"time": "6:00 PM", "monthly_days": ["last", 10]}, "0 18 10,L * *"),
        ("monthly", {"time": "6:00 PM", "monthly_days": ["last"]}, "0 18 L * *"),
    ],
)
def test_visual_config_to_cron(frequency: str, config: dict[str, Any], cron: str) -> None:
    assert visual_cron(frequency, config) == cron
    parse_cron(cron)  # what the visual form gives is always schedulable


def test_node_defaults_are_difys() -> None:
    assert cron_expression({"mode": "visual", "frequency": "daily"}) == "0 0 * * *"
    assert cron_expression({"frequency": "weekly", "visual_config": {}}) == "0 0 * * 0"
    assert cron_expression({"mode": "cron", "cron_expression": " @hourly "}) == "@hourly"
    assert parse_time("12:00 PM") == (12, 0) and parse_time("1:05 am") == (1, 5)


def test_cron_fields_names_macros_and_sunday() -> None:
    [weekdays] = parse_cron("*/15 9-17 * JAN-MAR mon-fri")
    assert weekdays.minute == (0, 15, 30, 45) and weekdays.hour == tuple(range(9, 18))
    assert weekdays.month == (1, 2, 3) and weekdays.day_of_week == (1, 2, 3, 4, 5)
    assert parse_cron("0 0 * * 7") == parse_cron("0 0 * * 0") == parse_cron("@weekly")
    assert parse_cron("0 0 * * 5-7")[0].day_of_week == (0, 5, 6)
    assert parse_cron("@yearly")[0].month == (1,) and parse_cron("@yearly")[0].day_of_month == (1,)
    assert parse_cron("5/20 * * * *")[0].minute == (5, 25, 45)
    [last] = parse_cron("0 0 1,L * ?")
    assert last.day_of_month == (1,) and last.last_day and last.day_of_week == tuple(range(7))


def test_cron_vixie_rule_gives_two_alternatives() -> None:
    by_day, by_weekday = parse_cron("0 12 13 * FRI")
    assert by_day.day_of_month == (13,) and by_day.day_of_week == tuple(range(7))
    assert by_weekday.day_of_month == tuple(range(1, 32)) and by_weekday.day_of_week == (5,)
    [anded] = parse_cron("0 12 */2 * 5")  # a field starting with * keeps plain AND (Vixie)
    assert anded.day_of_week == (5,) and anded.day_of_month == tuple(range(1, 32, 2))


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 0 * *", "must have 5 fields"),
        ("60 * * * *", "minute: '60' is outside 0-59"),
        ("0 24 * * *", "hour: '24' is outside 0-23"),
        ("0 0 0 * *", "day_of_month: '0' is outside 1-31"),
        ("0 0 * 13 *", "month: '13' is outside 1-12"),
        ("0 0 * * 8", "day_of_week: '8' is outside 0-7"),
        ("0 0 * * FRI-MON", "day_of_week: range 'FRI-MON' runs backwards"),
        ("0 0 * * 5L", "day_of_week: '5L' is not supported"),
        ("0 0 15W * *", "day_of_month: '15W' is not supported"),
        ("0 0 * * 5#3", "day_of_week: '5#3' is not supported"),
        ("*/0 * * * *", "minute: step '0' must be a positive number"),
        ("x * * * *", "minute: 'x' is not a number"),
        ("0 ? * * *", "hour: '?' is only allowed"),
        ("0 0 1,,2 * *", "day_of_month: empty value"),
        ("@every 5m", "must have 5 fields"),
    ],
)
def test_cron_problems_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(CronError, match=message.replace("?", r"\?")):
        parse_cron(expression)


def _visual(frequency: str, **config: Any) -> dict[str, Any]:
    return {"mode": "visual", "frequency": frequency, "visual_config": config}


@pytest.mark.parametrize(
    ("data", "problems"),
    [
        ({"mode": "sometimes"}, [("mode", "must be visual or cron")]),
        ({"frequency": "yearly"}, [("frequency", "frequency must be one of")]),
        (_visual("hourly", on_minute=60), [("visual_config.on_minute", "0-59")]),
        (_visual("daily", time="13:00 PM"), [("visual_config.time", "not a time")]),
        (_visual("daily", time="noon"), [("visual_config.time", "2:30 PM")]),
        (_visual("weekly", weekdays=[]), [("visual_config.weekdays", "at least")]),
        (_visual("weekly", weekdays=["funday"]), [("visual_config.weekdays", "funday")]),
        (_visual("monthly", monthly_days=[32]), [("visual_config.monthly_days", "32")]),
        ({"mode": "cron"}, [("cron_expression", "required")]),
        ({"mode": "cron", "cron_expression": "0 0 L * 5L"}, [("cron_expression", "5L")]),
        ({"timezone": "Mars/Olympus"}, [("timezone", "IANA")]),
        ({"mode": "cron", "cron_expression": "0 9 * * 1-5", "timezone": "Asia/Tokyo"}, []),
    ],
)
def test_validation_names_bad_fields(data: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    found = validate(data)
    assert [field for field, _ in found] == [field for field, _ in problems]
    for (_, message), (_, expected) in zip(found, problems, strict=True):
        assert expected in message


def test_trigger_schedule_is_a_real_node_without_outputs() -> None:
    spec = NODE_SPECS["trigger-schedule"]
    assert spec.implemented and not spec.external and spec.outputs({}) == set()
    assert "trigger-schedule" in NODE_RUNNERS
