"""Inline nodes run in plain asyncio: if-else, template, aggregator, assigner, list operator."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.runtime.graphs import START, chain, edge, end, node, run
from tideflow.workflows.nodes import NODE_SPECS
from tideflow.workflows.nodes.assigner import apply_operation


def _cond(value: str) -> dict[str, Any]:
    return {"variable_selector": ["start", "x"], "comparison_operator": "=", "value": value}


@pytest.mark.parametrize(("x", "expected"), [(1, "one"), (2, "two"), (3, "other")])
async def test_if_else_cases_in_order(x: int, expected: str) -> None:
    cases = [
        {"case_id": "c1", "logical_operator": "and", "conditions": [_cond("1")]},
        {"case_id": "c2", "logical_operator": "or", "conditions": [_cond("9"), _cond("2")]},
    ]
    nodes = [
        node("start", "start", variables=[{"variable": "x", "type": "number"}]),
        node("if", "if-else", cases=cases),
        node("t1", "template-transform", template="one"),
        node("t2", "template-transform", template="two"),
        node("t3", "template-transform", template="other"),
        node(
            "agg",
            "variable-aggregator",
            variables=[["t1", "output"], ["t2", "output"], ["t3", "output"]],
        ),
        end(("r", ["agg", "output"])),
    ]
    edges = [
        edge("start", "if"),
        edge("if", "t1", "c1"),
        edge("if", "t2", "c2"),
        edge("if", "t3", "false"),
        *[edge(t, "agg") for t in ("t1", "t2", "t3")],
        edge("agg", "end"),
    ]
    result = await run(nodes, edges, inputs={"x": x})
    assert result.outputs == {"r": expected}
    skipped = {r.node_id for r in result.node_runs}
    assert len(skipped & {"t1", "t2", "t3"}) == 1


async def test_template_transform_jinja_and_limit() -> None:
    tpl = node(
        "tpl",
        "template-transform",
        template="{% for i in items %}{{ i }},{% endfor %}{{ name | upper }}",
        variables=[
            {"variable": "items", "value_selector": ["start", "items"]},
            {"variable": "name", "value_selector": ["start", "name"]},
        ],
    )
    result = await run(
        [START, tpl, end(("o", ["tpl", "output"]))],
        chain("start", "tpl", "end"),
        inputs={"items": [1, 2], "name": "ab"},
    )
    assert result.outputs == {"o": "1,2,AB"}
    big = node("tpl", "template-transform", template="{{ 'x' * 400001 }}")
    result = await run([START, big, end(("o", ["tpl", "output"]))], chain("start", "tpl", "end"))
    assert result.status == "failed" and "400000" in (result.error or "")


async def test_aggregator_groups() -> None:
    agg = node(
        "agg",
        "variable-aggregator",
        advanced_settings={
            "group_enabled": True,
            "groups": [
                {"group_name": "g1", "variables": [["start", "missing"], ["start", "a"]]},
                {"group_name": "g2", "variables": [["start", "b"]]},
            ],
        },
    )
    result = await run(
        [START, agg, end(("o", ["agg", "g1", "output"]), ("p", ["agg", "g2"]))],
        chain("start", "agg", "end"),
        inputs={"a": "A", "b": 2},
    )
    assert result.outputs == {"o": "A", "p": {"output": 2}}
    assert NODE_SPECS["variable-aggregator"].outputs(agg["data"]) == {"g1", "g2"}


@pytest.mark.parametrize(
    ("op", "current", "value", "value_type", "expected"),
    [
        ("over-write", "a", "b", "string", "b"),
        ("clear", [1], None, "array[number]", []),
        ("clear", {"a": 1}, None, None, {}),
        ("set", {}, '{"k": 1}', "object", {"k": 1}),
        ("+=", 1, 2, "number", 3),
        ("-=", 5, "2", "number", 3),
        ("*=", 2, 2.5, "number", 5.0),
        ("/=", 9, 3, "number", 3),
        ("append", [1], 2, "array[number]", [1, 2]),
        ("extend", [1], [2, 3], "array[number]", [1, 2, 3]),
        ("remove-first", [1, 2], None, None, [2]),
        ("remove-last", [1, 2], None, None, [1]),
    ],
)
def test_assigner_operations(
    op: str, current: Any, value: Any, value_type: str | None, expected: Any
) -> None:
    assert apply_operation(op, current, value, value_type) == expected


async def test_assigner_v1_and_v2_on_conversation_variables() -> None:
    conv = [
        {"name": "s", "value_type": "string", "value": "old"},
        {"name": "n", "value_type": "number", "value": 1},
        {"name": "l", "value_type": "array[string]", "value": []},
    ]
    v1 = node(
        "v1",
        "assigner",
        assigned_variable_selector=["conversation", "s"],
        input_variable_selector=["sys", "query"],
        write_mode="over-write",
    )
    items = [
        {
            "variable_selector": ["conversation", "n"],
            "input_type": "constant",
            "operation": "+=",
            "value": 4,
        },
        {
            "variable_selector": ["conversation", "l"],
            "input_type": "variable",
            "operation": "append",
            "value": ["conversation", "s"],
        },
        {
            "variable_selector": ["conversation", "n"],
            "input_type": "variable",
            "operation": "over-write",
            "value": ["start", "none"],
        },
    ]
    v2 = node("v2", "assigner", version="2", items=items)
    ans = node(
        "ans", "answer", answer="{{#conversation.s#}} {{#conversation.n#}} {{#conversation.l#}}"
    )
    result = await run(
        [START, v1, v2, ans],
        chain("start", "v1", "v2", "ans"),
        mode="advanced-chat",
        conversation=conv,
        query="q!",
    )
    assert result.answer == "q! 5 - q!"
    assert result.conversation_variables == {"s": "q!", "n": 5, "l": ["q!"]}


async def test_list_operator_filter_extract_order_limit() -> None:
    op = node(
        "op",
        "list-operator",
        variable=["start", "xs"],
        filter_by={
            "enabled": True,
            "conditions": [{"key": "", "comparison_operator": ">", "value": "1"}],
        },
        order_by={"enabled": True, "key": "", "value": "desc"},
        limit={"enabled": True, "size": 2},
        extract_by={"enabled": False, "serial": "1"},
    )
    result = await run(
        [START, op, end(("r", ["op", "result"]), ("f", ["op", "first_record"]))],
        chain("start", "op", "end"),
        inputs={"xs": [3, 1, 5, 2]},
    )
    assert result.outputs == {"r": [5, 3], "f": 5}


async def test_start_input_validation() -> None:
    start = node(
        "start",
        "start",
        variables=[
            {"variable": "n", "type": "number", "required": True},
            {"variable": "t", "type": "text-input"},
        ],
    )
    nodes = [start, end(("n", ["start", "n"]))]
    result = await run(nodes, chain("start", "end"), inputs={})
    assert result.status == "failed" and result.error == "n is required in input form"
    result = await run(nodes, chain("start", "end"), inputs={"n": "abc"})
    assert result.status == "failed"
    assert result.error == "n in input form must be a valid number"
    result = await run(nodes, chain("start", "end"), inputs={"n": 1, "t": 5})
    assert result.status == "failed" and "t in input form" in (result.error or "")


def test_specs_cover_every_dify_node_type() -> None:
    types = {
        "start", "end", "answer", "llm", "knowledge-retrieval", "knowledge-index", "if-else",
        "code", "template-transform", "question-classifier", "http-request", "tool", "datasource",
        "variable-aggregator", "variable-assigner", "loop", "loop-start", "loop-end", "iteration",
        "iteration-start", "parameter-extractor", "assigner", "document-extractor", "list-operator",
        "agent", "human-input", "trigger-webhook", "trigger-schedule", "trigger-plugin",
    }  # fmt: skip
    assert types <= set(NODE_SPECS)
    assert NODE_SPECS["code"].validate(
        {"code_language": "ruby", "outputs": {"x": {"type": "bad"}}}
    ) == [
        ("code_language", "unknown language ruby"),
        ("code", "code is required"),
        ("outputs.x.type", "unknown output type bad"),
    ]
    assert NODE_SPECS["code"].outputs({"outputs": {"a": {"type": "string"}}}) == {"a"}
    mock = NODE_SPECS["http-request"].mock_outputs
    assert mock is not None and mock({}) == {
        "status_code": 200,
        "body": "",
        "headers": {},
        "files": [],
    }
    assert NODE_SPECS["llm"].implemented and NODE_SPECS["llm"].external


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
            "300000",
        ),
        ("{{ 7 ** 10000000 }}", "exponents are limited"),
        ("{{ [0] * 10 ** 9 }}", "repeated value"),
        ("{% for i in range(90000) %}{{ 'abcdefghij' }}{% endfor %}", "400000"),
    ],
)
async def test_runaway_templates_fail_the_node_quickly(template: str, expected: str) -> None:
    # Templates render inside the workflow task: a runaway one must fail its node (bounded,
    # deterministic) instead of stalling the task past Temporal's deadlock detector.
    loop = asyncio.get_running_loop()
    started = loop.time()
    tpl = node("tpl", "template-transform", template=template)
    result = await run([START, tpl, end(("o", ["tpl", "output"]))], chain("start", "tpl", "end"))
    assert result.status == "failed"
    assert expected in (result.error or ""), result.error
    assert loop.time() - started < 1.5


def test_code_output_types_are_the_ones_the_sandbox_checks() -> None:
    validate = NODE_SPECS["code"].validate
    data: dict[str, Any] = {
        "code": "def main():\n    return {}\n",
        "outputs": {
            "ok": {"type": "array[object]", "children": None},
            "loose": {"type": "any", "children": None},
            "nested": {"type": "object", "children": {"deep": {"type": "array[any]"}}},
        },
    }
    fields = [field for field, _ in validate(data)]
    assert fields == ["outputs.loose.type", "outputs.nested.children.deep.type"]
