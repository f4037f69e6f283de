"""Human Input: open a form, pause the run until someone submits it or it times out.

The form row (and its token) is written by activity ``open_human_input_form``; the workflow
then waits on the ``submit_human_input`` update under a durable timer
(``Executor.wait_for_input``) and records the ending with ``close_human_input_form``. The
chosen action's id is the branch handle; a timeout takes ``__timeout``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tideflow.workflows.engine.context import JSON_OBJECT, NodeContext, NodeResult
from tideflow.workflows.engine.recorder import epoch
from tideflow.workflows.nodes._common import as_dict, as_list
from tideflow.workflows.nodes._human_form import (
    fill_outputs,
    form_inputs,
    input_names,
    timeout_seconds,
    validate,
)
from tideflow.workflows.nodes.spec import NodeSpec

OPEN_ACTIVITY = "open_human_input_form"
CLOSE_ACTIVITY = "close_human_input_form"
TIMEOUT_HANDLE = "__timeout"


def outputs(data: dict[str, Any]) -> set[str] | None:
    """Each input's ``output_variable_name``, ``__action_id`` and ``__rendered_content``."""
    return {*input_names(data), "__action_id", "__rendered_content"}


def _actions(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [as_dict(a) for a in as_list(data.get("user_actions"))]


async def run(ctx: NodeContext) -> NodeResult:
    """Open the form, emit ``human_input_required`` + ``workflow_paused``, wait, branch."""
    node, state = ctx.node, ctx.state
    recorder, executor = state.recorder, state.executor
    content = ctx.render(str(ctx.data.get("form_content") or ""))
    inputs, defaults = form_inputs(ctx.data, ctx.pool)
    actions = _actions(ctx.data)
    timeout = timeout_seconds(ctx.data)
    expires = epoch(executor.now() + timedelta(seconds=timeout))
    found, conversation_id = ctx.find(["sys", "conversation_id"])
    opened = await ctx.call_activity(
        OPEN_ACTIVITY,
        {
            "run_id": recorder.run_id,
            "node_id": node.id,
            "node_title": node.title,
            "node_run_id": ctx.run.id,
            "rendered_content": content,
            "definition": {
                "inputs": inputs,
                "user_actions": actions,
                "resolved_default_values": defaults,
            },
            "expires_at": expires,
            "conversation_id": conversation_id if found and conversation_id else None,
        },
        JSON_OBJECT,
        timeout_seconds=30.0,
        limits_own_attempts=True,
    )
    form_id = opened.get("form_id")
    recorder.emit(
        "human_input_required",
        node.id,
        form_id=form_id,
        form_token=opened.get("form_token"),
        node_title=node.title,
        form_content=content,
        inputs=inputs,
        actions=actions,
        resolved_default_values=defaults,
        expiration_time=expires,
        display_in_ui=bool(ctx.data.get("display_in_ui", True)),
    )
    recorder.emit(
        "workflow_paused",
        None,
        paused_nodes=[node.id],
        reasons=[
            {
                "type": "hitl_required",
                "session_id": form_id,
                "node_id": node.id,
                "node_title": node.title,
            }
        ],
        outputs={},
        status="paused",
        total_tokens=recorder.total_tokens,
        total_steps=len(recorder.node_runs),
    )
    submission = await executor.wait_for_input(ctx.run.id, timeout)
    outcome = "timeout" if submission is None else "submitted"
    close = {"run_id": recorder.run_id, "node_run_id": ctx.run.id, "outcome": outcome}
    await ctx.call_activity(
        CLOSE_ACTIVITY, close, JSON_OBJECT, timeout_seconds=30.0, limits_own_attempts=True
    )
    form_inputs_seen = {"form_id": form_id, "form_content": content}
    # The run goes on (Dify: a new workflow_started, reason ``resumption``).
    recorder.emit(
        "workflow_started",
        None,
        id=recorder.run_id,
        inputs=state.start_inputs,
        reason="resumption",
    )
    if submission is None:
        recorder.emit(
            "human_input_form_timeout",
            node.id,
            node_title=node.title,
            expiration_time=expires,
        )
        return NodeResult(
            inputs=form_inputs_seen,
            outputs={"__rendered_content": content},
            handles=[TIMEOUT_HANDLE],
        )
    values = as_dict(submission.get("inputs"))
    action = str(submission.get("action", ""))
    rendered = fill_outputs(content, values)
    action_text = next((str(a.get("title", "")) for a in actions if a.get("id") == action), "")
    recorder.emit(
        "human_input_form_filled",
        node.id,
        node_title=node.title,
        rendered_content=rendered,
        action_id=action,
        action_text=action_text,
        submitted_data=values,
    )
    result = {name: values.get(name) for name in input_names(ctx.data)}
    result.update({"__action_id": action, "__rendered_content": rendered})
    return NodeResult(inputs=form_inputs_seen, outputs=result, handles=[action])


SPECS = [NodeSpec(type="human-input", validate=validate, outputs=outputs)]
RUNNERS = {"human-input": run}
