"""Iteration: runs its subgraph once per item, sequentially or in parallel, in input order."""

from __future__ import annotations

import asyncio
from typing import Any

from tideflow.workflows.engine.context import NodeContext, NodeResult, Scope
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.nodes._common import is_selector, require, require_selector
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

MAX_PARALLEL = 10
ERROR_MODES = frozenset({"terminated", "continue-on-error", "remove-abnormal-output"})
_DROP: Any = object()  # marks an item removed by remove-abnormal-output


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Iterator and output selectors, a start node, a known error mode."""
    problems = require_selector(data, "iterator_selector") + require(data, "start_node_id")
    if data.get("output_selector") and not is_selector(data.get("output_selector")):
        problems.append(("output_selector", "must be a variable selector"))
    if data.get("error_handle_mode", "terminated") not in ERROR_MODES:
        problems.append(("error_handle_mode", f"unknown mode {data.get('error_handle_mode')}"))
    if data.get("is_parallel") and int(data.get("parallel_nums") or 10) < 1:
        problems.append(("parallel_nums", "must be at least 1"))
    return problems


def outputs(_data: dict[str, Any]) -> set[str] | None:
    """Always ``output``."""
    return {"output"}


async def _run_item(ctx: NodeContext, index: int, item: Any) -> Any:
    node_id, data = ctx.node.id, ctx.data
    frame = ctx.pool.child()
    frame.set(node_id, "item", item)
    frame.set(node_id, "index", index)
    ctx.container_event("iteration_next", index=index)
    outcome = await ctx.state.run_subgraph(str(data["start_node_id"]), frame, Scope(node_id, index))
    mode = str(data.get("error_handle_mode", "terminated"))
    if outcome.error is not None:
        if mode == "continue-on-error":
            return None
        if mode == "remove-abnormal-output":
            return _DROP
        raise NodeError(outcome.error.message, outcome.error.error_type)
    selector = data.get("output_selector")
    return frame.get(selector) if is_selector(selector) else None


def flatten(results: list[Any]) -> list[Any]:
    """Concatenate when every non-null item output is a list (``flatten_output``)."""
    present = [r for r in results if r is not None]
    if not present or not all(isinstance(r, list) for r in present):
        return results
    flat: list[Any] = []
    for r in present:
        flat.extend(r)
    return flat


async def _run_items(ctx: NodeContext, values: list[Any]) -> list[Any]:
    data = ctx.data
    if not data.get("is_parallel"):
        return [await _run_item(ctx, i, v) for i, v in enumerate(values)]
    limit = asyncio.Semaphore(max(1, min(MAX_PARALLEL, int(data.get("parallel_nums") or 10))))

    async def bounded(index: int, item: Any) -> Any:
        async with limit:
            return await _run_item(ctx, index, item)

    tasks = [asyncio.create_task(bounded(i, v)) for i, v in enumerate(values)]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


async def run(ctx: NodeContext) -> NodeResult:
    """Items run in frames of their own; outputs keep the input order."""
    data = ctx.data
    items = ctx.resolve(data["iterator_selector"])
    if items is None:
        items = []
    if not isinstance(items, list):
        raise NodeError("Iterator variable must be an array", "IteratorVariableNotFoundError")
    values: list[Any] = items  # pyright: ignore[reportUnknownVariableType]
    inputs = {"iterator_selector": values}
    started, count = ctx.state.executor.now(), len(values)
    meta = {"iterator_length": count}
    ctx.container_event("iteration_started", inputs=inputs, count=count, metadata=meta)
    done = {"inputs": inputs, "count": count, "steps": count}
    try:
        results = await _run_items(ctx, values)
    except NodeError as err:
        ctx.container_completed(
            "iteration_completed", started, **done, outputs={}, status="failed", error=err.message
        )
        raise
    results = [r for r in results if r is not _DROP]
    if data.get("flatten_output", True):
        results = flatten(results)
    outputs = {"output": results}
    ctx.container_completed(
        "iteration_completed", started, **done, outputs=outputs, status="succeeded", error=None
    )
    return NodeResult(inputs=inputs, outputs=outputs)


SPECS = [
    NodeSpec(type="iteration", validate=validate, outputs=outputs),
    NodeSpec(type="iteration-start", outputs=lambda _d: set()),
]


async def run_start(_ctx: NodeContext) -> NodeResult:
    """The fake entry of an iteration subgraph."""
    return NodeResult()


RUNNERS = {"iteration": run, "iteration-start": run_start}
