"""One whole run: validate inputs, seed the pool, apply pins, walk the graph, sum up."""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.context import RunState, Scope, SubgraphOutcome
from tideflow.workflows.engine.errors import RunInputError
from tideflow.workflows.engine.executor import Executor
from tideflow.workflows.engine.inputs import validate_start_inputs
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult, RunStatus
from tideflow.workflows.engine.pool import VariablePool
from tideflow.workflows.engine.recorder import RunRecorder, bound_node_run, json_size
from tideflow.workflows.engine.walker import GraphWalker
from tideflow.workflows.graph.plan import CHAT_MODES
from tideflow.workflows.nodes import NODE_SPECS
from tideflow.workflows.nodes.values import parse_typed

__all__ = ["RESULT_LIMIT", "RunRecorder", "effective_pins", "run_graph"]

# Temporal refuses a workflow result over 2 MiB (and retries the workflow task forever): the
# result stays under this many bytes of JSON. Its outputs and answer are the run's product and
# are never cut: over the limit the run fails instead; its node records are cut as needed.
RESULT_LIMIT = 1_500_000
# Per-value budgets for the node records when the whole result would be over the limit.
_RECORD_BUDGETS = (4096, 256, 0)


def effective_pins(run_input: GraphRunInput) -> dict[str, dict[str, Any]]:
    """The caller's pins plus, with ``mock_external``, mock outputs for external nodes."""
    pins = dict(run_input.pins)
    if not run_input.mock_external:
        return pins
    for node in run_input.plan.nodes.values():
        spec = NODE_SPECS.get(node.type)
        if node.id in pins or spec is None or not spec.external or spec.mock_outputs is None:
            continue
        pins[node.id] = spec.mock_outputs(node.data)
    return pins


def _seed_pool(run_input: GraphRunInput, run_id: str, timestamp: int) -> VariablePool:
    plan = run_input.plan
    pool = VariablePool()
    system = {
        "user_id": run_input.user,
        "app_id": run_input.app_id,
        "workflow_id": run_input.workflow_id,
        "workflow_run_id": run_id,
        "timestamp": timestamp,
        "files": run_input.files,
    }
    if plan.mode in CHAT_MODES:
        system["query"] = run_input.query or ""
        system["conversation_id"] = run_input.conversation_id or ""
        system["dialogue_count"] = run_input.dialogue_count
    pool.set_outputs("sys", system)
    for env in plan.environment_variables:
        pool.set("env", env.name, parse_typed(env.value, env.value_type), env.value_type)
    current = run_input.conversation_variables or {}
    for var in plan.conversation_variables:
        value = current.get(var.name, var.value)
        pool.set("conversation", var.name, parse_typed(value, var.value_type), var.value_type)
    return pool


async def run_graph(
    run_input: GraphRunInput, executor: Executor, recorder: RunRecorder | None = None
) -> GraphRunResult:
    """Run the plan to the end and return the result (never raises for a failed run)."""
    recorder = recorder or RunRecorder()
    plan = run_input.plan
    run_id = run_input.run_id or executor.new_id()
    started = recorder.start(run_id, executor.now)
    timestamp = run_input.timestamp
    if timestamp is None:
        timestamp = int(started.timestamp())
    pool = _seed_pool(run_input, run_id, timestamp)
    recorder.emit(
        "workflow_started",
        None,
        id=run_id,
        workflow_id=run_input.workflow_id,
        inputs=run_input.inputs,
    )
    root = plan.nodes.get(plan.root_id)
    try:
        variables: list[dict[str, Any]] = root.data.get("variables") or [] if root else []
        start_inputs = validate_start_inputs(variables, run_input.inputs)
    except RunInputError as err:
        return _finish(recorder, pool, "failed", str(err), {})

    async def run_subgraph(start_id: str, frame: VariablePool, scope: Scope) -> SubgraphOutcome:
        container = plan.nodes[start_id].parent_id
        return await GraphWalker(state, container, frame, scope).run(start_id)

    state = RunState(
        plan=plan,
        executor=executor,
        recorder=recorder,
        pins=effective_pins(run_input),
        start_inputs=start_inputs,
        run_subgraph=run_subgraph,
        tenant_id=run_input.tenant_id,
        history=list(run_input.history),
        call_depth=run_input.call_depth,
    )
    outcome = await GraphWalker(state, None, pool, None).run(plan.root_id)
    outputs = dict(recorder.outputs)
    if outcome.error is not None:
        return _finish(recorder, pool, "failed", outcome.error.message, outputs)
    status: RunStatus = "partial-succeeded" if recorder.exceptions_count else "succeeded"
    return _finish(recorder, pool, status, None, outputs)


def _finish(
    recorder: RunRecorder,
    pool: VariablePool,
    status: RunStatus,
    error: str | None,
    outputs: dict[str, Any],
) -> GraphRunResult:
    """Record ``workflow_finished`` and sum the run up (a result Temporal accepts)."""
    answer = recorder.answer
    conversation = pool.items("conversation")
    product = json_size({"outputs": outputs, "answer": answer, "vars": conversation})
    if product > RESULT_LIMIT:
        what = "outputs" if json_size(outputs) > RESULT_LIMIT // 2 else "outputs and answer"
        status, outputs, answer = "failed", {}, ""
        error = (
            f"The run's {what} are too large: {product} bytes of JSON, over the limit of "
            f"{RESULT_LIMIT} bytes a run result may carry"
        )
        # Keep the previous conversation values: the turn failed.
        conversation = {}
    elapsed, total_steps = recorder.finish_run(status, outputs, error)
    result = GraphRunResult(
        status=status,
        run_id=recorder.run_id,
        outputs=outputs,
        answer=answer,
        error=error,
        node_runs=list(recorder.node_runs),
        conversation_variables=conversation,
        exceptions_count=recorder.exceptions_count,
        total_steps=total_steps,
        total_tokens=recorder.total_tokens,
        usage=recorder.usage,
        elapsed=elapsed,
    )
    return _fit(result)


def _fit(result: GraphRunResult) -> GraphRunResult:
    """``result`` with its node records cut down until it is within ``RESULT_LIMIT``."""
    for budget in _RECORD_BUDGETS:
        if len(result.model_dump_json().encode()) <= RESULT_LIMIT:
            return result
        runs = [run.model_copy() for run in result.node_runs]
        for run in runs:
            bound_node_run(run, budget)
        result = result.model_copy(update={"node_runs": runs})
    if len(result.model_dump_json().encode()) > RESULT_LIMIT:
        result = result.model_copy(update={"node_runs": []})
    return result
