"""Dify's fixture cases whose pins stand for model nodes, run through the model path.

The pins of llm, question-classifier and parameter-extractor nodes are dropped: the nodes call
``llm_invoke``, which goes to the fake OpenAI-compatible server (tests/fakes/openai_server.py)
as the model gateway, scripted per node (``X-Tideflow-Node``) to answer what the pin gave. The
run must still give Dify's expected outputs, and the fake must have seen one call per node.

``mock_external`` would pin the model nodes too, so a case that auto-mocks runs without it: its
other external nodes get the same mock outputs (their NodeSpec's ``mock_outputs``) as pins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from tests.conformance.conftest import record
from tests.conformance.test_dify_fixtures import (
    CASES,
    FIXTURES,
    GRAPH_PATCHES,
    case_params,
    expand,
    mismatch,
)
from tests.fakes.openai_server import Failure, FakeLLMServer, Reply, error_body
from tideflow.local_run import check_app, execute_graph
from tideflow.platform.settings import get_settings
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult
from tideflow.workflows.graph.specs import is_external
from tideflow.workflows.nodes import NODE_SPECS

SUITE_MODEL = "dify-fixtures through the fake model server"
MODEL_TYPES = frozenset({"llm", "question-classifier", "parameter-extractor"})
# For nodes whose fixture leaves the model empty (Dify's tests mock them): the gateway ignores
# the provider and calls "openai/<name>".
STAND_IN_MODEL = {"provider": "openai", "name": "gpt-4o-mini"}
# llm pin keys a scripted answer reproduces; another key fails the case rather than be ignored.
LLM_PIN_KEYS = frozenset({"text", "usage", "finish_reason", "structured_output"})

# Cases that fail through the model path: id -> why. Strict, so a change shows up as XPASS.
KNOWN_GAPS: dict[str, str] = {
    "test-answer-order#76": (
        "the case's query is empty and the LLM's prompt is a blank system message plus "
        "{{#sys.query#}}: with nothing to send the node fails with NoPromptFoundError, as Dify's "
        "LLM node does (its test replaces the node whole, so no prompt is ever built)"
    ),
}


def graph_nodes(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The DSL's node dicts (nested ones included), for a full export or a bare graph."""
    workflow = document.get("workflow") or document
    graph: dict[str, Any] = workflow.get("graph") or workflow
    return list(graph.get("nodes") or [])


def node_type(node: dict[str, Any]) -> str:
    """A DSL node's Dify type."""
    return str((node.get("data") or {}).get("type") or "")


def load_document(case: dict[str, Any]) -> dict[str, Any]:
    """The case's fixture with the graph edits Dify's own test makes."""
    document: dict[str, Any] = yaml.safe_load((FIXTURES / case["fixture"]).read_text("utf-8"))
    if case["id"] in GRAPH_PATCHES:
        GRAPH_PATCHES[case["id"]](document)
    return document


def model_answers(case: dict[str, Any], document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Model node id -> the outputs it must give: its pin, or with auto-mock its mock outputs."""
    answers: dict[str, dict[str, Any]] = {}
    for node in graph_nodes(document):
        kind, node_id = node_type(node), str(node["id"])
        if kind not in MODEL_TYPES:
            continue
        if node_id in case["pins"]:
            answers[node_id] = case["pins"][node_id]
        elif case["auto_mock"]:
            mock = NODE_SPECS[kind].mock_outputs
            assert mock is not None
            answers[node_id] = mock(node["data"])
    return answers


def pinned_tokens(outputs: dict[str, Any]) -> dict[str, int]:
    """The prompt and completion tokens a model node's outputs give (``usage``/``__usage``)."""
    usage: Any = outputs.get("usage") or outputs.get("__usage")
    if not isinstance(usage, dict):
        return {}
    counts: dict[str, Any] = usage
    return {k: int(counts[k]) for k in ("prompt_tokens", "completion_tokens") if k in counts}


def _reply(text: str, outputs: dict[str, Any], finish_reason: str | None = None) -> Reply:
    tokens = pinned_tokens(outputs)
    return Reply(
        text=text,
        finish_reason=finish_reason,
        prompt_tokens=tokens.get("prompt_tokens"),
        completion_tokens=tokens.get("completion_tokens"),
    )


def scripted_reply(kind: str, outputs: dict[str, Any]) -> Reply | Failure:
    """What the fake answers so a ``kind`` node gives ``outputs`` (an ``__error__``: a 400,
    which is not retried)."""
    if "__error__" in outputs:
        return Failure(400, error_body(str(outputs["__error__"])))
    if kind == "question-classifier":
        choice = {"category_id": outputs["class_id"], "category_name": outputs["class_name"]}
        return _reply(json.dumps(choice, ensure_ascii=False), outputs)
    if kind == "parameter-extractor":
        values = {k: v for k, v in outputs.items() if not k.startswith("__")}
        return _reply(json.dumps(values, ensure_ascii=False), outputs)
    unknown = set(outputs) - LLM_PIN_KEYS
    if unknown:
        pytest.fail(f"llm pin keys {sorted(unknown)} have no scripted equivalent")
    text = str(outputs.get("text", ""))
    if "structured_output" in outputs:  # the node parses its structured output from the text
        text = json.dumps(outputs["structured_output"], ensure_ascii=False)
    finish = outputs.get("finish_reason")
    return _reply(text, outputs, str(finish) if finish else None)


def through_the_model(document: dict[str, Any], answers: dict[str, dict[str, Any]]) -> None:
    """Edit the model nodes so they can really run: a stand-in model where the fixture has
    none, and structured output on where the pin gives one (only such a node produces it)."""
    for node in graph_nodes(document):
        if str(node["id"]) not in answers:
            continue
        data: dict[str, Any] = node["data"]
        model: dict[str, Any] = data.setdefault("model", {})
        if not model.get("provider") or not model.get("name"):
            model.update(STAND_IN_MODEL)
        if "structured_output" in answers[str(node["id"])] and not data.get(
            "structured_output_switch_on"
        ):
            data["structured_output_switch_on"] = True
            data["structured_output"] = {"schema": {"type": "object"}}


def external_mocks(case: dict[str, Any], document: dict[str, Any]) -> dict[str, str]:
    """Id -> type of the non-model external nodes ``mock_external`` would pin in this case."""
    if not case["auto_mock"]:
        return {}
    found: dict[str, str] = {}
    for node in graph_nodes(document):
        kind, node_id = node_type(node), str(node["id"])
        spec = NODE_SPECS.get(kind)
        if kind in MODEL_TYPES or node_id in case["pins"] or not is_external(kind):
            continue
        if spec is not None and spec.mock_outputs is not None:
            found[node_id] = kind
    return found


def _model_cases() -> list[dict[str, Any]]:
    return [c for c in CASES if model_answers(c, load_document(c))]


MODEL_CASES = _model_cases()


@pytest.fixture
def gateway(fake_llm: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """Every model call of the module's in-process worker goes to the fake server."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIDEFLOW_MODEL_GATEWAY_URL", fake_llm.base_url)
        get_settings.cache_clear()  # the activity reads settings per call
        yield fake_llm
    get_settings.cache_clear()


def model_path_problem(
    answers: dict[str, dict[str, Any]],
    models: dict[str, str],
    fake: FakeLLMServer,
    result: GraphRunResult,
) -> str | None:
    """Why the run did not go through the fake as scripted, or None: one call per model node,
    with its node header and model, and the usage the pin gave."""
    calls = fake.chat_requests()
    if len(calls) != len(answers):
        headers = [c.headers.get("x-tideflow-node") for c in calls]
        return f"{len(calls)} model calls (nodes {headers}), expected one per {sorted(answers)}"
    for node_id, outputs in answers.items():
        mine = fake.chat_requests(node_id)
        if len(mine) != 1:
            return f"node {node_id}: {len(mine)} calls with its X-Tideflow-Node header"
        if mine[0].json.get("model") != models[node_id]:
            return f"node {node_id}: model {mine[0].json.get('model')!r} != {models[node_id]!r}"
        wanted = pinned_tokens(outputs)
        runs = [r for r in result.node_runs if r.node_id == node_id]
        got = pinned_tokens(runs[-1].outputs) if runs else {}
        if "__error__" not in outputs and any(got.get(k) != v for k, v in wanted.items()):
            return f"node {node_id}: usage {got} != pinned {wanted}"
    return None


@pytest.mark.parametrize("case", case_params(MODEL_CASES, KNOWN_GAPS))
async def test_dify_fixture_case_through_model(
    case: dict[str, Any],
    temporal_env: WorkflowEnvironment,
    conformance_queue: str,
    gateway: FakeLLMServer,
) -> None:
    document = load_document(case)
    answers = model_answers(case, document)
    kinds = {str(n["id"]): node_type(n) for n in graph_nodes(document)}
    through_the_model(document, answers)
    models = {
        str(n["id"]): n["data"]["model"]["name"]
        for n in graph_nodes(document)
        if str(n["id"]) in answers
    }
    pins = {k: v for k, v in case["pins"].items() if k not in answers}
    mocked = external_mocks(case, document)
    plan, problems = check_app(document, pinned=(*pins, *mocked))
    if plan is None:
        record(SUITE_MODEL, case["id"], f"failed: invalid: {problems[0]}")
        pytest.fail("\n".join(str(p) for p in problems))
    for node_id, kind in mocked.items():
        mock = NODE_SPECS[kind].mock_outputs
        assert mock is not None
        pins[node_id] = mock(plan.nodes[node_id].data)
    for inputs, expected in expand(case):
        gateway.reset()
        for node_id, outputs in answers.items():
            reply = scripted_reply(kinds[node_id], outputs)
            if isinstance(reply, Failure):
                gateway.fail(reply, node=node_id)
            else:
                gateway.script(reply, node=node_id)
        run_input = GraphRunInput(
            plan=plan, inputs=inputs, query=case["query"], pins=pins, user="conformance"
        )
        result = await execute_graph(temporal_env.client, conformance_queue, run_input)
        problem = mismatch(case, expected, result) or model_path_problem(
            answers, models, gateway, result
        )
        if problem is not None:
            record(SUITE_MODEL, case["id"], f"failed: {problem}")
            pytest.fail(problem)
    record(SUITE_MODEL, case["id"], "passed")
