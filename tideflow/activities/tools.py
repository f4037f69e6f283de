"""The tool node's side effect: find the tool among the installed plugins and invoke it.

Failures are ApplicationErrors typed for the node's record: ToolNotFound, ToolParameterError,
ToolProviderNotSupported and SSRFBlocked are not retried; ToolInvokeError (the tool's own
failure) is retried as the node's retry_config allows (``node_attempts``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tideflow.activities.heartbeat import attempt, heartbeating, node_attempts
from tideflow.activities.llm.route import bad_request
from tideflow.activities.ssrf import SSRFBlockedError
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.tool_providers import tenant_tool
from tideflow.plugins.tools import (
    Tool,
    ToolContext,
    ToolError,
    ToolResult,
    check_parameters,
    find_tool,
    plugin_name,
)

# Provider types whose tools live in plugins (Dify's in-API built-ins are "builtin").
PLUGIN_PROVIDER_TYPES = frozenset({"builtin", "plugin"})
# A workspace's own providers, looked up in its tables (workflow tools run as child
# workflows, never here).
TENANT_PROVIDER_TYPES = frozenset({"api", "mcp"})


class ToolInvokeRequest(BaseModel):
    """One tool call: parameters already resolved from the variable pool by the node."""

    tenant_id: str = ""
    node_id: str
    provider_id: str
    # The provider's name (a DSL from another workspace names its own providers by it).
    provider_name: str = ""
    provider_type: str = "builtin"
    tool_name: str
    # The node's tool_parameters, resolved (mixed rendered, variables read, constants as is).
    parameters: dict[str, Any] = Field(default_factory=dict[str, Any])
    # The node's tool_configurations (form parameters), resolved the same way.
    configurations: dict[str, Any] = Field(default_factory=dict[str, Any])
    # The node's retry_config as attempts (retries + 1): its own failures stop there.
    max_attempts: int | None = None
    # Parameters whose variable did not exist: name -> the selector, for a clear error when
    # the parameter is required.
    unresolved: dict[str, str] = Field(default_factory=dict[str, str])
    # The plugin the DSL names (plugin_unique_identifier), only for error messages.
    plugin: str | None = None


class ToolInvokeResult(BaseModel):
    """The tool's outputs (the node adds Dify's defaults) and the attempt that produced them."""

    text: str = ""
    json_: list[Any] = Field(default_factory=list[Any], alias="json")
    files: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    variables: dict[str, Any] = Field(default_factory=dict[str, Any])
    attempt: int = 1

    # ``json`` would shadow BaseModel.json: the attribute is ``json_``, the wire name ``json``.
    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )


async def find_any_tool(
    settings: Settings,
    tenant_id: str,
    provider_type: str,
    provider_id: str,
    tool_name: str,
    provider_name: str = "",
) -> Tool | None:
    """An installed plugin's tool, or (api, mcp, workflow) one of the tenant's own
    providers'; None when absent. Raises ValueError naming a provider whose stored settings
    cannot be used (credentials unreadable, a bad config)."""
    if provider_type in (*TENANT_PROVIDER_TYPES, "workflow"):
        return await asyncio.to_thread(
            tenant_tool, settings, tenant_id, provider_type, provider_id, tool_name, provider_name
        )
    return find_tool(provider_id, tool_name)


async def _find(req: ToolInvokeRequest, settings: Settings) -> Tool:
    where = f"tool node {req.node_id}"
    if req.provider_type not in PLUGIN_PROVIDER_TYPES | TENANT_PROVIDER_TYPES:
        raise bad_request(
            f"{where}: {req.provider_type} tools are not supported yet "
            f"(provider {req.provider_id}, tool {req.tool_name})",
            "ToolProviderNotSupported",
        )
    try:
        tool = await find_any_tool(
            settings,
            req.tenant_id,
            req.provider_type,
            req.provider_id,
            req.tool_name,
            req.provider_name,
        )
    except ValueError as exc:
        raise bad_request(f"{where}: {exc}", "ToolProviderError") from None
    if tool is None and req.provider_type in TENANT_PROVIDER_TYPES:
        provider = req.provider_name or req.provider_id
        raise bad_request(
            f"{where}: tool {req.tool_name} of {req.provider_type} provider {provider} is not "
            "in this workspace",
            "ToolNotFound",
        )
    if tool is None:
        raise bad_request(
            f"{where}: tool {req.tool_name} of provider {req.provider_id} "
            f"(plugin {plugin_name(req.provider_id, req.plugin)}) is not installed",
            "ToolNotFound",
        )
    return tool


def _checked(req: ToolInvokeRequest, tool: Tool) -> dict[str, Any]:
    # Form values (configurations) win over the same name in tool_parameters, as in Dify.
    merged = {**req.parameters, **{k: v for k, v in req.configurations.items() if v is not None}}
    for parameter in tool.parameters:
        if parameter.required and merged.get(parameter.name) is None:
            selector = req.unresolved.get(parameter.name)
            if selector is not None and parameter.default is None:
                raise bad_request(
                    f"tool node {req.node_id}: parameter {parameter.name!r} of tool "
                    f"{tool.name}: variable {selector} does not exist",
                    "ToolParameterError",
                )
    try:
        return check_parameters(tool, merged)
    except ToolError as exc:
        raise bad_request(f"tool node {req.node_id}: {exc}", "ToolParameterError") from None


def _result(req: ToolInvokeRequest, result: ToolResult, limit: int) -> ToolInvokeResult:
    out = ToolInvokeResult(
        text=result.text,
        json=list(result.json),
        files=list(result.files),
        variables=dict(result.variables),
        attempt=attempt(),
    )
    size = len(json.dumps(out.model_dump(), default=str).encode())
    if size > limit:
        raise bad_request(
            f"tool node {req.node_id}: tool {req.tool_name} returned {size} bytes, over the "
            f"limit of {limit} bytes (max_activity_output_bytes)",
            "ToolOutputTooLarge",
        )
    return out


@activity.defn(name="tool_invoke")
async def tool_invoke(req: ToolInvokeRequest) -> ToolInvokeResult:
    """Find the tool, check its parameters and invoke it, heartbeating meanwhile."""
    with node_attempts(req.max_attempts):
        return await _tool_invoke(req)


async def _tool_invoke(req: ToolInvokeRequest) -> ToolInvokeResult:
    settings = get_settings()
    tool = await _find(req, settings)
    params = _checked(req, tool)
    context = ToolContext(settings=settings, tenant_id=req.tenant_id, node_id=req.node_id)
    try:
        async with heartbeating():  # a tool may fetch pages or wait on a service: stay cancellable
            result = await tool.invoke(params, context)
    except ToolError as exc:
        raise ApplicationError(str(exc), type="ToolInvokeError") from None
    except SSRFBlockedError as exc:
        raise bad_request(str(exc), "SSRFBlocked") from None
    except ApplicationError:
        raise
    except Exception as exc:  # a plugin's bug: still the tool's failure, typed as Dify types it
        raise ApplicationError(
            f"tool {req.tool_name} failed: {type(exc).__name__}: {exc}", type="ToolInvokeError"
        ) from None
    if not isinstance(result, ToolResult):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ApplicationError(
            f"tool {req.tool_name} returned {type(result).__name__}, not a ToolResult",
            type="ToolInvokeError",
            non_retryable=True,
        )
    return _result(req, result, settings.max_activity_output_bytes)
