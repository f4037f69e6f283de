"""Tool: a plugin tool's call, by activity ``tool_invoke`` (``tideflow.activities.tools``).

Each ``tool_parameters`` entry is ``{type, value}``: ``mixed`` is a template rendered here,
``variable`` a selector read here, ``constant`` a literal (strings rendered too, as graphon
does). ``tool_configurations`` (form parameters) are literals or, from newer Dify, the same
``{type, value}`` entries. The activity finds the tool, checks the parameters and invokes it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from typing import Any

from tideflow.workflows.engine.context import JSON_OBJECT, NodeContext, NodeResult
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.engine.executor import ActivityCallError, ActivityRetry, ChildRunError
from tideflow.workflows.nodes._common import as_dict, as_list, is_selector, require
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

ACTIVITY = "tool_invoke"
OPEN_WORKFLOW_TOOL_RUN = "open_workflow_tool_run"
FINISH_CHILD_RUN = "finish_scheduled_run"  # records how any child run ended
PROVIDER_TYPES = frozenset(
    {"plugin", "builtin", "workflow", "api", "app", "dataset-retrieval", "mcp"}
)
SUPPORTED_PROVIDER_TYPES = frozenset({"plugin", "builtin", "api", "mcp", "workflow"})
# A workspace's own providers: they are looked up in its database when the tool runs.
TENANT_PROVIDER_TYPES = frozenset({"api", "mcp", "workflow"})
# The database steps around a workflow tool's child run: retried while the database restarts.
_DB_RETRY = ActivityRetry(maximum_attempts=20, interval_seconds=2.0)
INPUT_TYPES = frozenset({"mixed", "variable", "constant"})
DEFAULT_JSON: list[dict[str, Any]] = [{"data": []}]  # graphon's json output when a tool gives none
TIMEOUT_SECONDS = 300.0


def _is_input(value: Any) -> bool:
    entry = as_dict(value)
    return entry.get("type") in INPUT_TYPES and "value" in entry


def _input_problems(field: str, entry: Any) -> ConfigProblems:
    item = as_dict(entry)
    kind, value = item.get("type"), item.get("value")
    if kind not in INPUT_TYPES:
        return [(f"{field}.type", f"must be mixed, variable or constant (got {kind!r})")]
    if value is None:
        return []  # not given: graphon drops it
    if kind == "mixed" and not isinstance(value, str):
        return [(f"{field}.value", "a mixed value must be a template string")]
    if kind == "variable" and not is_selector(value):
        return [(f"{field}.value", "a variable value must be a selector")]
    return []


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Provider and tool named, a known provider type, well-formed parameter entries."""
    problems = require(data, "provider_id", "tool_name")
    kind = data.get("provider_type")
    if kind is not None and kind not in PROVIDER_TYPES:
        expected = ", ".join(sorted(PROVIDER_TYPES))
        problems.append(("provider_type", f"unknown provider type {kind!r}; one of {expected}"))
    for field in ("tool_parameters", "tool_configurations"):
        if data.get(field) is not None and not isinstance(data.get(field), dict):
            problems.append((field, "must be an object"))
    for name, entry in as_dict(data.get("tool_parameters")).items():
        if as_dict(entry).get("value") is not None:  # graphon drops entries without a value
            problems += _input_problems(f"tool_parameters.{name}", entry)
    for name, value in as_dict(data.get("tool_configurations")).items():
        if _is_input(value):  # other dicts (a model or app selector) are literal values
            problems += _input_problems(f"tool_configurations.{name}", value)
    return problems


def run_requirements(data: dict[str, Any]) -> ConfigProblems:
    """A supported provider type whose provider and tool are installed (the API process asks
    the plugin registry; a node that is pinned or mocked needs neither)."""
    provider, tool = str(data.get("provider_id") or ""), str(data.get("tool_name") or "")
    kind = str(data.get("provider_type") or "builtin")
    if not provider or not tool:
        return []  # validate names them
    if kind not in SUPPORTED_PROVIDER_TYPES:
        return [
            (
                "provider_type",
                f"{kind} tools are not supported yet (provider {provider}, tool {tool}); "
                "pin or mock this node",
            )
        ]
    if kind in TENANT_PROVIDER_TYPES:
        return []  # the workspace's own provider: the API checks it with the tenant's tables
    plugins: Any = importlib.import_module("tideflow.plugins.tools")
    plugin = plugins.plugin_name(provider, data.get("plugin_unique_identifier"))
    where = f" (plugin {plugin})" if plugin != provider else ""
    found = plugins.tool_providers().get(provider)
    if found is None:
        message = (
            f"tool provider {provider}{where} is not installed: install a tool plugin that "
            "provides it, or pin or mock this node"
        )
        return [("provider_id", message)]
    if tool not in found.tools:
        names = ", ".join(sorted(found.tools))
        return [("tool_name", f"tool provider {provider}{where} has no tool {tool} ({names})")]
    return []


def mock_outputs(_data: dict[str, Any]) -> dict[str, Any]:
    """Empty text and files, Dify's default json."""
    return {"text": "", "files": [], "json": [dict(item) for item in DEFAULT_JSON]}


def _resolve(ctx: NodeContext, name: str, entry: dict[str, Any]) -> tuple[bool, Any]:
    """(found, value) of one {type, value} entry; found is False for a missing variable."""
    kind, value = entry.get("type"), entry.get("value")
    if kind == "variable":
        if not is_selector(value):
            raise NodeError(
                f"parameter {name}: a variable value must be a selector", "ToolParameterError"
            )
        found, resolved = ctx.find(value)
        return found and resolved is not None, resolved
    if kind in ("mixed", "constant"):
        return True, ctx.render(value) if isinstance(value, str) else value
    raise NodeError(f"parameter {name}: unknown input type {kind!r}", "ToolParameterError")


def _resolve_all(
    ctx: NodeContext, entries: dict[str, Any], *, configurations: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """Resolved values by name, and the selectors of variables that did not exist.

    A bare value (not a {type, value} entry) is a configuration's literal, or in
    tool_parameters (older exports) a template when it is a string, else a literal.
    """
    values: dict[str, Any] = {}
    unresolved: dict[str, str] = {}
    for name, entry in entries.items():
        if entry is None or (_is_input(entry) and as_dict(entry).get("value") is None):
            continue
        if not _is_input(entry):
            rendered = isinstance(entry, str) and not configurations
            values[name] = ctx.render(entry) if rendered else entry
            continue
        found, value = _resolve(ctx, name, as_dict(entry))
        if found:
            values[name] = value
        elif as_dict(entry).get("type") == "variable":
            unresolved[name] = ".".join(as_list(as_dict(entry).get("value")))
    return values, unresolved


async def run(ctx: NodeContext) -> NodeResult:
    """Resolve the parameters, invoke the tool, and shape Dify's outputs."""
    data = ctx.data
    ctx.add_metadata(
        tool_info={
            "provider_type": data.get("provider_type"),
            "provider_id": data.get("provider_id"),
            "plugin_unique_identifier": data.get("plugin_unique_identifier"),
        }
    )
    parameters, missing = _resolve_all(
        ctx, as_dict(data.get("tool_parameters")), configurations=False
    )
    configurations, missing_forms = _resolve_all(
        ctx, as_dict(data.get("tool_configurations")), configurations=True
    )
    request = {
        "tenant_id": ctx.state.tenant_id,
        "node_id": ctx.node.id,
        "provider_id": str(data.get("provider_id") or ""),
        "provider_name": str(data.get("provider_name") or ""),
        "provider_type": str(data.get("provider_type") or "builtin"),
        "tool_name": str(data.get("tool_name") or ""),
        "parameters": parameters,
        "configurations": configurations,
        "max_attempts": ctx.max_attempts,
        "unresolved": {**missing_forms, **missing},
        "plugin": data.get("plugin_unique_identifier"),
    }
    # A node-level retry is a new call: it must not find the earlier attempt's child run.
    result = await invoke_tool(ctx, request, f"{ctx.run.id}.{ctx.run.attempts}")
    outputs: dict[str, Any] = {
        "text": str(result.get("text") or ""),
        "files": as_list(result.get("files")),
        "json": as_list(result.get("json")) or mock_outputs(data)["json"],
        **as_dict(result.get("variables")),
    }
    return NodeResult(inputs=parameters, outputs=outputs)


async def invoke_tool(ctx: NodeContext, request: dict[str, Any], call_key: str) -> dict[str, Any]:
    """One tool call of this node (a ToolInvokeRequest as JSON): activity ``tool_invoke``, or
    for a workflow tool a child run of the app. ``call_key`` is unique within the run (the
    node execution id, plus the call's id in an agent): the child run's idempotency key."""
    if request.get("provider_type") == "workflow":
        return await _run_workflow_tool(ctx, request, call_key)
    return as_dict(
        await ctx.call_activity(
            ACTIVITY,
            request,
            JSON_OBJECT,
            timeout_seconds=TIMEOUT_SECONDS,
            heartbeats=True,
            limits_own_attempts=True,
        )
    )


async def _db_step(ctx: NodeContext, name: str, arg: dict[str, Any], summary: str) -> Any:
    try:
        return await ctx.state.executor.call_activity(
            name,
            arg,
            result_type=JSON_OBJECT,
            summary=summary,
            retry=_DB_RETRY,
            timeout_seconds=30.0,
        )
    except ActivityCallError as err:
        raise NodeError(err.message, err.error_type) from err


async def _run_workflow_tool(
    ctx: NodeContext, request: dict[str, Any], call_key: str
) -> dict[str, Any]:
    """Record the child run, run the app as a child workflow, record how it ended; its
    outputs are the tool's ``json`` (one object) and, as JSON text, its ``text``."""
    opened = as_dict(
        await _db_step(
            ctx,
            OPEN_WORKFLOW_TOOL_RUN,
            {
                **{k: request.get(k) for k in ("tenant_id", "node_id", "provider_id")},
                "provider_name": request.get("provider_name") or "",
                "tool_name": request.get("tool_name") or "",
                "parameters": request.get("parameters") or {},
                "configurations": request.get("configurations") or {},
                "parent_run_id": ctx.state.recorder.run_id,
                "call_key": call_key,
                "call_depth": ctx.state.call_depth,
                "user": _user(ctx),
            },
            f"{ctx.node.title or ctx.node.id}: start workflow tool",
        )
    )
    name = str(opened.get("tool_name") or request.get("tool_name"))
    if opened.get("ended"):
        result = {k: opened.get(k) for k in ("status", "outputs", "error")}
    else:
        executor = ctx.state.executor
        finish: dict[str, Any] = {"run_id": opened["run_id"]}
        record = f"{ctx.node.title or ctx.node.id}: record"
        try:
            result = await executor.run_child(
                str(opened["workflow_id"]), as_dict(opened.get("run_input"))
            )
            finish["result"] = result
        except ChildRunError as err:
            finish.update(status="stopped" if err.stopped else "failed", error=str(err))
            result = {"status": finish["status"], "error": str(err)}
        except asyncio.CancelledError:  # stopped before the child started
            finish.update(status="stopped", error="the calling run was stopped")
            await _db_step(ctx, FINISH_CHILD_RUN, finish, record)
            raise
        await _db_step(ctx, FINISH_CHILD_RUN, finish, record)
        if executor.stop_requested():  # the run was stopped while the child ran: stop here too
            raise asyncio.CancelledError
    if result.get("status") not in ("succeeded", "partial-succeeded"):
        raise NodeError(
            f"workflow tool {name} {result.get('status')}: {result.get('error') or 'no error'}",
            "ToolInvokeError",
        )
    outputs = as_dict(result.get("outputs"))
    return {"text": json.dumps(outputs, ensure_ascii=False), "json": [outputs], "files": []}


def _user(ctx: NodeContext) -> str:
    found, user = ctx.find(["sys", "user_id"])
    return str(user) if found and user else ""


SPECS = [
    NodeSpec(
        type="tool",
        validate=validate,
        external=True,
        run_requirements=run_requirements,
        mock_outputs=mock_outputs,
    )
]
RUNNERS = {"tool": run}
