"""Variable Assigner v1 (write_mode) and v2 (items of operations) on conversation/loop vars."""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.nodes._common import as_dict, as_list, is_selector
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec
from tideflow.workflows.nodes.values import parse_number, parse_typed, zero_value

OPERATIONS = frozenset(
    {"over-write", "clear", "set", "+=", "-=", "*=", "/=", "append", "extend",
     "remove-first", "remove-last"}
)  # fmt: skip
NO_VALUE = frozenset({"clear", "remove-first", "remove-last"})


def _is_v2(data: dict[str, Any]) -> bool:
    return str(data.get("version", "1")) == "2" or "items" in data


def validate(data: dict[str, Any]) -> ConfigProblems:
    """v1 needs a target and write_mode; v2 items need a target and a known operation."""
    if not _is_v2(data):
        problems: ConfigProblems = []
        if not is_selector(data.get("assigned_variable_selector")):
            problems.append(("assigned_variable_selector", "must be a variable selector"))
        if data.get("write_mode", "over-write") not in ("over-write", "append", "clear"):
            problems.append(("write_mode", f"unknown write_mode {data.get('write_mode')}"))
        return problems
    problems = []
    for i, raw in enumerate(as_list(data.get("items"))):
        item = as_dict(raw)
        if not is_selector(item.get("variable_selector")):
            problems.append((f"items[{i}].variable_selector", "must be a variable selector"))
        if item.get("operation") not in OPERATIONS:
            problems.append((f"items[{i}].operation", f"unknown operation {item.get('operation')}"))
    return problems


def outputs(_data: dict[str, Any]) -> set[str] | None:
    """The assigner has no outputs."""
    return set()


def _arith(op: str, current: Any, value: Any) -> Any:
    left, right = parse_number(current if current is not None else 0), parse_number(value)
    if op == "+=":
        return left + right
    if op == "-=":
        return left - right
    if op == "*=":
        return left * right
    if right == 0:
        raise NodeError("Division by zero in variable assigner", "InvalidInputValueError")
    result = left / right
    return int(result) if isinstance(left, int) and result.is_integer() else result


def apply_operation(op: str, current: Any, value: Any, value_type: str | None) -> Any:
    """The new value of a variable after ``op`` (Dify's v2 semantics)."""
    if op in ("over-write", "set"):
        return parse_typed(value, value_type) if op == "set" else value
    if op == "clear":
        return zero_value(value_type, current)
    if op in ("+=", "-=", "*=", "/="):
        return _arith(op, current, value)
    items: list[Any] = list(current) if isinstance(current, list) else []  # pyright: ignore[reportUnknownArgumentType]
    if op == "append":
        return [*items, value]
    if op == "extend":
        return [*items, *(value if isinstance(value, list) else [value])]  # pyright: ignore[reportUnknownVariableType]
    if op == "remove-first":
        return items[1:]
    if op == "remove-last":
        return items[:-1]
    raise NodeError(f"Unknown operation {op}", "InvalidOperationError")


def _steps(ctx: NodeContext) -> list[tuple[list[str], str, Any, bool]]:
    """(target, operation, value, skip) per assignment, values read from the pool."""
    data = ctx.data
    if not _is_v2(data):
        mode = str(data.get("write_mode", "over-write"))
        source = data.get("input_variable_selector")
        found, value = ctx.find(source) if is_selector(source) and mode != "clear" else (True, None)
        return [(list(data["assigned_variable_selector"]), mode, value, not found)]
    steps: list[tuple[list[str], str, Any, bool]] = []
    for raw in as_list(data.get("items")):
        item = as_dict(raw)
        op, value, found = str(item.get("operation")), item.get("value"), True
        if op not in NO_VALUE and item.get("input_type", "variable") == "variable":
            found, value = ctx.find(value) if is_selector(value) else (False, None)
            found = found and value is not None
        steps.append((list(item.get("variable_selector") or []), op, value, not found))
    return steps


async def run(ctx: NodeContext) -> NodeResult:
    """Apply assignments in order; later ones see earlier writes."""
    updated: list[dict[str, Any]] = []
    for target, op, value, skip in _steps(ctx):
        if skip:
            continue
        if target[0] == "env":
            raise NodeError("Environment variables are read-only", "VariableOperatorNodeError")
        found, current = ctx.find(target)
        if not found:
            raise NodeError(f"Variable {'.'.join(target)} not found", "VariableNotFoundError")
        new = apply_operation(op, current, value, ctx.pool.value_type(target))
        ctx.pool.assign(target, new)
        updated.append({"selector": target, "operation": op, "value": new})
        ctx.state.recorder.emit("variable_updated", ctx.node.id, selector=target, value=new)
    return NodeResult(process_data={"updated_variables": updated})


SPECS = [NodeSpec(type="assigner", validate=validate, outputs=outputs)]
RUNNERS = {"assigner": run}
