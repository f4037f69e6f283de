"""The human-input node: config checks, outputs and branches, and the durable timeout on a
time-skipping Temporal server with the real form activities."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.runtime.graphs import edge, end, node, run
from tests.runtime.support import LocalExecutor, plan_from_graph
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.worker import registered_activities
from tideflow.workflows.engine.models import GraphRunInput, RunEvent
from tideflow.workflows.interpreter import GraphWorkflow
from tideflow.workflows.nodes import NODE_SPECS
from tideflow.workflows.nodes._human_form import check_submission

FORM: dict[str, Any] = {
    "form_content": "Review {{#start.topic#}}.\nComment: {{#$output.comment#}}",
    "inputs": [
        {"type": "paragraph", "output_variable_name": "comment"},
        {
            "type": "select",
            "output_variable_name": "level",
            "option_source": {"type": "constant", "selector": [], "value": ["low", "high"]},
        },
    ],
    "user_actions": [
        {"id": "approve", "title": "Approve", "button_style": "primary"},
        {"id": "reject", "title": "Reject", "button_style": "default"},
    ],
    "timeout": 3,
    "timeout_unit": "day",
}


def review_graph(form: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    start = node("start", "start", variables=[{"variable": "topic", "type": "text-input"}])
    nodes = [
        start,
        node("human", "human-input", **form),
        node("ok", "end", outputs=[{"variable": "c", "value_selector": ["human", "comment"]}]),
        node("no", "end", outputs=[{"variable": "r", "value_selector": ["human", "__action_id"]}]),
        end(("late", ["human", "__rendered_content"])),
    ]
    edges = [
        edge("start", "human"),
        edge("human", "ok", "approve"),
        edge("human", "no", "reject"),
        edge("human", "end", "__timeout"),
    ]
    return nodes, edges


async def _open(_request: dict[str, Any]) -> dict[str, Any]:
    return {"form_token": "token-1", "form_id": None}


async def _close(request: dict[str, Any]) -> dict[str, Any]:
    return {"outcome": request["outcome"]}


def _executor() -> LocalExecutor:
    return LocalExecutor(
        {"open_human_input_form": _open, "close_human_input_form": _close},
    )


def test_config_problems_name_their_field() -> None:
    validate = NODE_SPECS["human-input"].validate
    assert validate(FORM) == []
    bad = {
        "inputs": [
            {"type": "paragraph", "output_variable_name": "a"},
            {"type": "paragraph", "output_variable_name": "a"},
            {"type": "select", "output_variable_name": "s", "option_source": {"type": "constant"}},
            {"type": "slider", "output_variable_name": "1x"},
        ],
        "user_actions": [{"id": "go"}, {"id": "go"}, {"id": "x" * 21, "button_style": "pink"}],
        "timeout": -1,
        "timeout_unit": "week",
    }
    assert validate(bad) == [
        ("inputs[1].output_variable_name", "a is used twice"),
        ("inputs[2].option_source.value", "needs at least one option"),
        ("inputs[3].type", "unknown input type 'slider'"),
        ("inputs[3].output_variable_name", "must be an identifier"),
        ("user_actions[1].id", "go is used twice"),
        ("user_actions[2].id", "must be an identifier of at most 20 chars"),
        ("user_actions[2].button_style", "unknown style 'pink'"),
        ("timeout", "must be a positive whole number"),
        ("timeout_unit", "must be hour or day"),
    ]
    assert validate({"inputs": []}) == [("user_actions", "at least one action is required")]
    assert NODE_SPECS["human-input"].outputs(FORM) == {
        "comment",
        "level",
        "__action_id",
        "__rendered_content",
    }


def test_submission_checks_name_the_field() -> None:
    definition = {"inputs": FORM["inputs"], "user_actions": FORM["user_actions"]}
    assert check_submission(definition, "approve", {"comment": "fine", "level": "low"}) == []
    problems = check_submission(definition, "maybe", {"level": "mid"})
    assert [field for field, _ in problems] == ["action", "inputs.comment", "inputs.level"]
    assert "maybe" in problems[0][1] and "'mid' is not one of" in problems[2][1]


async def test_submission_takes_the_action_branch_with_outputs() -> None:
    executor = _executor()
    executor.form_answers.append(
        {"action": "approve", "inputs": {"comment": "looks good", "level": "high"}}
    )
    nodes, edges = review_graph(FORM)
    result = await run(nodes, edges, executor=executor, inputs={"topic": "the plan"})
    assert result.status == "succeeded"
    assert result.outputs == {"c": "looks good"}
    human = next(r for r in result.node_runs if r.node_id == "human")
    assert human.outputs == {
        "comment": "looks good",
        "level": "high",
        "__action_id": "approve",
        "__rendered_content": "Review the plan.\nComment: looks good",
    }
    assert executor.waits == [(human.id, 3 * 86400.0)]
    assert [name for name, _, _ in executor.calls] == [
        "open_human_input_form",
        "close_human_input_form",
    ]


async def test_timeout_without_edge_ends_the_branch() -> None:
    nodes, edges = review_graph({**FORM, "timeout": None})
    edges = [e for e in edges if e["sourceHandle"] != "__timeout"]
    executor = _executor()
    result = await run(nodes, edges, executor=executor, inputs={"topic": "x"})
    assert result.status == "succeeded"
    assert result.outputs == {}
    assert executor.waits[0][1] == 36 * 3600.0  # the default timeout


def _events(events: list[RunEvent], name: str) -> list[RunEvent]:
    return [e for e in events if e.event == name]


async def test_timeout_after_seven_days_on_time_skipping_server(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real form activities, against an app DB of this test (the run has no record in it,
    # as for a run outside the platform: the form opens without a row).
    monkeypatch.setenv("TIDEFLOW_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    upgrade_database(get_settings().db_url)
    nodes, edges = review_graph({**FORM, "timeout": 7, "timeout_unit": "day"})
    plan = plan_from_graph("workflow", nodes, edges)
    client = time_skipping_env.client
    temporal = TideflowTemporal(Settings())
    try:
        async with temporal.worker(
            client,
            workflows=[GraphWorkflow],
            activities=registered_activities(),
            task_queue=task_queue,
        ):
            handle = await client.start_workflow(
                GraphWorkflow.run,
                GraphRunInput(plan=plan, inputs={"topic": "budget"}),
                id=f"human-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
            )
            result = await handle.result()
            events: list[RunEvent] = await handle.query(GraphWorkflow.events, 0)
    finally:
        get_settings.cache_clear()
    assert result.status == "succeeded"
    assert result.outputs == {"late": "Review budget.\nComment: {{#$output.comment#}}"}
    required = _events(events, "human_input_required")[0].data
    assert len(str(required["form_token"])) >= 40
    assert [a["id"] for a in required["actions"]] == ["approve", "reject"]
    timeout = _events(events, "human_input_form_timeout")[0]
    assert timeout.data["expiration_time"] == required["expiration_time"]
    # The timer fired seven days (workflow time) after the form opened.
    assert timeout.created_at - _events(events, "workflow_paused")[0].created_at >= 7 * 86400
    human = next(r for r in result.node_runs if r.node_id == "human")
    assert set(human.outputs) == {"__rendered_content"}
