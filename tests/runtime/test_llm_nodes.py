"""LLM, question-classifier and parameter-extractor nodes through the engine in plain asyncio.

A scripted ``llm_invoke`` stands in for the model (the activity has its own tests against a
fake OpenAI server): it records the LlmRequest each node built and answers with a scripted
LlmResult, so these tests check the prompts, the reading of messy answers and the records.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from tests.runtime.graphs import START, chain, edge, end, node
from tests.runtime.support import LocalExecutor, plan_from_graph
from tideflow.activities.heartbeat import node_attempts
from tideflow.activities.llm.models import LlmMessage, LlmRequest, LlmResult, LlmUsage
from tideflow.platform.settings import Settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult
from tideflow.workflows.engine.recorder import RunRecorder
from tideflow.workflows.engine.run import run_graph
from tideflow.workflows.interpreter import GraphWorkflow

MODEL = {
    "provider": "langgenius/openai/openai",
    "name": "gpt-4o-mini",
    "mode": "chat",
    "completion_params": {"temperature": 0.2},
}


def answer(text: str = "", tokens: int = 10, price: str = "0.0001", **fields: Any) -> LlmResult:
    """A scripted model answer using ``tokens`` tokens at ``price``."""
    usage = LlmUsage(
        prompt_tokens=tokens - 2, completion_tokens=2, total_tokens=tokens, total_price=price
    )
    return LlmResult(text=text, usage=usage, **fields)


class ScriptedModel:
    """``llm_invoke`` answering from a script (the last answer repeats) and keeping requests."""

    def __init__(self, *answers: LlmResult) -> None:
        self.answers = list(answers)
        self.requests: list[LlmRequest] = []

    async def __call__(self, payload: dict[str, Any]) -> LlmResult:
        self.requests.append(LlmRequest.model_validate(payload))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


async def run_llm(
    model: ScriptedModel,
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    *,
    mode: str = "workflow",
    conversation: list[dict[str, Any]] | None = None,
    **run_input: Any,
) -> tuple[GraphRunResult, RunRecorder]:
    """Run the graph with ``model`` as ``llm_invoke``; the result and the run's recorder."""
    plan = plan_from_graph(mode, nodes, edges, conversation=conversation)
    recorder = RunRecorder()
    executor = LocalExecutor({"llm_invoke": model})
    result = await run_graph(GraphRunInput(plan=plan, **run_input), executor, recorder)
    return result, recorder


def text_of(message: LlmMessage) -> str:
    """A message's text (its text parts joined)."""
    if isinstance(message.content, str):
        return message.content
    return "".join(p.get("text", "") for p in message.content if p.get("type") == "text")


def roles(request: LlmRequest) -> list[tuple[str, str]]:
    """(role, text) of each message sent."""
    return [(m.role, text_of(m)) for m in request.messages]


# LLM ---------------------------------------------------------------------------------------

KNOWLEDGE = [
    {
        "content": "Paris is the capital.",
        "summary": "About France",
        "metadata": {"_source": "knowledge", "dataset_id": "ds1", "score": 0.9, "position": 1},
    },
    "A plain note.",
    {"content": "Unsourced chunk.", "metadata": {}},
]


async def test_llm_chat_prompt_with_context_usage_and_records() -> None:
    llm = node(
        "llm",
        "llm",
        model=MODEL,
        prompt_template=[
            {"role": "system", "text": "Answer from this context:\n{{#context#}}"},
            {"role": "user", "text": "Question: {{#start.q#}}"},
        ],
        context={"enabled": True, "variable_selector": ["conversation", "docs"]},
    )
    start = node("start", "start", variables=[{"variable": "q", "type": "text-input"}])
    model = ScriptedModel(answer("The capital is Paris.", tokens=30, price="0.0003"))
    result, recorder = await run_llm(
        model,
        [start, llm, end(("a", ["llm", "text"]), ("u", ["llm", "usage"]))],
        chain("start", "llm", "end"),
        mode="advanced-chat",
        conversation=[{"name": "docs", "value_type": "array[object]", "value": KNOWLEDGE}],
        inputs={"q": "Capital of France?"},
        tenant_id="tenant-1",
        run_id="run-1",
        query="ignored without memory",
    )
    assert result.status == "succeeded", result.error
    request = model.requests[0]
    assert roles(request) == [
        (
            "system",
            "Answer from this context:\nAbout France\nParis is the capital.\n"
            "A plain note.\nUnsourced chunk.",
        ),
        ("user", "Question: Capital of France?"),
    ]
    assert (request.provider, request.model, request.mode) == (
        "langgenius/openai/openai",
        "gpt-4o-mini",
        "chat",
    )
    assert request.params == {"temperature": 0.2} and request.tenant_id == "tenant-1"
    assert request.node_id == "llm" and request.max_attempts == 1
    assert request.stream is not None and request.stream.run_id == "run-1"
    assert request.stream.node_id == "llm" and request.json_schema is None
    record = next(r for r in result.node_runs if r.node_id == "llm")
    assert request.stream.node_run_id == record.id
    assert record.outputs["text"] == "The capital is Paris." and record.outputs["files"] == []
    assert record.outputs["reasoning_content"] == "" and record.outputs["finish_reason"] == "stop"
    assert "structured_output" not in record.outputs
    assert result.outputs["u"]["total_tokens"] == 30
    # As Dify's logs keep prompts: role, text, files.
    assert record.process_data["prompts"][1] == {
        "role": "user",
        "text": request.messages[1].content,
        "files": [],
    }
    assert record.process_data["model_name"] == "gpt-4o-mini"
    assert record.inputs["#start.q#"] == "Capital of France?"
    assert record.inputs["#context#"].startswith("About France")
    meta = record.execution_metadata
    assert (meta["total_tokens"], meta["total_price"], meta["currency"]) == (30, "0.0003", "USD")
    [resource] = meta["retriever_resources"]
    assert resource["dataset_id"] == "ds1" and resource["content"] == "Paris is the capital."
    assert resource["score"] == 0.9 and resource["summary"] == "About France"
    assert result.total_tokens == 30
    finished = [e for e in recorder.events if e.event == "node_finished" and e.node_id == "llm"]
    assert finished[0].data["execution_metadata"]["total_tokens"] == 30
    assert recorder.events[-1].data["total_tokens"] == 30


HISTORY = [
    {"query": "one?", "answer": "1"},
    {"query": "two?", "answer": "2"},
    {"query": "three?", "answer": "3"},
]
IMAGE = {
    "type": "image",
    "transfer_method": "remote_url",
    "remote_url": "https://example.com/cat.png",
    "filename": "cat.png",
}
DOC = {"type": "document", "transfer_method": "local_file", "filename": "a.pdf"}


async def test_llm_memory_window_query_and_vision() -> None:
    llm = node(
        "llm",
        "llm",
        model=MODEL,
        prompt_template=[{"role": "system", "text": "Be brief."}],
        memory={
            "window": {"enabled": True, "size": 2},
            "query_prompt_template": "{{#sys.query#}} (answer in digits)",
        },
        vision={"enabled": True, "configs": {"detail": "low"}},
    )
    model = ScriptedModel(answer("4"))
    result, _ = await run_llm(
        model,
        [START, llm, node("answer", "answer", answer="{{#llm.text#}}")],
        chain("start", "llm", "answer"),
        mode="advanced-chat",
        query="four?",
        history=HISTORY,
        files=[IMAGE, DOC],
    )
    assert result.status == "succeeded" and result.answer == "4"
    request = model.requests[0]
    assert roles(request) == [
        ("system", "Be brief."),
        ("user", "two?"),
        ("assistant", "2"),
        ("user", "three?"),
        ("assistant", "3"),
        ("user", "four? (answer in digits)"),
    ]
    assert request.messages[-1].content == [
        {"type": "image_file", "file": IMAGE, "detail": "low"},
        {"type": "text", "text": "four? (answer in digits)"},
    ]


async def test_llm_jinja2_and_completion_mode_histories() -> None:
    jinja = node(
        "jinja",
        "llm",
        model=MODEL,
        prompt_template=[
            {
                "role": "user",
                "edition_type": "jinja2",
                "text": "ignored",
                "jinja2_text": "{% for t in topics %}{{ t | upper }};{% endfor %}",
            }
        ],
        prompt_config={
            "jinja2_variables": [{"variable": "topics", "value_selector": ["start", "t"]}]
        },
    )
    completion = node(
        "comp",
        "llm",
        model={**MODEL, "mode": "completion"},
        prompt_template={"text": "Chat so far:\n{{#histories#}}\nHuman: {{#sys.query#}}\nAI:"},
        memory={"role_prefix": {"user": "U", "assistant": "A"}, "window": {"enabled": False}},
    )
    start = node("start", "start", variables=[{"variable": "t", "type": "json_object"}])
    model = ScriptedModel(answer("x"))
    result, _ = await run_llm(
        model,
        [start, jinja, completion, node("answer", "answer", answer="{{#comp.text#}}")],
        chain("start", "jinja", "comp", "answer"),
        mode="advanced-chat",
        inputs={"t": {"a": 1}},
        query="next",
        history=HISTORY[:2],
    )
    assert result.status == "succeeded", result.error
    assert roles(model.requests[0]) == [("user", "A;")]
    comp = model.requests[1]
    assert comp.mode == "completion"
    assert roles(comp) == [("user", "Chat so far:\nU: one?\nA: 1\nU: two?\nA: 2\nHuman: next\nAI:")]


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


async def test_llm_structured_output_and_separated_reasoning() -> None:
    llm = node(
        "llm",
        "llm",
        model=MODEL,
        prompt_template=[
            {"role": "system", "text": "Extract."},
            {"role": "user", "text": "{{#start.q#}}"},
        ],
        structured_output_switch_on=True,
        structured_output={"schema": SCHEMA},
        reasoning_format="separated",
    )
    start = node("start", "start", variables=[{"variable": "q", "type": "text-input"}])
    nodes = [start, llm, end(("s", ["llm", "structured_output"]), ("t", ["llm", "text"]))]
    model = ScriptedModel(answer('<think>It is Rome.</think>Sure: {"city": "Rome",}'))
    result, _ = await run_llm(model, nodes, chain("start", "llm", "end"), inputs={"q": "Rome!"})
    assert result.status == "succeeded", result.error
    assert result.outputs == {"s": {"city": "Rome"}, "t": 'Sure: {"city": "Rome",}'}
    record = next(r for r in result.node_runs if r.node_id == "llm")
    assert record.outputs["reasoning_content"] == "It is Rome."
    request = model.requests[0]
    assert request.json_schema == SCHEMA and request.separate_reasoning
    system = text_of(request.messages[0])
    assert system.startswith("Extract.\n\n") and '"required": ["city"]' in system

    model = ScriptedModel(answer("I cannot answer that."))
    result, _ = await run_llm(model, nodes, chain("start", "llm", "end"), inputs={"q": "x"})
    assert result.status == "failed"
    assert "Node llm (llm): structured_output" in (result.error or "")
    record = next(r for r in result.node_runs if r.node_id == "llm")
    assert record.error_type == "StructuredOutputParseError"
    # The call's tokens count even though the node failed.
    assert record.execution_metadata["total_tokens"] == 10 and result.total_tokens == 10


async def test_llm_without_a_model_fails_naming_the_field_and_pins_still_work() -> None:
    llm = node("llm", "llm", model={"provider": "", "name": ""}, prompt_template=[])
    nodes = [START, llm, end(("t", ["llm", "text"]))]
    model = ScriptedModel(answer("never"))
    result, _ = await run_llm(model, nodes, chain("start", "llm", "end"))
    assert result.status == "failed" and "model.provider is required" in (result.error or "")
    assert model.requests == []
    result, _ = await run_llm(
        model, nodes, chain("start", "llm", "end"), pins={"llm": {"text": "pinned"}}
    )
    assert result.outputs == {"t": "pinned"}
    result, _ = await run_llm(model, nodes, chain("start", "llm", "end"), mock_external=True)
    assert result.outputs == {"t": ""} and model.requests == []


# Question classifier -----------------------------------------------------------------------

CLASSES = [
    {"id": "c1", "name": "Support"},
    {"id": "c2", "name": "Billing", "label": "Money stuff"},
    {"id": "c3", "name": "Shipping"},
]


def classifier_graph() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    qc = node(
        "qc",
        "question-classifier",
        model=MODEL,
        query_variable_selector=["sys", "query"],
        classes=CLASSES,
        instruction="Route by {{#sys.user_id#}}",
    )
    answers = [node(f"a{i}", "answer", answer=f"branch {i}") for i in (1, 2, 3)]
    edges = [edge("start", "qc"), *(edge("qc", f"a{i}", f"c{i}") for i in (1, 2, 3))]
    return [START, qc, *answers], edges


@pytest.mark.parametrize(
    ("text", "branch"),
    [
        (
            '<think>maybe {"category_id": "c1"}</think>'
            '{"category_id": "c2", "category_name": "Billing"}',
            2,
        ),
        ('Looking at it, the answer is {"category_id": "c3"} as requested.', 3),
        ('```json\n{"category_id": "Shipping"}\n```', 3),
        ('{"category_name": "billing"}', 2),
        ('{"category_id": "x", "category_name": "money STUFF"}', 2),
        ("This is clearly about shipping delays.", 3),
        ("no idea", 1),
        ("", 1),
    ],
)
async def test_classifier_reads_messy_answers(text: str, branch: int) -> None:
    nodes, edges = classifier_graph()
    model = ScriptedModel(answer(text))
    result, _ = await run_llm(
        model, nodes, edges, mode="advanced-chat", query="Where is my parcel?", user="u-7"
    )
    assert result.status == "succeeded", result.error
    assert result.answer == f"branch {branch}"
    record = next(r for r in result.node_runs if r.node_id == "qc")
    chosen = CLASSES[branch - 1]
    assert record.outputs["class_id"] == chosen["id"]
    assert record.outputs["class_name"] == chosen["name"]
    assert record.outputs["class_label"] == chosen.get("label", f"CLASS {branch}")
    assert record.outputs["usage"]["total_tokens"] == 10
    request = model.requests[0]
    system, user = roles(request)
    assert system[0] == "system" and user == ("user", "Where is my parcel?")
    assert '{"category_id": "c2", "category_name": "Billing"}' in system[1]
    assert "Route by u-7" in system[1] and "category_name" in system[1]
    assert request.stream is None and result.total_tokens == 10


async def test_classifier_memory_goes_into_the_system_prompt() -> None:
    nodes, edges = classifier_graph()
    nodes[1]["data"]["memory"] = {"window": {"enabled": True, "size": 1}}
    model = ScriptedModel(answer('{"category_id": "c1"}'))
    result, _ = await run_llm(
        model, nodes, edges, mode="advanced-chat", query="hi", history=HISTORY
    )
    assert result.answer == "branch 1"
    system = text_of(model.requests[0].messages[0])
    assert "Human: three?\nAssistant: 3" in system and "two?" not in system


# Parameter extractor -----------------------------------------------------------------------

PARAMETERS = [
    {"name": "city", "type": "string", "description": "City", "required": True},
    {"name": "days", "type": "number", "description": "Days", "required": True},
    {"name": "tags", "type": "array[string]", "description": "Tags", "required": False},
    {"name": "urgent", "type": "bool", "description": "Urgent?", "required": False},
    {"name": "tier", "type": "select", "options": ["gold", "silver"], "required": False},
]


def extractor(**data: Any) -> list[dict[str, Any]]:
    config = {
        "model": MODEL,
        "query": ["start", "q"],
        "parameters": PARAMETERS,
        "instruction": "Dates are in {{#start.q#}}",
    }
    pe = node("pe", "parameter-extractor", **(config | data))
    start = node("start", "start", variables=[{"variable": "q", "type": "text-input"}])
    return [start, pe, end(("out", ["pe", "city"]))]


def tool_call(arguments: str) -> dict[str, Any]:
    return {
        "id": "call_1",
        "type": "function",
        "function": {"name": "extract_parameters", "arguments": arguments},
    }


async def test_extractor_function_call_converts_types() -> None:
    args = (
        '{"city": "Paris", "days": "3", "tags": ["a", 1, {"x": 1}], "urgent": "yes", '
        '"tier": "gold"}'
    )
    model = ScriptedModel(answer("", tool_calls=[tool_call(args)], finish_reason="tool_calls"))
    result, _ = await run_llm(
        model, extractor(), chain("start", "pe", "end"), inputs={"q": "Paris for 3 days"}
    )
    assert result.status == "succeeded", result.error
    record = next(r for r in result.node_runs if r.node_id == "pe")
    assert record.outputs == {
        "city": "Paris",
        "days": 3,
        "tags": ["a", "1"],
        "urgent": True,
        "tier": "gold",
        "__is_success": 1,
        "__reason": None,
        "__usage": record.outputs["__usage"],
    }
    request = model.requests[0]
    [tool] = request.tools
    schema = tool["function"]["parameters"]
    assert tool["function"]["name"] == "extract_parameters"
    assert schema["required"] == ["city", "days"]
    assert schema["properties"]["tags"] == {
        "description": "Tags",
        "type": "array",
        "items": {"type": "string"},
    }
    assert schema["properties"]["urgent"]["type"] == "boolean"
    assert schema["properties"]["tier"]["enum"] == ["gold", "silver"]
    assert request.tool_choice == {"type": "function", "function": {"name": "extract_parameters"}}
    system, user = roles(request)
    assert "Dates are in Paris for 3 days" in system[1]
    assert user[1].startswith("Text:\nParis for 3 days")
    assert record.process_data["tool_call"]["id"] == "call_1"


@pytest.mark.parametrize(
    ("text", "values", "reason"),
    [
        (
            'Here you go: {"city": "Rome", "tier": "bronze"}',
            {"city": "Rome", "days": 0, "tags": [], "urgent": False, "tier": ""},
            "days: required but not extracted; tier: 'bronze' is not one of gold, silver",
        ),
        (
            '{city: "Oslo", days: "many", tags: "[\\"x\\"]"}',
            {"city": "Oslo", "days": 0, "tags": ["x"], "urgent": False, "tier": ""},
            "days: expected a number, got 'many'",
        ),
        (
            "Sorry, I could not find anything.",
            {"city": "", "days": 0, "tags": [], "urgent": False, "tier": ""},
            "no parameters could be read from the model's answer",
        ),
    ],
)
async def test_extractor_prompt_mode_failures_still_succeed(
    text: str, values: dict[str, Any], reason: str
) -> None:
    model = ScriptedModel(answer(text))
    result, _ = await run_llm(
        model,
        extractor(reasoning_mode="prompt"),
        chain("start", "pe", "end"),
        inputs={"q": "somewhere"},
    )
    assert result.status == "succeeded", result.error
    record = next(r for r in result.node_runs if r.node_id == "pe")
    assert {k: record.outputs[k] for k in values} == values
    assert record.outputs["__is_success"] == 0 and record.outputs["__reason"] == reason
    request = model.requests[0]
    assert request.tools == [] and request.tool_choice is None
    assert "one JSON object" in text_of(request.messages[0])


async def test_extractor_completion_model_uses_one_prompt() -> None:
    model = ScriptedModel(answer('{"city": "Lima", "days": 2}'))
    result, _ = await run_llm(
        model,
        extractor(model={**MODEL, "mode": "completion"}),
        chain("start", "pe", "end"),
        inputs={"q": "Lima, two days"},
    )
    assert result.outputs == {"out": "Lima"}
    [(role, text)] = roles(model.requests[0])
    assert role == "user" and text.endswith("JSON answer:") and "Lima, two days" in text
    assert model.requests[0].tools == []


# On Temporal ------------------------------------------------------------------------------


@activity.defn(name="llm_invoke")
async def classify_by_keyword(request: LlmRequest) -> LlmResult:
    """A stand-in model on a real worker: names the class whose name the query holds (keeping
    the activities' attempt contract); the real activity is tested against a fake server."""
    with node_attempts(request.max_attempts):
        query = text_of(request.messages[-1]).lower()
        name = "Billing" if "invoice" in query else "Support"
        return answer(f'<think>hmm</think>{{"category_name": "{name}"}}', tokens=12)


async def test_classifier_and_usage_on_temporal(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    nodes, edges = classifier_graph()
    plan = plan_from_graph("advanced-chat", nodes, edges)
    run_input = GraphRunInput(plan=plan, query="Where is my invoice?", tenant_id="t1")
    client = temporal_env.client
    temporal = TideflowTemporal(Settings())
    async with temporal.worker(
        client, workflows=[GraphWorkflow], activities=[classify_by_keyword], task_queue=task_queue
    ):
        result = await client.execute_workflow(
            GraphWorkflow.run, run_input, id=f"llm-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
    assert result.status == "succeeded", result.error
    assert result.answer == "branch 2" and result.total_tokens == 12
    record = next(r for r in result.node_runs if r.node_id == "qc")
    assert record.execution_metadata == {
        "total_tokens": 12,
        "total_price": "0.0001",
        "currency": "USD",
    }


def test_saved_prompts_are_shaped_as_difys() -> None:
    from tideflow.workflows.nodes._llm_common import saved_prompts

    image = {
        "type": "image_file",
        "file": {"transfer_method": "remote_url", "remote_url": "https://x.test/a.png"},
        "detail": "low",
    }
    messages = [
        LlmMessage(role="system", content="Be brief."),
        LlmMessage(role="user", content=[{"type": "text", "text": "What is it?"}, image]),
        LlmMessage(
            role="assistant",
            content="",
            tool_calls=[{"id": "c1", "type": "function", "function": {"name": "f"}}],
        ),
    ]
    assert saved_prompts("chat", messages) == [
        {"role": "system", "text": "Be brief.", "files": []},
        {
            "role": "user",
            "text": "What is it?",
            "files": [{"type": "image", "data": "https://x.test/a.png", "detail": "low"}],
        },
        {
            "role": "assistant",
            "text": "",
            "files": [],
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f"}}],
        },
    ]
    completion = [LlmMessage(role="user", content="Summarise: text")]
    assert saved_prompts("completion", completion) == [{"role": "user", "text": "Summarise: text"}]
