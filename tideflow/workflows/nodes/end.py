"""End (Output): gathers the run's outputs from selectors; several End outputs are merged."""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.nodes._common import as_dict, as_list, is_selector
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Each output needs a name and a selector."""
    problems: ConfigProblems = []
    for i, item in enumerate(as_list(data.get("outputs"))):
        out = as_dict(item)
        if not out.get("variable"):
            problems.append((f"outputs[{i}].variable", "output name is required"))
        if not is_selector(out.get("value_selector")):
            problems.append((f"outputs[{i}].value_selector", "must be a variable selector"))
    return problems


def outputs(data: dict[str, Any]) -> set[str] | None:
    """The output variable names."""
    return {str(as_dict(o).get("variable")) for o in as_list(data.get("outputs"))}


async def run(ctx: NodeContext) -> NodeResult:
    """A missing variable gives None (Dify keeps the key)."""
    values: dict[str, Any] = {}
    for item in as_list(ctx.data.get("outputs")):
        out = as_dict(item)
        selector = out.get("value_selector")
        values[str(out.get("variable"))] = ctx.pool.get(selector) if is_selector(selector) else None
    # The values are the outputs only: the record does not hold them twice.
    return NodeResult(outputs=values)


SPECS = [NodeSpec(type="end", validate=validate, outputs=outputs)]
RUNNERS = {"end": run}
