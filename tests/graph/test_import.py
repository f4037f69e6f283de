"""Import of Dify DSL: envelopes, refusals and the normalisation of what real exports contain."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.graph.builders import edge, end, export, node, start
from tideflow.workflows.graph import DSLError, load_app


def _refusal(source: Any) -> str:
    with pytest.raises(DSLError) as caught:
        load_app(source)
    assert caught.value.problems
    return str(caught.value)


def test_app_export_from_text_and_path(tmp_path: Path) -> None:
    text = yaml.safe_dump(export([start("q"), end(["start", "q"])], [edge("start", "end")]))
    path = tmp_path / "app.yml"
    path.write_text(text, encoding="utf-8")
    for source in (text, path, str(path)):
        app = load_app(source)
        assert app.mode == "workflow"
        assert app.name == "Test app"
        assert [n.id for n in app.nodes] == ["start", "end"]
        assert app.app_extra == {"icon": "🤖"}


def test_bare_graph_and_graph_wrapper_infer_the_mode() -> None:
    answer = node("answer", "answer", answer="{{#sys.query#}}")
    bare = load_app({"nodes": [start(), answer], "edges": [edge("start", "answer", None)]})
    assert bare.mode == "advanced-chat"
    wrapped = load_app({"graph": {"nodes": [start(), end()], "edges": [edge("start", "end")]}})
    assert wrapped.mode == "workflow"


@pytest.mark.parametrize(
    ("mode", "words"), [("chat", "Chatbot"), ("completion", "Text"), ("agent-chat", "Agent")]
)
def test_modes_without_a_graph_need_their_model_config(mode: str, words: str) -> None:
    # These modes compile their model_config (tests/graph/test_model_config_import.py); a
    # graph in its place is refused naming what is missing.
    doc = export([start()], [], mode=mode)
    message = _refusal(doc)
    assert "model_config: missing" in message
    assert words in message


def test_malformed_yaml_is_located() -> None:
    message = _refusal("kind: app\napp: [unclosed\n  mode: workflow\n")
    assert message.startswith("app: yaml: line ")


def test_envelope_problems_are_all_reported() -> None:
    message = _refusal({"kind": "plugin", "version": "0.9.0", "app": {"mode": "workflow"}})
    assert "kind: expected 'app', got 'plugin'" in message
    assert "version: DSL 0.9.0 is newer" in message
    assert "workflow.graph: missing" in message


def test_missing_app_section_and_non_mapping() -> None:
    assert "missing app section" in _refusal({"kind": "app", "workflow": {"graph": {}}})
    assert "expected a mapping" in _refusal("- just\n- a list\n")


def test_nodes_without_data_are_not_a_graph_export() -> None:
    doc = {"nodes": [{"id": "a", "type": "start"}], "edges": []}
    assert "node a (): data: node has no data block" in _refusal(doc)


def test_missing_kind_and_version_are_filled_in_like_dify() -> None:
    doc = export([start(), end()], [edge("start", "end")])
    del doc["kind"], doc["version"]
    assert load_app(doc).dsl_version == "0.1.0"


def test_legacy_selectors_become_namespaced() -> None:
    code = node(
        "code",
        "code",
        code="def main(a, b, c): ...",
        outputs={"r": {"type": "string"}},
        variables=[
            {"variable": "a", "value_selector": ["start", "sys.query"]},
            {"variable": "b", "value_selector": ["start", "env.API_KEY"]},
            {"variable": "c", "value_selector": ["start", "conversation.topic"]},
        ],
    )
    app = load_app(export([start(), code], [edge("start", "code")]))
    selectors = [v["value_selector"] for v in app.node_map()["code"].data["variables"]]
    assert selectors == [["sys", "query"], ["env", "API_KEY"], ["conversation", "topic"]]


def test_end_outputs_get_a_value_type() -> None:
    out = node("end", "end", outputs=[{"variable": "x", "value_selector": ["start", "q"]}])
    app = load_app(export([start("q"), out], [edge("start", "end")]))
    assert app.node_map()["end"].data["outputs"][0]["value_type"] == "any"


def test_edges_without_handles_use_source_and_get_stable_ids() -> None:
    app = load_app({"nodes": [start(), end()], "edges": [edge("start", "end", None)] * 2})
    assert [(e.source_handle, e.id) for e in app.edges] == [("source", "start-source-end")]


@pytest.mark.parametrize(
    "retry",
    [
        {"enabled": True, "max_retries": 2, "retry_interval": 100},
        {"retry_enabled": True, "max_retries": 2, "retry_interval": 100},
    ],
)
def test_retry_config_spellings(retry: dict[str, Any]) -> None:
    llm = node("llm", "llm", retry_config=retry)
    app = load_app(export([start(), llm, end()], [edge("start", "llm"), edge("llm", "end")]))
    config = app.node_map()["llm"].data["retry_config"]
    assert config == {"retry_enabled": True, "max_retries": 2, "retry_interval": 100}


def test_notes_are_dropped_and_legacy_aggregator_renamed() -> None:
    note = {"id": "note", "type": "custom-note", "data": {"type": "", "text": "hi"}}
    agg = node("agg", "variable-assigner", output_type="string", variables=[["start", "q"]])
    app = load_app(export([start("q"), note, agg], [edge("start", "agg")]))
    assert [n.id for n in app.nodes] == ["start", "agg"]
    assert app.node_map()["agg"].type == "variable-aggregator"
    assert app.node_map()["agg"].data["type"] == "variable-aggregator"


def test_legacy_if_else_becomes_case_true() -> None:
    condition = {"variable_selector": ["start", "q"], "comparison_operator": "is", "value": "x"}
    branch = node("if", "if-else", logical_operator="or", conditions=[condition])
    data = load_app(export([start("q"), branch], [edge("start", "if")])).node_map()["if"].data
    assert "conditions" not in data
    assert data["cases"] == [
        {"case_id": "true", "id": "true", "logical_operator": "or", "conditions": [condition]}
    ]


def test_container_children_get_parent_ids_from_any_marker() -> None:
    it = node("it", "iteration", start_node_id="its", iterator_selector=["start", "q"])
    a = node("its", "iteration-start") | {"parentId": "it"}
    b = node("b", "template-transform", iteration_id="it", isInIteration=True, selected=True)
    c = node("c", "template-transform", loop_id="it", _hover=True)
    app = load_app(export([start("q"), it, a, b, c], [edge("start", "it")]))
    nodes = app.node_map()
    assert [nodes[i].parent_id for i in ("it", "its", "b", "c")] == [None, "it", "it", "it"]
    assert set(nodes["b"].data) == {"type", "title"}
    assert set(nodes["c"].data) == {"type", "title"}


def test_old_iterations_get_an_explicit_start_node() -> None:
    it = node("it", "iteration", start_node_id="first", iterator_selector=["start", "q"])
    first = node("first", "template-transform", iteration_id="it") | {"parentId": "it"}
    app = load_app(export([start("q"), it, first], [edge("start", "it")]))
    nodes = app.node_map()
    assert nodes["it"].data["start_node_id"] == "itstart"
    assert nodes["itstart"].type == "iteration-start"
    assert nodes["itstart"].parent_id == "it"
    assert ("itstart", "first") in {(e.source, e.target) for e in app.edges}


def test_hand_written_conversation_variable_ids_become_dify_uuid5() -> None:
    variables = [{"id": "opt-var", "name": "topic", "value_type": "string", "value": "-"}]
    ok_id = str(uuid.uuid4())
    variables.append({"id": ok_id, "name": "other", "value_type": "string", "value": ""})
    answer = node("answer", "answer", answer="{{#conversation.topic#}}")
    doc = export([start(), answer], [edge("start", "answer")], mode="advanced-chat")
    doc["workflow"]["conversation_variables"] = variables
    app = load_app(doc)
    expected = uuid.uuid5(uuid.NAMESPACE_URL, "dify:conversation-variable:topic")
    assert [v["id"] for v in app.conversation_variables] == [str(expected), ok_id]


def test_numeric_ids_are_strings() -> None:
    nodes = [node("1", "start", variables=[]), node("2", "end", outputs=[])]
    nodes[0]["id"], nodes[1]["id"] = 1, 2
    app = load_app(export(nodes, [{"source": 1, "target": 2}]))
    assert [n.id for n in app.nodes] == ["1", "2"]
    assert app.edges[0].id == "1-source-2"
