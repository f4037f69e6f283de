"""Loop: rounds of its subgraph over loop variables until a break condition, loop-end or count."""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.context import NodeContext, NodeResult, Scope
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.engine.pool import VariablePool
from tideflow.workflows.nodes._common import as_dict, as_list, is_selector, require
from tideflow.workflows.nodes.conditions import evaluate_group
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec
from tideflow.workflows.nodes.values import parse_typed

MAX_LOOP_COUNT = 100


def validate(data: dict[str, Any]) -> ConfigProblems:
    """A start node, a count of at least 1, labelled loop variables."""
    problems = require(data, "start_node_id")
    count = data.get("loop_count", 1)
    if not isinstance(count, int) or count < 1:
        problems.append(("loop_count", "must be an integer of at least 1"))
    for i, raw in enumerate(as_list(data.get("loop_variables"))):
        if not as_dict(raw).get("label"):
            problems.append((f"loop_variables[{i}].label", "label is required"))
    return problems


def outputs(data: dict[str, Any]) -> set[str] | None:
    """Each loop variable by label plus ``loop_round``."""
    labels = {str(as_dict(v).get("label")) for v in as_list(data.get("loop_variables"))}
    return labels | {"loop_round"}


def _initial(ctx: NodeContext, var: dict[str, Any]) -> Any:
    value = var.get("value")
    if var.get("value_type") == "variable":
        return ctx.pool.get(value) if is_selector(value) else None
    return parse_typed(value, str(var.get("var_type") or "string"))


def _should_break(ctx: NodeContext, frame: VariablePool) -> bool:
    conditions = [as_dict(c) for c in as_list(ctx.data.get("break_conditions"))]
    if not conditions:
        return False
    final, _results, _inputs = evaluate_group(
        conditions, str(ctx.data.get("logical_operator", "and")), frame
    )
    return final


async def run(ctx: NodeContext) -> NodeResult:
    """Break conditions are checked before the first round and after each one."""
    data, node_id = ctx.data, ctx.node.id
    frame = ctx.pool.child()
    labels: list[str] = []
    for raw in as_list(data.get("loop_variables")):
        var = as_dict(raw)
        label = str(var.get("label"))
        labels.append(label)
        frame.set(node_id, label, _initial(ctx, var), str(var.get("var_type") or "string"))
    count = min(MAX_LOOP_COUNT, max(1, int(data.get("loop_count") or 1)))
    inputs = {label: frame.get([node_id, label]) for label in labels}
    started = ctx.state.executor.now()
    meta = {"loop_length": count}
    ctx.container_event("loop_started", inputs=inputs, loop_count=count, metadata=meta)
    rounds, reason = 0, "loop_completed"
    if _should_break(ctx, frame):
        reason = "loop_break"
    while reason == "loop_completed" and rounds < count:
        round_frame = frame.child()  # inner node outputs are cleared each round
        outcome = await ctx.state.run_subgraph(
            str(data["start_node_id"]), round_frame, Scope(node_id, rounds)
        )
        rounds += 1
        if outcome.error is not None:
            ctx.container_completed(
                "loop_completed",
                started,
                rounds=rounds,
                steps=rounds,
                reason="error",
                inputs=inputs,
                outputs={},
                status="failed",
                error=outcome.error.message,
            )
            raise NodeError(outcome.error.message, outcome.error.error_type)
        if outcome.loop_end_reached or _should_break(ctx, frame):
            reason = "loop_break"
        else:
            values = {label: frame.get([node_id, label]) for label in labels}
            ctx.container_event("loop_next", index=rounds, pre_loop_output=values)
    outputs = {**{label: frame.get([node_id, label]) for label in labels}, "loop_round": rounds}
    ctx.container_completed(
        "loop_completed",
        started,
        rounds=rounds,
        steps=rounds,
        reason=reason,
        inputs=inputs,
        outputs=outputs,
        status="succeeded",
        error=None,
    )
    return NodeResult(inputs=inputs, outputs=outputs, process_data={"completed_reason": reason})


async def run_marker(_ctx: NodeContext) -> NodeResult:
    """loop-start does nothing."""
    return NodeResult()


async def run_end(_ctx: NodeContext) -> NodeResult:
    """Reaching loop-end stops the loop after this round."""
    return NodeResult(loop_end=True)


SPECS = [
    NodeSpec(type="loop", validate=validate, outputs=outputs),
    NodeSpec(type="loop-start", outputs=lambda _d: set()),
    NodeSpec(type="loop-end", outputs=lambda _d: set()),
]
RUNNERS = {"loop": run, "loop-start": run_marker, "loop-end": run_end}
