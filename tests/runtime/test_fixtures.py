"""Dify's own fixture cases (cases.normalized.json) through the engine in plain asyncio."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.runtime.support import FIXTURES, LocalExecutor, plan_from_dsl
from tideflow.workflows.engine.models import GraphRunInput
from tideflow.workflows.engine.run import run_graph
from tideflow.workflows.graph.plan import ExecutionPlan

CASES: list[dict[str, Any]] = json.loads((FIXTURES / "cases.normalized.json").read_text())
# Property-based cases: concrete samples of the stated rule.
SAMPLES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "conditional_hello_branching_workflow#40": [
        ("xhellox", {"true": "xhellox"}),
        ("bye", {"false": "bye"}),
    ],
    "simple_passthrough_workflow#75": [
        (s, {"query": s})
        for s in ["  ", "\n\t\r\f\v", '{"a": 1}', "😀 ü", "x" * 5000, "'; DROP TABLE t; <script>"]
    ],
}


def _as_in_dify_test(case_id: str, plan: ExecutionPlan) -> ExecutionPlan:
    """The graph changes Dify's test makes before running (stated in cases.json notes)."""
    nodes = dict(plan.nodes)
    if case_id == "basic_chatflow#4":
        default = [{"key": "text", "value": "fallback response", "type": "string"}]
        data = {**nodes["llm"].data, "error_strategy": "default-value", "default_value": default}
        nodes["llm"] = nodes["llm"].model_copy(update={"data": data})
    if case_id == "basic_chatflow#5":
        data = {**nodes["answer"].data, "answer": "{{#llm.structured_output#}}"}
        nodes["answer"] = nodes["answer"].model_copy(update={"data": data})
    return plan.model_copy(update={"nodes": nodes})


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
async def test_fixture_case(case: dict[str, Any]) -> None:
    plan = _as_in_dify_test(case["id"], plan_from_dsl(FIXTURES / case["fixture"]))
    variants = [(case["inputs"], case["expected_outputs"])]
    if case["id"] in SAMPLES:
        variants = [({"query": q}, e) for q, e in SAMPLES[case["id"]]]
    for inputs, expected in variants:
        run_input = GraphRunInput(
            plan=plan,
            inputs=inputs,
            query=case["query"],
            pins=case["pins"],
            mock_external=case["auto_mock"],
        )
        result = await run_graph(run_input, LocalExecutor())
        got = {"answer": result.answer} if plan.mode == "advanced-chat" else result.outputs
        assert got == expected, result.error
        assert result.status in ("succeeded", "partial-succeeded")
