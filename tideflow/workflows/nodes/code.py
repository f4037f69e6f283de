"""Code: runs ``main(...)`` in the sandbox activity ``run_code`` and returns declared outputs.

The argument and result follow the ``tideflow.activities.code`` contract (CodeRunInput →
CodeRunResult); they travel as plain JSON so workflow code does not import the sandbox.
"""

from __future__ import annotations

from typing import Any

from tideflow.activities.code_outputs import OUTPUT_TYPES
from tideflow.workflows.engine.context import JSON_OBJECT, NodeContext, NodeResult
from tideflow.workflows.nodes._common import as_dict, check_mapped_variables, mapped_variables
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

ACTIVITY = "run_code"
LANGUAGES = frozenset({"python3", "javascript"})
TIMEOUT_SECONDS = 70.0  # the sandbox's 60 s read timeout plus a margin


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Language, code, declared outputs with known types, a well-formed variable mapping."""
    problems = check_mapped_variables(data)
    if data.get("code_language", "python3") not in LANGUAGES:
        problems.append(("code_language", f"unknown language {data.get('code_language')}"))
    if not isinstance(data.get("code"), str) or not data.get("code"):
        problems.append(("code", "code is required"))
    problems.extend(_output_type_problems(as_dict(data.get("outputs")), "outputs"))
    return problems


def _output_type_problems(schema: dict[str, Any], prefix: str) -> ConfigProblems:
    """Declared outputs (and their children) whose type a code node cannot produce; the
    activity checks results against the same list (``code_outputs.OUTPUT_TYPES``)."""
    problems: ConfigProblems = []
    for name, raw in schema.items():
        spec = as_dict(raw)
        if spec.get("type") not in OUTPUT_TYPES:
            problems.append((f"{prefix}.{name}.type", f"unknown output type {spec.get('type')}"))
        children = as_dict(spec.get("children"))
        problems.extend(_output_type_problems(children, f"{prefix}.{name}.children"))
    return problems


def outputs(data: dict[str, Any]) -> set[str] | None:
    """The declared output names."""
    return set(as_dict(data.get("outputs")))


def _output_spec(raw: Any) -> dict[str, Any]:
    spec = as_dict(raw)
    children = as_dict(spec.get("children")) or None
    return {
        "type": str(spec.get("type", "string")),
        "children": {k: _output_spec(v) for k, v in children.items()} if children else None,
    }


async def run(ctx: NodeContext) -> NodeResult:
    """Map variables, call the sandbox, return its validated outputs."""
    data = ctx.data
    inputs = {name: ctx.pool.get(sel) for name, sel in mapped_variables(data)}
    request = {
        "node_id": ctx.node.id,
        "language": str(data.get("code_language", "python3")),
        "code": str(data.get("code", "")),
        "inputs": inputs,
        "outputs": {k: _output_spec(v) for k, v in as_dict(data.get("outputs")).items()},
        "max_attempts": ctx.max_attempts,
    }
    result = await ctx.call_activity(
        ACTIVITY,
        request,
        JSON_OBJECT,
        timeout_seconds=TIMEOUT_SECONDS,
        heartbeats=True,
        limits_own_attempts=True,
    )
    return NodeResult(inputs=inputs, outputs=as_dict(as_dict(result).get("outputs")))


SPECS = [NodeSpec(type="code", validate=validate, outputs=outputs)]
RUNNERS = {"code": run}
