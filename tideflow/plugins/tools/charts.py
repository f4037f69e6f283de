"""The ``langgenius/echarts`` plugin's tools: line, bar and pie charts as ECharts options.

Each answers with a fenced ```` ```echarts ```` block holding the chart's ECharts option JSON,
which Dify's chat UI renders as a chart. Values and labels are ``;``-separated strings.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from tideflow.plugins.tools.base import (
    FunctionTool,
    ToolContext,
    ToolError,
    ToolParameter,
    ToolResult,
)


def _numbers(text: str) -> list[int | float]:
    parts = [part.strip() for part in text.split(";")]
    try:
        if all(part.isdigit() for part in parts):
            return [int(part) for part in parts]
        return [float(part) for part in parts]
    except ValueError:
        raise ToolError(
            f"parameter 'data' must be numbers separated by ';' (got {text[:80]!r})"
        ) from None


def _fenced(option: dict[str, Any]) -> ToolResult:
    return ToolResult(text=f"```echarts\n{json.dumps(option, indent=2, ensure_ascii=False)}\n```")


def _axis_chart(
    series_type: str,
) -> Callable[[dict[str, Any], ToolContext], Awaitable[ToolResult]]:
    async def chart(params: dict[str, Any], _context: ToolContext) -> ToolResult:
        return _fenced(
            {
                "title": {"left": "center", "text": params["title"]},
                "tooltip": {"trigger": "axis", "axisPointer": {"type": "cross"}},
                "xAxis": {"type": "category", "data": params["x_axis"].split(";")},
                "yAxis": {"type": "value"},
                "series": [{"data": _numbers(params["data"]), "type": series_type, "smooth": True}],
            }
        )

    return chart


async def _pie(params: dict[str, Any], _context: ToolContext) -> ToolResult:
    values = _numbers(params["data"])
    names = params["categories"].split(";")
    return _fenced(
        {
            "title": {"left": "center", "text": params["title"]},
            "tooltip": {"trigger": "item"},
            "legend": {"orient": "vertical", "left": "left"},
            "series": [
                {
                    "type": "pie",
                    "data": [
                        {"value": value, "name": name}
                        for value, name in zip(values, names, strict=False)
                    ],
                }
            ],
        }
    )


_TITLE = ToolParameter("title", "string", required=True, description="chart title")
_DATA = ToolParameter("data", "string", required=True, description='numbers like "1;2;3"')
_X_AXIS = ToolParameter("x_axis", "string", required=True, description='labels like "a;b;c"')

LINE_CHART = FunctionTool(
    "line_chart",
    "Linear Chart",
    "Generate a line chart",
    [_TITLE, _DATA, _X_AXIS],
    _axis_chart("line"),
)
BAR_CHART = FunctionTool(
    "bar_chart", "Bar Chart", "Generate a bar chart", [_TITLE, _DATA, _X_AXIS], _axis_chart("bar")
)
PIE_CHART = FunctionTool(
    "pie_chart",
    "Pie Chart",
    "Generate a pie chart",
    [
        _TITLE,
        _DATA,
        ToolParameter("categories", "string", required=True, description='names like "a;b"'),
    ],
    _pie,
)
CHART_TOOLS = (LINE_CHART, BAR_CHART, PIE_CHART)
