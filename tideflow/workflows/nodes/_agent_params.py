"""The agent node's parameters: Dify's ``agent_parameters`` entries and tool selectors.

Each parameter is ``{type: mixed|variable|constant, value}``; a tool selector names a tool
(provider_id or provider_name, provider_type, tool_name) and the parameters the node fills
(``fixed``), the rest being the model's to fill.
"""

from __future__ import annotations

import importlib
from typing import Any

from tideflow.workflows.engine.context import NodeContext
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.nodes._common import as_dict, as_list, is_selector
from tideflow.workflows.nodes._llm_common import ModelChoice
from tideflow.workflows.nodes.spec import ConfigProblems

DEFAULT_ITERATIONS = 5
MAX_ITERATIONS = 99  # Dify's MAX_ITERATIONS_NUM


def missing_tools(selectors: list[dict[str, Any]]) -> ConfigProblems:
    """Enabled tools that are not installed (the API process asks the plugin registry)."""
    registry: Any = importlib.import_module("tideflow.plugins.tools")
    problems: ConfigProblems = []
    for index, selector in enumerate(selectors):
        if not selector.get("tool_name") or not selector.get("enabled", True):
            continue
        kind = selector.get("provider_type") or selector.get("type")
        if kind in ("api", "mcp", "workflow"):
            continue  # the workspace's own provider: looked up in its tables at run time
        provider = provider_of(selector)
        if registry.find_tool(provider, str(selector["tool_name"])) is None:
            plugin = registry.plugin_name(provider, selector.get("plugin_unique_identifier"))
            problems.append(
                (
                    f"agent_parameters.tools[{index}]",
                    f"tool {selector['tool_name']} of provider {provider} (plugin {plugin}) "
                    "is not installed",
                )
            )
    return problems


def provider_of(selector: dict[str, Any]) -> str:
    """The tool provider a selector names (``provider_id``, else ``provider_name``)."""
    return str(selector.get("provider_id") or selector.get("provider_name") or "")


def parameter(ctx: NodeContext, name: str) -> Any:
    """An agent parameter's value: ``mixed`` rendered, ``variable`` resolved, ``constant``."""
    entry = as_dict(as_dict(ctx.data.get("agent_parameters")).get(name))
    value = entry.get("value")
    kind = entry.get("type")
    if kind == "variable" and is_selector(value):
        return ctx.find(value)[1]
    if isinstance(value, str) and kind in ("mixed", "constant"):
        return ctx.render(value)
    return value


def model_of(ctx: NodeContext) -> ModelChoice:
    """The ``model`` parameter (a model selector); fails the node when none is chosen."""
    model = as_dict(parameter(ctx, "model"))
    if not model.get("provider") or not model.get("model"):
        raise NodeError(
            f"Node {ctx.node.id}: agent_parameters.model: choose a model", "AgentNodeError"
        )
    return ModelChoice(
        provider=str(model["provider"]),
        name=str(model["model"]),
        mode="completion" if model.get("mode") == "completion" else "chat",
        params=as_dict(model.get("completion_params")),
    )


def tools_of(ctx: NodeContext) -> list[dict[str, Any]]:
    """Enabled tool selectors, each with ``fixed``: the parameters the node fills."""
    selectors = [as_dict(t) for t in as_list(parameter(ctx, "tools"))]
    enabled = [t for t in selectors if t.get("tool_name") and t.get("enabled", True)]
    return [{**t, "fixed": fixed_parameters(ctx, t)} for t in enabled]


def iterations(ctx: NodeContext) -> int:
    """``maximum_iterations`` (default 5), within 1..99."""
    raw = parameter(ctx, "maximum_iterations")
    try:
        value = int(raw) if raw not in (None, "") else DEFAULT_ITERATIONS
    except (TypeError, ValueError, OverflowError):
        raise NodeError(
            f"Node {ctx.node.id}: agent_parameters.maximum_iterations: expected a number, "
            f"got {raw!r}",
            "AgentNodeError",
        ) from None
    return max(1, min(value, MAX_ITERATIONS))


def fixed_parameters(ctx: NodeContext, selector: dict[str, Any]) -> dict[str, Any]:
    """The tool parameters the node fills, not the model: a classic agent's
    ``tool_parameters`` (values), and an agent plugin's ``parameters`` entries
    ``{auto: 0, value: {type, value}}`` (``auto: 1`` is left to the model)."""
    fixed: dict[str, Any] = dict(as_dict(selector.get("tool_parameters")))
    for name, entry in as_dict(selector.get("parameters")).items():
        if not isinstance(entry, dict) or "auto" not in entry:
            fixed[name] = entry
            continue
        given = as_dict(entry)
        if given.get("auto"):
            continue
        value = given.get("value")
        typed = as_dict(value)
        if "type" in typed and "value" in typed:
            value = typed["value"]
            if typed["type"] == "variable" and is_selector(value):
                value = ctx.find(value)[1]
            elif typed["type"] == "mixed" and isinstance(value, str):
                value = ctx.render(value)
        fixed[name] = value
    return fixed


def unwrapped(settings: dict[str, Any]) -> dict[str, Any]:
    """A tool selector's ``settings`` as values: Dify exports write ``{name: {value: X}}``."""
    return {
        name: as_dict(entry).get("value") if isinstance(entry, dict) and "value" in entry else entry
        for name, entry in settings.items()
    }
