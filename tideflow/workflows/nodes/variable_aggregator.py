"""Variable Aggregator: the first existing variable of a list (per group when grouped)."""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.nodes._common import as_dict, as_list, is_selector
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec


def _groups(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    settings = as_dict(data.get("advanced_settings"))
    if not settings.get("group_enabled"):
        return None
    return [as_dict(g) for g in as_list(settings.get("groups"))]


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Every listed variable is a selector; groups have names."""
    groups = _groups(data)
    problems: ConfigProblems = []
    lists = [("variables", data.get("variables"))]
    if groups is not None:
        for i, group in enumerate(groups):
            if not group.get("group_name"):
                problems.append((f"advanced_settings.groups[{i}].group_name", "is required"))
            lists.append((f"advanced_settings.groups[{i}].variables", group.get("variables")))
    for field, selectors in lists:
        for j, selector in enumerate(as_list(selectors)):
            if not is_selector(selector):
                problems.append((f"{field}[{j}]", "must be a variable selector"))
    return problems


def outputs(data: dict[str, Any]) -> set[str] | None:
    """``output``, or one object per group name."""
    groups = _groups(data)
    return {"output"} if groups is None else {str(g.get("group_name")) for g in groups}


def _first(ctx: NodeContext, selectors: list[Any]) -> Any:
    for selector in selectors:
        if is_selector(selector):
            found, value = ctx.find(selector)
            if found and value is not None:
                return value
    return None


async def run(ctx: NodeContext) -> NodeResult:
    """Take the first variable present in the pool."""
    groups = _groups(ctx.data)
    if groups is None:
        return NodeResult(outputs={"output": _first(ctx, as_list(ctx.data.get("variables")))})
    result = {
        str(g.get("group_name")): {"output": _first(ctx, as_list(g.get("variables")))}
        for g in groups
    }
    return NodeResult(outputs=result)


SPECS = [
    NodeSpec(type="variable-aggregator", validate=validate, outputs=outputs),
    NodeSpec(type="variable-assigner", validate=validate, outputs=outputs),
]
RUNNERS = {"variable-aggregator": run, "variable-assigner": run}
