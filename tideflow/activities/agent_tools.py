"""``describe_agent_tools``: an agent's tools as the OpenAI function definitions its model sees.

The agent node runs in workflow code and cannot look into the tool registry (plugins load
in the worker); this activity does, once per agent run, and its answer is recorded in the
history, so a replay offers the model the same functions.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tideflow.activities.tools import find_any_tool
from tideflow.platform.settings import get_settings
from tideflow.plugins.tools.base import Tool, ToolParameter
from tideflow.workflows.nodes._common import as_dict, as_list

DESCRIBE_TOOLS_ACTIVITY = "describe_agent_tools"
# JSON-schema types of Dify's tool parameter types the model fills (files are not offered).
_JSON_TYPES = {
    "string": "string",
    "select": "string",
    "secret-input": "string",
    "number": "number",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
}


def _schema(parameter: ToolParameter) -> dict[str, Any] | None:
    kind = _JSON_TYPES.get(parameter.type)
    if kind is None:
        return None
    schema: dict[str, Any] = {"type": kind, "description": parameter.description or parameter.name}
    if parameter.options:
        schema["enum"] = list(parameter.options)
    return schema


def function_of(tool: Tool, name: str, selector: dict[str, Any]) -> dict[str, Any]:
    """The tool as an OpenAI function: its model-filled (``llm``) parameters; the selector's
    own parameters are filled by the node, not the model."""
    fixed = set(as_dict(selector.get("fixed")))  # filled by the node (agent.py)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in tool.parameters:
        if parameter.form != "llm" or parameter.name in fixed:
            continue
        schema = _schema(parameter)
        if schema is None:
            continue
        properties[parameter.name] = schema
        if parameter.required:
            required.append(parameter.name)
    extra = as_dict(selector.get("extra"))
    description = str(extra.get("description") or tool.description or tool.label or name)
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


@activity.defn(name=DESCRIBE_TOOLS_ACTIVITY)
async def describe_agent_tools(request: dict[str, Any]) -> dict[str, Any]:
    """``{"tools": [function...]}`` in the order of ``request["tools"]`` (tool selectors);
    a tool that is not installed fails the node naming it (not retried)."""
    functions: list[dict[str, Any]] = []
    seen: set[str] = set()
    for selector in map(as_dict, as_list(request.get("tools"))):
        provider = str(selector.get("provider_id") or selector.get("provider_name") or "")
        tool_name = str(selector.get("tool_name") or "")
        kind = str(selector.get("provider_type") or selector.get("type") or "builtin")
        try:
            tool = await find_any_tool(
                get_settings(),
                str(request.get("tenant_id") or ""),
                kind,
                provider,
                tool_name,
                str(selector.get("provider_name") or ""),
            )
        except ValueError as exc:
            raise ApplicationError(
                f"agent node {request.get('node_id')}: {exc}",
                type="ToolProviderError",
                non_retryable=True,
            ) from None
        if tool is None:
            raise ApplicationError(
                f"agent node {request.get('node_id')}: tool {tool_name} of provider {provider} "
                "is not installed",
                type="ToolNotFound",
                non_retryable=True,
            )
        name = tool_name
        suffix = 2
        while name in seen:  # two providers' tools of the same name
            name, suffix = f"{tool_name}_{suffix}", suffix + 1
        seen.add(name)
        functions.append(function_of(tool, name, selector))
    return {"tools": functions}
