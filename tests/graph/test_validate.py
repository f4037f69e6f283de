"""Validation: each kind of problem, reported all at once, with readable messages."""

from __future__ import annotations

import pytest

from tests.graph.builders import edge, end, export, linear, node, start
from tideflow.workflows.graph import Problem, load_app, validate_app

pytestmark = pytest.mark.usefixtures("specs")


def _messages(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


def _code(node_id: str = "code", **data: object) -> dict[str, object]:
    fields: dict[str, object] = {"code": "def main(): ...", "outputs": {"r": {"type": "string"}}}
    return node(node_id, "code", **(fields | data))


def test_a_valid_app_has_no_problems() -> None:
    assert validate_app(linear(_code(), end_node=end(["code", "r"], ["start", "q"]))) == []


def test_problem_str_names_node_title_and_field() -> None:
    problem = Problem("n1", "url", "required", "HTTP")
    assert str(problem) == "node n1 (HTTP): url: required"
    assert str(Problem(None, "graph", "no start node")) == "app: graph: no start node"


def test_unknown_node_type() -> None:
    app = linear(node("x", "magic"))
    assert "node x (X): type: unknown node type 'magic'" in _messages(validate_app(app))


def test_dangling_edges() -> None:
    doc = export(
        [start(), end()], [edge("start", "end"), edge("start", "ghost"), edge("nope", "end")]
    )
    messages = _messages(validate_app(load_app(doc)))
    assert "app: edges: edge start-source-ghost: target node ghost does not exist" in messages
    assert "app: edges: edge nope-source-end: source node nope does not exist" in messages


def test_unreachable_node() -> None:
    doc = export([start(), end(), _code("lonely")], [edge("start", "end")])
    messages = _messages(validate_app(load_app(doc)))
    assert messages == [
        "node lonely (Lonely): edges: unreachable: no path leads here from the start node"
    ]


def test_container_children_are_reachable_through_the_start_node() -> None:
    it = node(
        "it",
        "iteration",
        start_node_id="its",
        iterator_selector=["start", "q"],
        output_selector=["t", "output"],
    )
    its = node("its", "iteration-start") | {"parentId": "it"}
    t = node(
        "t",
        "template-transform",
        template="{{ x }}",
        variables=[
            {"variable": "x", "value_selector": ["it", "item"]},
            {"variable": "i", "value_selector": ["it", "index"]},
            {"variable": "q", "value_selector": ["start", "q"]},
        ],
    ) | {"parentId": "it"}
    orphan = node("orphan", "template-transform", template="") | {"parentId": "it"}
    doc = export(
        [start("q"), it, its, t, orphan, end(["it", "output"])],
        [edge("start", "it"), edge("its", "t"), edge("it", "end")],
    )
    messages = _messages(validate_app(load_app(doc)))
    assert messages == [
        "node orphan (Orphan): edges: unreachable: no path leads here from the start node"
    ]


def test_loop_variables_are_in_scope_inside_the_loop_only() -> None:
    loop = node(
        "loop",
        "loop",
        start_node_id="ls",
        loop_count=3,
        loop_variables=[{"label": "n", "var_type": "number", "value_type": "constant", "value": 0}],
        break_conditions=[
            {"variable_selector": ["loop", "n"], "comparison_operator": "≥", "value": "2"}
        ],
    )
    ls = node("ls", "loop-start") | {"parentId": "loop"}
    inner = node(
        "a",
        "assigner",
        version="2",
        items=[
            {
                "variable_selector": ["loop", "n"],
                "operation": "+=",
                "input_type": "constant",
                "value": 1,
            }
        ],
    ) | {"parentId": "loop"}
    after = end(["loop", "n"], ["loop", "loop_round"], ["loop", "item"])
    doc = export(
        [start(), loop, ls, inner, after],
        [edge("start", "loop"), edge("ls", "a"), edge("loop", "end")],
    )
    messages = _messages(validate_app(load_app(doc)))
    assert len(messages) == 1
    assert messages[0].startswith(
        "node end (End): outputs[2].value_selector: node loop (Loop) has no output 'item'"
    )


def test_unresolved_references_of_every_kind() -> None:
    tpl = node(
        "t",
        "template-transform",
        template="",
        variables=[
            {"variable": "a", "value_selector": ["ghost", "x"]},
            {"variable": "b", "value_selector": ["later", "r"]},
            {"variable": "c", "value_selector": ["start", "nope"]},
            {"variable": "d", "value_selector": ["env", "UNDECLARED"]},
            {"variable": "e", "value_selector": ["conversation", "undeclared"]},
            {"variable": "f", "value_selector": ["sys", "user_id"]},
            {"variable": "g", "value_selector": ["env", "KEY"]},
        ],
    )
    answer = node(
        "answer", "answer", answer="{{#t.output#}} {{#t.missing#}} {{#context#}} {{#ghost.a.b#}}"
    )
    doc = export(
        [start("q"), tpl, _code("later"), answer],
        [edge("start", "t"), edge("t", "later"), edge("later", "answer")],
        mode="advanced-chat",
        environment_variables=[{"name": "KEY", "value_type": "secret", "value": ""}],
    )
    messages = _messages(validate_app(load_app(doc)))
    where = "node t (T): variables[{}].value_selector: "
    assert messages == [
        where.format(0) + "refers to node ghost, which does not exist",
        where.format(1) + "refers to node later (Later), which does not run before this node",
        where.format(2) + "node start (Start) has no output 'nope' (it has: q)",
        where.format(3) + "env.UNDECLARED is not a declared environment variable",
        where.format(4) + "conversation.undeclared is not a declared conversation variable",
        "node answer (Answer): answer: node t (T) has no output 'missing' (it has: output)",
        "node answer (Answer): answer: refers to node ghost, which does not exist",
    ]


def test_disabled_blocks_and_error_outputs_are_not_flagged() -> None:
    llm = node(
        "llm",
        "llm",
        vision={"enabled": False, "configs": {"variable_selector": ["gone", "x"]}},
        context={"enabled": False, "variable_selector": ["gone", "y"]},
        error_strategy="default-value",
        default_value=[{"key": "text", "type": "string", "value": ""}],
    )
    app = linear(llm, end_node=end(["llm", "text"], ["llm", "error_message"]))
    assert validate_app(app, mock_external=True) == []


def test_cycle_outside_containers() -> None:
    doc = export(
        [start(), _code("a"), _code("b"), end()],
        [edge("start", "a"), edge("a", "b"), edge("b", "a"), edge("b", "end")],
    )
    messages = _messages(validate_app(load_app(doc)))
    assert (
        "node a (A): edges: cycle a -> b -> a; repeat work with a loop or iteration node instead"
        in messages
    )


def test_missing_required_config_comes_from_the_node_spec() -> None:
    app = linear(node("code", "code", outputs={}))
    assert _messages(validate_app(app)) == ["node code (Code): code: required"]


def test_more_than_one_root_and_no_root() -> None:
    doc = export(
        [start(), node("start2", "start", variables=[]), end()],
        [edge("start", "end"), edge("start2", "end")],
    )
    messages = _messages(validate_app(load_app(doc)))
    assert messages == [
        "node start2 (Start2): type: a second start/trigger node; "
        "the app already starts at start (Start)"
    ]
    assert _messages(validate_app(load_app(export([end()], [])))) == [
        "app: graph: no start node: a run has nowhere to begin"
    ]


def test_not_implemented_nodes_need_a_pin_or_mocks() -> None:
    tool = node(
        "tool",
        "tool",
        provider_id="langgenius/tavily/tavily",
        provider_type="builtin",
        tool_name="tavily_search",
        plugin_unique_identifier="langgenius/tavily:0.0.5@abc",
    )
    human = node("human", "human-input")
    app = linear(tool, human)
    messages = _messages(validate_app(app))
    assert messages == [
        "node tool (Tool): type: node type 'tool' is not implemented yet; it needs builtin tool "
        "tavily_search from provider langgenius/tavily/tavily "
        "(plugin langgenius/tavily:0.0.5@abc); "
        "pin this node or run with mock_external",
        "node human (Human): type: node type 'human-input' is not implemented yet; "
        "pin this node or run with mock_external",
    ]
    # Mocks cover nodes that reach outside; a human is not one of them.
    assert [p.node_id for p in validate_app(app, mock_external=True)] == ["human"]
    assert validate_app(app, pinned={"tool", "human"}) == []


def test_every_problem_is_reported_at_once() -> None:
    doc = export(
        [start(), node("x", "magic"), node("code", "code"), _code("lonely"), end(["ghost", "y"])],
        [edge("start", "x"), edge("x", "code"), edge("code", "end"), edge("end", "nowhere")],
    )
    fields = {(p.node_id, p.field) for p in validate_app(load_app(doc))}
    assert fields >= {
        ("x", "type"),
        ("code", "code"),
        ("lonely", "edges"),
        ("end", "outputs[0].value_selector"),
        (None, "edges"),
    }
