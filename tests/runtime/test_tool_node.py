"""The tool node in real runs: GraphWorkflow on the Temporal dev server with the real
``tool_invoke`` activity and built-in tools; validation of a node whose plugin is missing."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.runtime.graphs import chain, end, node
from tideflow.activities.tools import tool_invoke
from tideflow.platform.settings import get_settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult
from tideflow.workflows.graph import compile_plan, load_app, validate_app
from tideflow.workflows.interpreter import GraphWorkflow

START = node(
    "start",
    "start",
    variables=[
        {"variable": "doc", "type": "paragraph", "label": "doc"},
        {"variable": "index", "type": "number", "label": "index"},
        {"variable": "day", "type": "number", "label": "day"},
    ],
)
DOC = {"items": [{"name": "tea", "price": 4}, {"name": "cake", "price": 21}]}


def tool(node_id: str, provider: str, tool_name: str, **data: Any) -> dict[str, Any]:
    """A tool node as Dify's editor exports it."""
    return node(
        node_id,
        "tool",
        provider_id=provider,
        provider_name=provider,
        provider_type=data.pop("provider_type", "builtin"),
        tool_name=tool_name,
        tool_label=tool_name,
        tool_configurations=data.pop("tool_configurations", {}),
        tool_parameters=data.pop("tool_parameters", {}),
        **data,
    )


def graph(nodes: list[dict[str, Any]], *ids: str) -> dict[str, Any]:
    """A bare Dify graph of ``nodes`` chained in ``ids`` order."""
    edges = [{"id": f"e{i}", **e} for i, e in enumerate(chain(*ids))]
    return {"nodes": nodes, "edges": edges}


@asynccontextmanager
async def tool_worker(client: Client, task_queue: str) -> AsyncIterator[None]:
    """GraphWorkflow and the real tool activity in this process."""
    worker = TideflowTemporal(get_settings()).worker(
        client, workflows=[GraphWorkflow], activities=[tool_invoke], task_queue=task_queue
    )
    async with worker:
        yield


async def run(
    client: Client, task_queue: str, dsl: dict[str, Any], **inputs: Any
) -> GraphRunResult:
    """Validate, compile and run ``dsl`` on Temporal."""
    app = load_app(dsl)
    assert validate_app(app) == []
    run_input = GraphRunInput(plan=compile_plan(app), inputs=inputs, tenant_id="t1")
    return await client.execute_workflow(
        GraphWorkflow.run, run_input, id=f"tool-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )


PARSE = tool(
    "parse",
    "langgenius/json_process/json_process",
    "parse",
    provider_type="plugin",
    plugin_unique_identifier="langgenius/json_process:0.0.2@0f1e",
    tool_parameters={
        "content": {"type": "variable", "value": ["start", "doc"]},
        "json_filter": {"type": "mixed", "value": "$.items[{{#start.index#}}]"},
    },
    # tool_node_version 2 shape: form values as {type, value} entries.
    tool_configurations={"ensure_ascii": {"type": "constant", "value": False}},
)
PRICE = tool(
    "price",
    "json_process",
    "json_parse",
    tool_parameters={
        "content": {"type": "mixed", "value": "{{#parse.text#}}"},
        "json_filter": {"type": "constant", "value": "price"},
    },
)
DOUBLE = tool(
    "double",
    "maths",
    "eval_expression",
    tool_parameters={"expression": {"type": "mixed", "value": "{{#price.text#}} * 2"}},
)
WEEKDAY = tool(
    "weekday",
    "time",
    "weekday",
    tool_parameters={
        "year": {"type": "constant", "value": 2024},
        "month": {"type": "constant", "value": "2"},
        "day": {"type": "variable", "value": ["start", "day"]},
    },
)


async def test_tool_nodes_resolve_mixed_variable_and_constant_parameters(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    outputs = end(
        ("item", ["parse", "text"]),
        ("json", ["parse", "json"]),
        ("doubled", ["double", "text"]),
        ("weekday", ["weekday", "text"]),
    )
    dsl = graph(
        [START, PARSE, PRICE, DOUBLE, WEEKDAY, outputs],
        "start",
        "parse",
        "price",
        "double",
        "weekday",
        "end",
    )
    async with tool_worker(temporal_env.client, task_queue):
        result = await run(
            temporal_env.client, task_queue, dsl, doc=json.dumps(DOC), index=1, day=29
        )
    assert result.status == "succeeded", result.error
    assert json.loads(result.outputs["item"]) == {"name": "cake", "price": 21}
    assert result.outputs["json"] == [{"data": []}]  # Dify's default when a tool gives no JSON
    assert result.outputs["doubled"] == 'The result of the expression "21 * 2" is 42'
    assert result.outputs["weekday"] == "February 29, 2024 is Thursday."
    runs = {r.node_id: r for r in result.node_runs}
    assert runs["parse"].inputs == {"content": json.dumps(DOC), "json_filter": "$.items[1]"}
    assert runs["parse"].execution_metadata["tool_info"] == {
        "provider_type": "plugin",
        "provider_id": "langgenius/json_process/json_process",
        "plugin_unique_identifier": "langgenius/json_process:0.0.2@0f1e",
    }
    assert runs["weekday"].inputs == {"year": 2024, "month": "2", "day": 29}
    assert runs["double"].outputs["files"] == [] and runs["double"].attempts == 1


async def test_tool_failures_follow_retry_and_error_strategy(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    failing = tool(
        "calc",
        "maths",
        "eval_expression",
        tool_parameters={"expression": {"type": "mixed", "value": "{{#start.day#}} / 0"}},
        retry_config={"retry_enabled": True, "max_retries": 1, "retry_interval": 100},
        error_strategy="default-value",
        default_value=[{"key": "text", "type": "string", "value": "n/a"}],
    )
    missing_day = tool(
        "weekday", "time", "weekday", tool_parameters=WEEKDAY["data"]["tool_parameters"]
    )
    start = node(
        "start",
        "start",
        variables=[{"variable": "day", "type": "number", "label": "day", "required": False}],
    )
    outputs = end(("text", ["calc", "text"]), ("error", ["calc", "error_type"]))
    async with tool_worker(temporal_env.client, task_queue):
        handled = await run(
            temporal_env.client,
            task_queue,
            graph([start, failing, outputs], "start", "calc", "end"),
            day=3,
        )
        failed = await run(
            temporal_env.client,
            task_queue,
            graph([start, missing_day, end(("w", ["weekday", "text"]))], "start", "weekday", "end"),
        )
    assert handled.status == "partial-succeeded", handled.error
    assert handled.outputs == {"text": "n/a", "error": "ToolInvokeError"}
    calc = next(r for r in handled.node_runs if r.node_id == "calc")
    assert calc.status == "exception" and calc.attempts == 2  # one retry, then the default
    assert calc.error is not None and "division by zero" in calc.error
    assert failed.status == "failed"
    assert failed.error is not None
    assert "parameter 'day' of tool weekday: variable start.day does not exist" in failed.error
    weekday = next(r for r in failed.node_runs if r.node_id == "weekday")
    assert weekday.error_type == "ToolParameterError" and weekday.attempts == 1


def test_validation_names_a_missing_plugin_unless_the_node_is_pinned_or_mocked() -> None:
    feishu = tool(
        "sheet",
        "langgenius/feishu_spreadsheet/feishu_spreadsheet",
        "add_rows",
        plugin_unique_identifier="langgenius/feishu_spreadsheet:0.0.3@a1b2",
    )
    remote = tool("remote", "srv-1", "lookup", provider_type="app")
    # A workspace's own (mcp, api, workflow) providers are checked against its tables when
    # the app is published (tests/api/test_tool_providers.py), not here.
    mcp = tool("mcp", "srv-1", "lookup", provider_type="mcp")
    no_such_tool = tool("clock", "time", "sundial")
    app = load_app(
        graph(
            [START, feishu, remote, mcp, no_such_tool, end()],
            *("start", "sheet", "remote", "mcp", "clock", "end"),
        )
    )
    problems = {p.node_id: str(p) for p in validate_app(app)}
    assert problems == {
        "sheet": "node sheet (sheet): provider_id: tool provider "
        "langgenius/feishu_spreadsheet/feishu_spreadsheet (plugin langgenius/feishu_spreadsheet) "
        "is not installed: install a tool plugin that provides it, or pin or mock this node",
        "remote": "node remote (remote): provider_type: app tools are not supported yet "
        "(provider srv-1, tool lookup); pin or mock this node",
        "clock": "node clock (clock): tool_name: tool provider time has no tool sundial "
        "(current_time, localtime_to_timestamp, timestamp_to_localtime, timezone_conversion, "
        "weekday)",
    }
    assert validate_app(app, pinned={"sheet", "remote", "clock"}) == []
    assert validate_app(app, mock_external=True) == []
    broken = load_app(
        graph(
            [
                START,
                tool("t", "", "x", tool_parameters={"a": {"type": "variable", "value": "s.a"}}),
            ],
            "start",
            "t",
        )
    )
    assert {(p.field, p.message) for p in validate_app(broken, mock_external=True)} == {
        ("provider_id", "provider_id is required"),
        ("tool_parameters.a.value", "a variable value must be a selector"),
    }
