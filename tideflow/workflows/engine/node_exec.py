"""Runs one node: pins, engine-level retries, error strategies, events and its NodeRun."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tideflow.workflows.engine.context import (
    RETRY_NODE_TYPES,
    NodeContext,
    NodeResult,
    RunState,
    Scope,
    retry_settings,
)
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.engine.models import NodeRun
from tideflow.workflows.engine.pool import VariablePool
from tideflow.workflows.engine.recorder import epoch
from tideflow.workflows.graph.plan import PlanNode
from tideflow.workflows.nodes import NODE_RUNNERS, NODE_SPECS

PIN_ERROR_KEY = "__error__"


def _pinned_result(node: PlanNode, pin: dict[str, Any]) -> NodeResult:
    if PIN_ERROR_KEY in pin:
        raise NodeError(str(pin[PIN_ERROR_KEY]), str(pin.get("__error_type__", "PinnedNodeError")))
    outputs = dict(pin)
    handles: list[str] | None = None
    if node.type == "if-else":
        case = outputs.get("selected_case_id")
        handles = [str(case)] if case else ["true" if outputs.get("result") else "false"]
    elif node.type == "question-classifier" and outputs.get("class_id"):
        handles = [str(outputs["class_id"])]
    elif node.type == "human-input" and outputs.get("__action_id"):
        handles = [str(outputs["__action_id"])]
    return NodeResult(outputs=outputs, handles=handles)


def _default_value(item: dict[str, Any]) -> Any:
    value = item.get("value")
    kind = str(item.get("type", "string"))
    if isinstance(value, str) and (kind in ("object", "number") or kind.startswith("array")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _recover(node: PlanNode, err: NodeError) -> NodeResult | None:
    """The result of a failed node under its error strategy, or None when it just fails."""
    strategy = node.data.get("error_strategy")
    base = {"error_message": err.message, "error_type": err.error_type}
    if strategy == "default-value":
        defaults: list[dict[str, Any]] = node.data.get("default_value") or []
        outputs = {str(d.get("key")): _default_value(d) for d in defaults if d.get("key")}
        return NodeResult(outputs={**outputs, **base})
    if strategy == "fail-branch":
        return NodeResult(outputs=base, handles=["fail-branch"])
    return None


async def _attempt(ctx: NodeContext, pin: dict[str, Any] | None) -> NodeResult:
    if pin is not None:
        return _pinned_result(ctx.node, pin)
    runner = NODE_RUNNERS.get(ctx.node.type)
    if runner is None:
        spec = NODE_SPECS.get(ctx.node.type)
        what = "is not implemented yet" if spec else "is unknown"
        raise NodeError(
            f"Node type '{ctx.node.type}' {what}: pin or mock node {ctx.node.id}",
            "NotImplementedNodeError",
        )
    try:
        return await runner(ctx)
    except NodeError:
        raise
    except Exception as exc:  # a bug or bad config must fail the node, not the workflow task
        raise NodeError(str(exc) or type(exc).__name__, type(exc).__name__) from exc


async def _run_with_retries(ctx: NodeContext) -> tuple[NodeResult | None, NodeError | None]:
    """Attempts until success or no retry is left, then the error strategy; sets the status."""
    node, state, run = ctx.node, ctx.state, ctx.run
    retries, interval = retry_settings(node.data) if node.type in RETRY_NODE_TYPES else (0, 0.0)
    while True:
        try:
            result = await _attempt(ctx, state.pins.get(node.id))
        except NodeError as err:
            if not err.retried and run.attempts <= retries:
                ctx.record_retry(err.message, err.error_type)
                if interval:
                    await state.executor.sleep(interval)
                continue
            run.error, run.error_type = err.message, err.error_type
            result = _recover(node, err)
            if result is None:
                run.status = "failed"
                return None, err
            run.status = "exception"
            state.recorder.exceptions_count += 1
            return result, None
        run.status = "succeeded"
        return result, None


def _node_fields(state: RunState, run: NodeRun) -> dict[str, Any]:
    """What node_started and node_finished share (Dify's node event fields)."""
    kind = state.plan.nodes[run.container_id].type if run.container_id else None
    in_iteration, in_loop = kind == "iteration", kind == "loop"
    return {
        "run_id": run.id,
        "node_type": run.node_type,
        "title": run.title,
        "index": run.index,
        "predecessor_node_id": run.predecessor_node_id,
        "iteration_id": run.container_id if in_iteration else None,
        "iteration_index": run.container_index if in_iteration else None,
        "loop_id": run.container_id if in_loop else None,
        "loop_index": run.container_index if in_loop else None,
    }


def _finish(state: RunState, run: NodeRun, started: datetime) -> None:
    ended = state.executor.now()
    run.elapsed = (ended - started).total_seconds()
    run.finished_at = epoch(ended)
    state.recorder.node_finished(run, _node_fields(state, run))


async def execute_node(
    state: RunState,
    node: PlanNode,
    pool: VariablePool,
    scope: Scope | None,
    *,
    predecessor: str | None = None,
    succeeded: Callable[[NodeResult], None] | None = None,
) -> tuple[NodeRun, NodeResult | None, NodeError | None]:
    """Run ``node``; returns its record, its result (None when it failed) and its error.

    ``succeeded`` is called once the outputs are in the pool and before ``node_finished`` (the
    walker decides the edges there, and streams what became ready). A cancelled node (the run
    is stopped, or a parallel branch failed) is recorded as ``stopped`` before the
    cancellation goes on.
    """
    executor, recorder = state.executor, state.recorder
    started = executor.now()
    run = NodeRun(
        id=executor.new_id(),
        node_id=node.id,
        node_type=node.type,
        title=node.title,
        pinned=node.id in state.pins,
        container_id=scope.container_id if scope else None,
        container_index=scope.index if scope else None,
        index=recorder.next_node_index(),
        predecessor_node_id=predecessor,
        created_at=epoch(started),
    )
    # Inputs known before the node runs: the Start node's validated run inputs.
    known = dict(state.start_inputs) if node.id == state.plan.root_id else {}
    recorder.node_started(node.id, _node_fields(state, run), known)
    ctx = NodeContext(node=node, pool=pool, state=state, run=run, scope=scope)
    try:
        result, error = await _run_with_retries(ctx)
    except asyncio.CancelledError:
        run.status, run.error, run.error_type = "stopped", "stopped", None
        _finish(state, run, started)
        raise
    if result is not None:
        run.inputs, run.outputs, run.process_data = (
            result.inputs,
            result.outputs,
            result.process_data,
        )
        pool.set_outputs(node.id, result.outputs)
        if node.type == "answer":
            recorder.answer_finished(str(result.outputs.get("answer", "")))
        if succeeded is not None:
            succeeded(result)
    _finish(state, run, started)
    return run, result, error
