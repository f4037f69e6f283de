"""Dify's own workflow fixtures, run through GraphWorkflow on a real Temporal dev server.

Each case of ``cases.normalized.json`` (inputs, pins, expected outputs, taken from Dify's tests)
must give Dify's expected End outputs (workflow apps) or whole answer (chatflows).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from tests.conformance.conftest import CONFORMANCE_DIR, record
from tideflow.local_run import check_app, execute_graph
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult

FIXTURES = CONFORMANCE_DIR / "dify-fixtures"
CASES: list[dict[str, Any]] = json.loads((FIXTURES / "cases.normalized.json").read_text())
SUITE = "dify-fixtures (cases.normalized.json)"

# Dify's property tests (hypothesis) give a rule instead of values: these samples stand in for
# "any text", each checked against the rule.
ANY_TEXT_SAMPLES = [
    "hello",
    "say hellohello",
    "HELLO upper",
    "plain text",
    "真实 native 🌊",
    "   ",
    "\n\t\r\f\v",
    '{"json": ["like", 1]}',
    "'; DROP TABLE users; --",
    "<script>alert('x')</script>",
    "x" * 5000,
]


def _llm_default_value(doc: dict[str, Any]) -> None:
    # cases.json: "Test mutates the llm node at runtime: error_strategy=default-value,
    # default_value=[{key:'text', value:'fallback response', type:'string'}]".
    for node in doc["workflow"]["graph"]["nodes"]:
        if node["id"] == "llm":
            node["data"]["error_strategy"] = "default-value"
            node["data"]["default_value"] = [
                {"key": "text", "value": "fallback response", "type": "string"}
            ]


def _answer_structured_output(doc: dict[str, Any]) -> None:
    # cases.json: "Test rewrites answer node's template to '{{#llm.structured_output#}}'".
    for node in doc["workflow"]["graph"]["nodes"]:
        if node["id"] == "answer":
            node["data"]["answer"] = "{{#llm.structured_output#}}"


# Graph edits that Dify's own tests make before running a fixture (see each case's notes).
GRAPH_PATCHES: dict[str, Callable[[dict[str, Any]], None]] = {
    "basic_chatflow#4": _llm_default_value,
    "basic_chatflow#5": _answer_structured_output,
}
# Dify's tests assert the run status for these cases as well.
EXPECTED_STATUS: dict[str, str] = {"basic_chatflow#4": "partial-succeeded"}

# Cases the runtime does not pass yet: id -> why. Kept strict, so a fix shows up as XPASS.
KNOWN_GAPS: dict[str, str] = {}


def expand(case: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(inputs, expected outputs) pairs; a property case becomes one pair per sample."""
    inputs, expected = case["inputs"], case["expected_outputs"]
    if not any(isinstance(v, str) and v.startswith("<any text") for v in inputs.values()):
        return [(inputs, expected)]
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for sample in ANY_TEXT_SAMPLES:
        if "<'true' if 'hello' in query else 'false'>" in expected:
            pairs.append(({"query": sample}, {"true" if "hello" in sample else "false": sample}))
        else:  # "<same as input>"
            pairs.append(({"query": sample}, {"query": sample}))
    return pairs


def mismatch(case: dict[str, Any], expected: dict[str, Any], result: GraphRunResult) -> str | None:
    """Why the result differs from Dify's expectation, or None when it matches."""
    if result.status not in ("succeeded", "partial-succeeded"):
        return f"status {result.status}: {result.error}"
    wanted_status = EXPECTED_STATUS.get(case["id"])
    if wanted_status is not None and result.status != wanted_status:
        return f"status {result.status} != {wanted_status}"
    if case["mode"] == "advanced-chat":
        if result.answer != expected.get("answer"):
            return f"answer {result.answer!r} != {expected.get('answer')!r}"
        return None
    if result.outputs != expected:
        return f"outputs {result.outputs!r} != {expected!r}"
    return None


def case_params(cases: list[dict[str, Any]], gaps: dict[str, str]) -> list[Any]:
    """One pytest param per case, id'd by the case; a known gap is a strict xfail."""
    return [
        pytest.param(c, id=c["id"], marks=pytest.mark.xfail(reason=gaps[c["id"]], strict=True))
        if c["id"] in gaps
        else pytest.param(c, id=c["id"])
        for c in cases
    ]


@pytest.mark.parametrize("case", case_params(CASES, KNOWN_GAPS))
async def test_dify_fixture_case(
    case: dict[str, Any], temporal_env: WorkflowEnvironment, conformance_queue: str
) -> None:
    pins: dict[str, dict[str, Any]] = case["pins"]
    source: Path | dict[str, Any] = FIXTURES / case["fixture"]
    if case["id"] in GRAPH_PATCHES:
        document: dict[str, Any] = yaml.safe_load(
            (FIXTURES / case["fixture"]).read_text(encoding="utf-8")
        )
        GRAPH_PATCHES[case["id"]](document)
        source = document
    plan, problems = check_app(source, pinned=tuple(pins), mock_external=case["auto_mock"])
    if plan is None:
        record(SUITE, case["id"], f"failed: invalid: {problems[0]}")
        pytest.fail("\n".join(str(p) for p in problems))
    for inputs, expected in expand(case):
        run_input = GraphRunInput(
            plan=plan,
            inputs=inputs,
            query=case["query"],
            pins=pins,
            mock_external=case["auto_mock"],
            user="conformance",
        )
        result = await execute_graph(temporal_env.client, conformance_queue, run_input)
        problem = mismatch(case, expected, result)
        if problem is not None:
            record(SUITE, case["id"], f"failed: {problem}")
            pytest.fail(problem)
    record(SUITE, case["id"], "passed")
