"""Tideflow's built-in tool providers, under Dify's provider ids.

They register through entry points of group ``tideflow.tools`` exactly like third-party
plugins (see pyproject.toml); ``BUILTIN_PROVIDERS`` is also what ``tool_providers`` falls back
to when those entry points are not installed yet.

``aliases`` cover the other ids DSL exports use: Dify's in-API built-ins appear as a bare name
(``time``), marketplace plugins as ``org/plugin/provider``.
"""

from __future__ import annotations

from collections.abc import Iterable

from tideflow.plugins.tools.base import Tool, ToolProvider
from tideflow.plugins.tools.charts import CHART_TOOLS
from tideflow.plugins.tools.json_process import JSON_TOOLS
from tideflow.plugins.tools.maths import EVAL_EXPRESSION
from tideflow.plugins.tools.time_tools import TIME_TOOLS
from tideflow.plugins.tools.webscraper import WEBSCRAPER


def _by_name(tools: Iterable[Tool]) -> dict[str, Tool]:
    return {tool.name: tool for tool in tools}


TIME = ToolProvider(
    id="time",
    name="time",
    label="Time",
    tools=_by_name(TIME_TOOLS),
    aliases=("langgenius/time/time",),
)
WEBSCRAPER_PROVIDER = ToolProvider(
    id="webscraper",
    name="webscraper",
    label="Web Scraper",
    tools=_by_name([WEBSCRAPER]),
    aliases=("langgenius/webscraper/webscraper",),
)
JSON_PROCESS = ToolProvider(
    id="langgenius/json_process/json_process",
    name="json_process",
    label="JSON Process",
    tools=JSON_TOOLS,
    aliases=("json_process",),
)
MATHS = ToolProvider(
    id="langgenius/maths/maths",
    name="maths",
    label="Maths",
    tools=_by_name([EVAL_EXPRESSION]),
    aliases=("maths",),
)
ECHARTS = ToolProvider(
    id="langgenius/echarts/echarts",
    name="echarts",
    label="ECharts",
    tools=_by_name(CHART_TOOLS),
    aliases=("echarts",),
)

BUILTIN_PROVIDERS = (TIME, WEBSCRAPER_PROVIDER, JSON_PROCESS, MATHS, ECHARTS)
