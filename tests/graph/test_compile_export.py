"""Compilation to an ExecutionPlan, and export back to Dify DSL without changing the meaning."""

from __future__ import annotations

import pytest
import yaml

from tests.graph.builders import edge, end, export, linear, node, start
from tideflow.workflows.graph import DSLError, compile_plan, export_dsl, load_app

pytestmark = pytest.mark.usefixtures("specs")


def _branching_app_doc() -> dict[str, object]:
    condition = {"variable_selector": ["start", "q"], "comparison_operator": "is", "value": "x"}
    branch = node("if", "if-else", logical_operator="and", conditions=[condition])
    yes = node("yes", "template-transform", template="yes", variables=[])
    no = node("no", "template-transform", template="no", variables=[])
    agg = node(
        "agg",
        "variable-assigner",
        output_type="string",
        variables=[["yes", "output"], ["no", "output"]],
    )
    it = node(
        "it",
        "iteration",
        start_node_id="inner",
        iterator_selector=["start", "q"],
        output_selector=["inner", "output"],
    )
    inner = node(
        "inner",
        "template-transform",
        template="{{ x }}",
        iteration_id="it",
        variables=[{"variable": "x", "value_selector": ["it", "item"]}],
    ) | {"parentId": "it"}
    out = node(
        "end",
        "end",
        outputs=[
            {"variable": "r", "value_selector": ["agg", "output"]},
            {"variable": "q", "value_selector": ["start", "sys.query"]},
        ],
    )
    edges = [
        edge("start", "if"),
        edge("if", "yes", "true"),
        edge("if", "no", "false"),
        edge("yes", "agg", None),
        edge("no", "agg"),
        edge("agg", "it"),
        edge("it", "end"),
    ]
    doc = export([start("q"), branch, yes, no, agg, it, inner, out], edges, version="0.1.0")
    doc["workflow"]["environment_variables"] = [
        {"id": "e1", "name": "KEY", "value_type": "string", "value": "v"}
    ]
    return doc


def test_compile_keeps_dify_data_and_is_deterministic() -> None:
    doc = _branching_app_doc()
    plan = compile_plan(load_app(doc))
    assert plan.mode == "workflow"
    assert plan.root_id == "start"
    assert plan.nodes["if"].data["cases"][0]["case_id"] == "true"
    assert plan.nodes["agg"].type == "variable-aggregator"
    assert plan.nodes["inner"].parent_id == "it"
    assert plan.nodes["itstart"].type == "iteration-start"
    assert plan.nodes["end"].data["outputs"][1]["value_selector"] == ["sys", "query"]
    assert [e.id for e in plan.edges][:3] == ["start-source-if", "if-true-yes", "if-false-no"]
    assert plan.environment_variables[0].name == "KEY"
    assert compile_plan(load_app(doc)).content_hash() == plan.content_hash()


def test_round_trip_keeps_the_plan_hash() -> None:
    app = load_app(_branching_app_doc())
    text = export_dsl(app)
    exported = yaml.safe_load(text)
    assert exported["kind"] == "app"
    assert exported["version"] == "0.6.0"
    assert exported["app"]["mode"] == "workflow"
    again = load_app(text)
    assert compile_plan(again).content_hash() == compile_plan(app).content_hash()
    assert export_dsl(again) == text


def test_export_writes_container_markers_and_canvas() -> None:
    exported = yaml.safe_load(export_dsl(load_app(_branching_app_doc())))
    nodes = {n["id"]: n for n in exported["workflow"]["graph"]["nodes"]}
    assert nodes["inner"]["parentId"] == "it"
    assert nodes["inner"]["data"]["iteration_id"] == "it"
    assert nodes["inner"]["data"]["isInIteration"] is True
    assert nodes["itstart"]["type"] == "custom-iteration-start"
    assert nodes["start"]["position"] == {"x": 0, "y": 0}
    handles = {(e["source"], e["sourceHandle"]) for e in exported["workflow"]["graph"]["edges"]}
    assert ("if", "true") in handles


def test_edit_changes_the_hash() -> None:
    plan = compile_plan(linear(node("t", "template-transform", template="a", variables=[])))
    other = compile_plan(linear(node("t", "template-transform", template="b", variables=[])))
    assert plan.content_hash() != other.content_hash()


def test_compile_refuses_a_broken_graph_but_not_unimplemented_nodes() -> None:
    with pytest.raises(DSLError) as caught:
        compile_plan(load_app(export([start(), end(["ghost", "x"])], [edge("start", "end")])))
    assert "refers to node ghost" in str(caught.value)
    # Pins and mocks are per run, so an unimplemented type still compiles.
    plan = compile_plan(linear(node("llm", "llm")))
    assert plan.nodes["llm"].type == "llm"
