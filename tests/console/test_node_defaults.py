"""The editor's "Add node" defaults, without a browser: a human-input node and each trigger, added
as the console adds them, make a draft the API's draft check accepts; their output names are the
ones the node registry declares, so an End node can read every one of them."""

from __future__ import annotations

from typing import Any

import pytest

from tideflow.console.graph_canvas import add_node, new_edge
from tideflow.console.node_fields import branches
from tideflow.console.node_types import DEFAULTS, output_names
from tideflow.console.variables import nodes_by_id
from tideflow.platform.drafts import draft_problems, parse_dsl
from tideflow.workflows.graph.specs import is_known, node_specs

NEW_TYPES = ("human-input", "trigger-webhook", "trigger-schedule")


def _problems(graph: dict[str, Any]) -> list[str]:
    """The draft's problems as the API's ``POST .../workflows/draft`` lists them."""
    source = {
        "kind": "app",
        "version": "0.6.0",
        "app": {"name": "defaults", "mode": "workflow"},
        "workflow": {"graph": graph, "features": {}, "environment_variables": []},
    }
    return [f"{p.node_id} {p.field}: {p.message}" for p in draft_problems(parse_dsl(source))]


def _end_reading_all(graph: dict[str, Any], source: str, handle: str = "source") -> None:
    """An End node after ``source`` (from its ``handle``) with one output per output name."""
    end = add_node(graph, "end", None)
    nodes = nodes_by_id(graph)
    names = output_names(nodes[source]["data"])
    nodes[end]["data"]["outputs"] = [
        {"variable": name.strip("_") or "raw", "value_selector": [source, name]} for name in names
    ]
    graph["edges"].append(new_edge(nodes, source, end, handle))


def _spec_outputs(data: dict[str, Any]) -> set[str]:
    """The outputs the node registry declares for ``data`` (None would mean any name)."""
    declared = node_specs()[data["type"]].outputs(data)
    assert declared is not None
    return declared


def test_every_offered_type_is_one_the_api_knows() -> None:
    assert [t for t in DEFAULTS if not is_known(t)] == []
    assert set(NEW_TYPES) <= set(DEFAULTS)


@pytest.mark.parametrize("node_type", NEW_TYPES)
def test_a_new_default_node_passes_its_own_check(node_type: str) -> None:
    graph: dict[str, Any] = {"nodes": [], "edges": []}
    node_id = add_node(graph, node_type, None)
    data = nodes_by_id(graph)[node_id]["data"]
    assert node_specs()[node_type].validate(data) == []
    assert set(output_names(data)) == _spec_outputs(data)


def test_human_input_after_start_with_an_end_per_action() -> None:
    graph: dict[str, Any] = {"nodes": [], "edges": []}
    start = add_node(graph, "start", None)
    form = add_node(graph, "human-input", start)
    nodes = nodes_by_id(graph)
    nodes[form]["data"]["inputs"] = [
        {"type": "paragraph", "output_variable_name": "comment", "default": None}
    ]
    actions = [a["id"] for a in nodes[form]["data"]["user_actions"]]
    assert actions == ["approve", "reject"]
    for action in actions:
        _end_reading_all(graph, form, action)
    assert _problems(graph) == []
    data = nodes[form]["data"]
    assert output_names(data) == ["comment", "__action_id", "__rendered_content"]
    assert set(output_names(data)) == _spec_outputs(data)


def test_webhook_trigger_as_the_root_with_its_parameters_read() -> None:
    graph: dict[str, Any] = {"nodes": [], "edges": []}
    hook = add_node(graph, "trigger-webhook", None)
    assert _problems(graph) == []  # the default alone
    data = nodes_by_id(graph)[hook]["data"]
    data["headers"] = [{"name": "X-Signature", "type": "string", "required": True}]
    data["params"] = [{"name": "page", "type": "number", "required": False}]
    data["body"] = [{"name": "item", "type": "object", "required": True}]
    _end_reading_all(graph, hook)
    assert _problems(graph) == []
    assert output_names(data) == ["X_Signature", "page", "item", "_webhook_raw"]
    assert set(output_names(data)) == _spec_outputs(data)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({}, None),
        ({"frequency": "weekly"}, None),
        ({"mode": "cron", "cron_expression": "*/15 9-17 * * mon-fri"}, None),
        ({"mode": "cron"}, "cron_expression: cron_expression is required in cron mode"),
    ],
)
def test_schedule_trigger_as_the_root(change: dict[str, Any], problem: str | None) -> None:
    graph: dict[str, Any] = {"nodes": [], "edges": []}
    schedule = add_node(graph, "trigger-schedule", None)
    add_node(graph, "end", schedule)
    nodes_by_id(graph)[schedule]["data"].update(change)
    assert _problems(graph) == ([f"{schedule} {problem}"] if problem else [])
    assert output_names(nodes_by_id(graph)[schedule]["data"]) == []


@pytest.mark.parametrize(
    ("branching", "handle"),
    [("human-input", "approve"), ("if-else", "true"), ("template-transform", "source")],
)
def test_a_node_added_after_a_branching_node_joins_its_first_branch(
    branching: str, handle: str
) -> None:
    graph: dict[str, Any] = {"nodes": [], "edges": []}
    start = add_node(graph, "start", None)
    middle = add_node(graph, branching, start)
    after = add_node(graph, "end", middle)
    [edge] = [e for e in graph["edges"] if e["target"] == after]
    assert (edge["source"], edge["sourceHandle"]) == (middle, handle)
    data = nodes_by_id(graph)[middle]["data"]
    assert edge["sourceHandle"] in branches(data)  # the editor offers the branch it used
    if branching == "human-input":
        assert branches(data) == ["approve", "reject", "__timeout"]
