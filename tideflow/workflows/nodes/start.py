"""Start (User Input): the run's validated inputs become its outputs."""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.nodes._common import as_dict, as_list
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

INPUT_TYPES = frozenset(
    {"text-input", "paragraph", "select", "number", "file", "file-list", "checkbox",
     "json_object", "external_data_tool", "string"}
)  # fmt: skip


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Each variable needs a name and a known type; names are unique."""
    problems: ConfigProblems = []
    seen: set[str] = set()
    for i, item in enumerate(as_list(data.get("variables"))):
        var = as_dict(item)
        name = var.get("variable")
        if not name:
            problems.append((f"variables[{i}].variable", "variable name is required"))
        elif name in seen:
            problems.append((f"variables[{i}].variable", f"duplicate variable {name}"))
        seen.add(str(name))
        if var.get("type", "text-input") not in INPUT_TYPES:
            problems.append((f"variables[{i}].type", f"unknown input type {var.get('type')}"))
    return problems


def outputs(data: dict[str, Any]) -> set[str] | None:
    """The declared input variable names."""
    return {str(as_dict(v).get("variable")) for v in as_list(data.get("variables"))}


async def run(ctx: NodeContext) -> NodeResult:
    """Outputs are the inputs, validated before the run began."""
    values = dict(ctx.state.start_inputs)
    return NodeResult(inputs=values, outputs=values)


SPECS = [NodeSpec(type="start", validate=validate, outputs=outputs)]
RUNNERS = {"start": run}
