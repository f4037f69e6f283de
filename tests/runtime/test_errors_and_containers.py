"""Error strategies, retries, pins, mock_external, iteration and loop in plain asyncio."""

from __future__ import annotations

from typing import Any

import pytest

from tests.runtime.graphs import START, chain, edge, end, node, run
from tests.runtime.support import LocalExecutor

MODEL = {"provider": "p", "name": "m"}


async def test_default_value_gives_partial_success() -> None:
    llm = node(
        "llm",
        "llm",
        model=MODEL,
        error_strategy="default-value",
        default_value=[{"key": "text", "type": "string", "value": "fallback"}],
    )
    result = await run(
        [START, llm, end(("t", ["llm", "text"]), ("e", ["llm", "error_type"]))],
        chain("start", "llm", "end"),
        pins={"llm": {"__error__": "down"}},
    )
    assert result.status == "partial-succeeded" and result.exceptions_count == 1
    assert result.outputs == {"t": "fallback", "e": "PinnedNodeError"}
    assert [r.status for r in result.node_runs if r.node_id == "llm"] == ["exception"]


async def test_fail_branch_takes_fail_edge_only() -> None:
    llm = node("llm", "llm", model=MODEL, error_strategy="fail-branch")
    nodes = [
        START,
        llm,
        node("ok", "template-transform", template="ok"),
        node("bad", "template-transform", template="bad"),
        node("agg", "variable-aggregator", variables=[["ok", "output"], ["bad", "output"]]),
        end(("r", ["agg", "output"]), ("m", ["llm", "error_message"])),
    ]
    edges = [
        edge("start", "llm"),
        edge("llm", "ok"),
        edge("llm", "bad", "fail-branch"),
        edge("ok", "agg"),
        edge("bad", "agg"),
        edge("agg", "end"),
    ]
    result = await run(nodes, edges, pins={"llm": {"__error__": "boom"}})
    assert result.outputs == {"r": "bad", "m": "boom"}
    result = await run(nodes, edges, pins={"llm": {"text": "fine"}})
    assert result.outputs == {"r": "ok", "m": None} and result.status == "succeeded"


async def test_unhandled_failure_fails_run() -> None:
    result = await run(
        [START, node("llm", "llm", model=MODEL), end()],
        chain("start", "llm", "end"),
        pins={"llm": {"__error__": "nope"}},
    )
    assert result.status == "failed" and result.error == "nope"
    assert "end" not in {r.node_id for r in result.node_runs}


async def test_pinned_error_retries_in_engine() -> None:
    retry = {"retry_enabled": True, "max_retries": 2, "retry_interval": 500}
    llm = node(
        "llm",
        "llm",
        model=MODEL,
        retry_config=retry,
        error_strategy="default-value",
        default_value=[],
    )
    executor = LocalExecutor()
    result = await run(
        [START, llm, end()],
        chain("start", "llm", "end"),
        executor=executor,
        pins={"llm": {"__error__": "x"}},
    )
    run_llm = next(r for r in result.node_runs if r.node_id == "llm")
    assert run_llm.attempts == 3 and run_llm.status == "exception"
    assert executor.sleeps == [0.5, 0.5]


async def test_code_activity_retry_policy_and_summary() -> None:
    code = node(
        "code",
        "code",
        title="Compute",
        code="def main():\n    return {'r': 1}\n",
        outputs={"r": {"type": "number"}},
        variables=[],
        retry_config={"retry_enabled": True, "max_retries": 3, "retry_interval": 200},
    )
    code["data"]["title"] = "Compute"
    executor = LocalExecutor()
    result = await run(
        [START, code, end(("r", ["code", "r"]))], chain("start", "code", "end"), executor=executor
    )
    assert result.outputs == {"r": 1}
    name, summary, retry = executor.calls[0]
    assert (name, summary, retry.maximum_attempts, retry.interval_seconds) == (
        "run_code",
        "Compute",
        4,
        0.2,
    )


async def test_mock_external_classifier_takes_first_class() -> None:
    qc = node(
        "qc",
        "question-classifier",
        query_variable_selector=["sys", "query"],
        classes=[{"id": "c1", "name": "A"}, {"id": "c2", "name": "B"}],
    )
    nodes = [START, qc, node("a", "answer", answer="first"), node("b", "answer", answer="second")]
    edges = [edge("start", "qc"), edge("qc", "a", "c1"), edge("qc", "b", "c2")]
    result = await run(nodes, edges, mode="advanced-chat", mock_external=True, query="q")
    assert result.answer == "first"
    result = await run(nodes, edges, mode="advanced-chat", query="q")
    assert result.status == "failed" and "model.provider is required" in (result.error or "")


def _iteration(mode: str, parallel: bool, flatten: bool = True) -> list[dict[str, Any]]:
    it = node(
        "it",
        "iteration",
        iterator_selector=["start", "xs"],
        output_selector=["inner", "output"],
        start_node_id="its",
        is_parallel=parallel,
        parallel_nums=2,
        error_handle_mode=mode,
        flatten_output=flatten,
    )
    inner = node(
        "inner",
        "template-transform",
        "it",
        template="{{ 10 // x }}",
        variables=[{"variable": "x", "value_selector": ["it", "item"]}],
    )
    return [START, it, node("its", "iteration-start", "it"), inner, end(("o", ["it", "output"]))]


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("continue-on-error", ["10", None, "5"]),
        ("remove-abnormal-output", ["10", "5"]),
        ("terminated", None),
    ],
)
async def test_iteration_error_modes(parallel: bool, mode: str, expected: list[Any] | None) -> None:
    edges = [*chain("start", "it", "end"), edge("its", "inner")]
    result = await run(_iteration(mode, parallel), edges, inputs={"xs": [1, 0, 2]})
    if expected is None:
        assert result.status == "failed"
    else:
        assert result.outputs == {"o": expected}
    indexes = sorted(r.container_index or 0 for r in result.node_runs if r.node_id == "inner")
    assert indexes[:2] == [0, 1]


async def test_iteration_flatten() -> None:
    nodes = _iteration("terminated", False)
    nodes[3] = node(
        "inner",
        "code",
        "it",
        code="def main(x):\n    return {'output': [x, x]}\n",
        outputs={"output": {"type": "array[number]"}},
        variables=[{"variable": "x", "value_selector": ["it", "item"]}],
    )
    edges = [*chain("start", "it", "end"), edge("its", "inner")]
    assert (await run(nodes, edges, inputs={"xs": [1, 2]})).outputs == {"o": [1, 1, 2, 2]}
    nodes[1]["data"]["flatten_output"] = False
    assert (await run(nodes, edges, inputs={"xs": [1, 2]})).outputs == {"o": [[1, 1], [2, 2]]}


def _loop(
    break_value: str, with_end: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    loop = node(
        "lp",
        "loop",
        start_node_id="ls",
        loop_count=5,
        logical_operator="and",
        break_conditions=[
            {"variable_selector": ["lp", "n"], "comparison_operator": "≥", "value": break_value}
        ],
        loop_variables=[
            {"label": "n", "var_type": "number", "value_type": "constant", "value": "0"}
        ],
    )
    inc = node(
        "inc",
        "assigner",
        "lp",
        version="2",
        items=[
            {
                "variable_selector": ["lp", "n"],
                "input_type": "constant",
                "operation": "+=",
                "value": 1,
            }
        ],
    )
    nodes = [
        START,
        loop,
        node("ls", "loop-start", "lp"),
        inc,
        end(("n", ["lp", "n"]), ("r", ["lp", "loop_round"])),
    ]
    edges = [*chain("start", "lp", "end"), *chain("ls", "inc")]
    if with_end:
        nodes.append(node("le", "loop-end", "lp"))
        edges.append(edge("inc", "le"))
    return nodes, edges


@pytest.mark.parametrize(
    ("break_value", "with_end", "expected"),
    [("3", False, (3, 3)), ("0", False, (0, 0)), ("99", False, (5, 5)), ("99", True, (1, 1))],
)
async def test_loop_break_end_and_count(
    break_value: str, with_end: bool, expected: tuple[int, int]
) -> None:
    nodes, edges = _loop(break_value, with_end)
    result = await run(nodes, edges)
    assert (result.outputs["n"], result.outputs["r"]) == expected


async def test_parallel_branches_and_events_in_order() -> None:
    nodes = [
        START,
        node("a", "template-transform", template="A"),
        node("b", "template-transform", template="B"),
        end(("a", ["a", "output"]), ("b", ["b", "output"])),
    ]
    edges = [edge("start", "a"), edge("start", "b"), edge("a", "end"), edge("b", "end")]
    result = await run(nodes, edges)
    assert result.outputs == {"a": "A", "b": "B"}
    assert [r.node_id for r in result.node_runs] == ["start", "a", "b", "end"]
