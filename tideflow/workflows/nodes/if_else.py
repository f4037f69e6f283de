"""IF/ELSE: the first case whose conditions hold picks its handle; none gives ``false``."""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.nodes._common import as_dict, as_list
from tideflow.workflows.nodes.conditions import evaluate_group
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec


def cases(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The node's cases; the legacy top-level form is case ``true``."""
    found = [as_dict(c) for c in as_list(data.get("cases"))]
    if found or "conditions" not in data:
        return found
    return [
        {
            "case_id": "true",
            "logical_operator": data.get("logical_operator", "and"),
            "conditions": data.get("conditions"),
        }
    ]


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Cases need ids; conditions need a selector and an operator."""
    problems: ConfigProblems = []
    for i, case in enumerate(cases(data)):
        if not case.get("case_id") and not case.get("id"):
            problems.append((f"cases[{i}].case_id", "case_id is required"))
        for j, cond in enumerate(as_list(case.get("conditions"))):
            if not as_dict(cond).get("variable_selector"):
                problems.append((f"cases[{i}].conditions[{j}].variable_selector", "is required"))
            if not as_dict(cond).get("comparison_operator"):
                problems.append((f"cases[{i}].conditions[{j}].comparison_operator", "is required"))
    return problems


def outputs(_data: dict[str, Any]) -> set[str] | None:
    """``result`` and ``selected_case_id``."""
    return {"result", "selected_case_id"}


async def run(ctx: NodeContext) -> NodeResult:
    """Try cases in order; record every condition result like Dify's process_data."""
    condition_results: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = []
    selected: str | None = None
    for case in cases(ctx.data):
        conds = [as_dict(c) for c in as_list(case.get("conditions"))]
        final, results, case_inputs = evaluate_group(
            conds, str(case.get("logical_operator", "and")), ctx.pool
        )
        inputs.extend(case_inputs)
        condition_results.append({"group": case, "results": results, "final_result": final})
        if final:
            selected = str(case.get("case_id") or case.get("id"))
            break
    handle = selected or "false"
    return NodeResult(
        inputs={"conditions": inputs},
        process_data={"condition_results": condition_results},
        outputs={"result": selected is not None, "selected_case_id": handle},
        handles=[handle],
    )


SPECS = [NodeSpec(type="if-else", validate=validate, outputs=outputs)]
RUNNERS = {"if-else": run}
