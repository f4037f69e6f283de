"""List Operator: filter → extract → order → limit over an array variable."""

from __future__ import annotations

from typing import Any, cast

from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.nodes._common import as_dict, as_list, require_selector
from tideflow.workflows.nodes.conditions import compare
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec
from tideflow.workflows.nodes.values import parse_number


def validate(data: dict[str, Any]) -> ConfigProblems:
    """A selector for the input array; an order key for ordering files."""
    problems = require_selector(data, "variable")
    order = as_dict(data.get("order_by"))
    if order.get("enabled") and order.get("value", "asc") not in ("asc", "desc"):
        problems.append(("order_by.value", "must be asc or desc"))
    return problems


def outputs(_data: dict[str, Any]) -> set[str] | None:
    """``result``, ``first_record``, ``last_record``."""
    return {"result", "first_record", "last_record"}


def _key(item: Any, key: str) -> Any:
    if isinstance(item, dict) and key:
        file = as_dict(item)
        return file.get("filename" if key == "name" and "filename" in file else key)
    return cast(Any, item)


def _filter(ctx: NodeContext, items: list[Any], conditions: list[Any]) -> list[Any]:
    for raw in conditions:
        cond = as_dict(raw)
        op, key = str(cond.get("comparison_operator", "")), str(cond.get("key", ""))
        expected = cond.get("value")
        if isinstance(expected, str):
            expected = ctx.render(expected)
        if isinstance(expected, list):
            expected = [ctx.render(e) if isinstance(e, str) else e for e in expected]  # pyright: ignore[reportUnknownVariableType]
        items = [i for i in items if compare(op, _key(i, key), expected)]
    return items


async def run(ctx: NodeContext) -> NodeResult:
    """An empty or missing input gives an empty result."""
    data = ctx.data
    found, value = ctx.find(data.get("variable") or [])
    if found and value is not None and not isinstance(value, list):
        raise NodeError("Input variable must be an array", "InvalidFilterValueError")
    items: list[Any] = list(value) if isinstance(value, list) else []  # pyright: ignore[reportUnknownArgumentType]
    filter_by, extract_by = as_dict(data.get("filter_by")), as_dict(data.get("extract_by"))
    if filter_by.get("enabled"):
        items = _filter(ctx, items, as_list(filter_by.get("conditions")))
    if extract_by.get("enabled"):
        serial = int(parse_number(ctx.render(str(extract_by.get("serial") or "1"))))
        if serial < 1 or serial > len(items):
            raise NodeError(f"Invalid serial index {serial}", "InvalidKeyError")
        items = [items[serial - 1]]
    order = as_dict(data.get("order_by"))
    if order.get("enabled"):
        key = str(order.get("key") or "")
        items = sorted(items, key=lambda i: _key(i, key), reverse=order.get("value") == "desc")
    limit = as_dict(data.get("limit"))
    if limit.get("enabled"):
        items = items[: max(0, int(limit.get("size") or 0))]
    return NodeResult(
        inputs={"variable": value},
        outputs={
            "result": items,
            "first_record": items[0] if items else None,
            "last_record": items[-1] if items else None,
        },
    )


SPECS = [NodeSpec(type="list-operator", validate=validate, outputs=outputs)]
RUNNERS = {"list-operator": run}
