"""Chatbot, Text Generator and Agent apps: their ``model_config`` compiles to a small graph, the
export writes the config back, and the compiled graph runs in the engine."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.runtime.support import LocalExecutor
from tideflow.workflows.engine.models import GraphRunInput
from tideflow.workflows.engine.recorder import RunRecorder
from tideflow.workflows.engine.run import run_graph
from tideflow.workflows.graph import DSLError, compile_plan, export_dsl, load_app, validate_app

# A Chatbot as Dify 1.x exports it (DSL 0.1.5; every model_config key Dify writes).
CHATBOT = """
app:
  description: Tells travellers what to see
  icon: 🧭
  icon_background: '#FFEAD5'
  mode: chat
  name: City guide
  use_icon_as_answer_icon: false
kind: app
model_config:
  agent_mode: {enabled: false, max_iteration: 5, strategy: function_call, tools: []}
  annotation_reply: {enabled: false}
  chat_prompt_config: {}
  completion_prompt_config: {}
  dataset_configs:
    datasets: {datasets: []}
    reranking_enable: false
    retrieval_model: multiple
    top_k: 4
  dataset_query_variable: ''
  external_data_tools: []
  file_upload:
    image: {detail: high, enabled: false, number_limits: 3, transfer_methods: [remote_url]}
  model:
    completion_params: {stop: [], temperature: 0.7}
    mode: chat
    name: gpt-4o-mini
    provider: langgenius/openai/openai
  more_like_this: {enabled: false}
  opening_statement: Hello! Which city?
  pre_prompt: You guide visitors of {{city}}. Answer in {{language}}.
  prompt_type: simple
  retriever_resource: {enabled: true}
  sensitive_word_avoidance: {configs: [], enabled: false, type: ''}
  speech_to_text: {enabled: false}
  suggested_questions: ['What should I see first?']
  suggested_questions_after_answer: {enabled: false}
  text_to_speech: {enabled: false, language: '', voice: ''}
  user_input_form:
  - text-input: {default: '', label: City, max_length: 48, required: true, variable: city}
  - select:
      default: English
      label: Language
      options: [English, French]
      required: false
      variable: language
version: 0.1.5
"""

TEXT_GENERATOR = """
app: {mode: completion, name: Summariser, icon: 🤖, icon_background: '#FFEAD5'}
kind: app
model_config:
  model:
    completion_params: {max_tokens: 512}
    mode: chat
    name: gpt-4o-mini
    provider: langgenius/openai/openai
  more_like_this: {enabled: true}
  pre_prompt: Summarise the text below in {{words}} words.
  prompt_type: simple
  user_input_form:
  - number: {label: Words, required: true, variable: words, default: 50}
  - paragraph: {label: Query, required: true, variable: query, max_length: 4000}
version: 0.1.5
"""

AGENT = """
app: {mode: agent-chat, name: Helper, use_icon_as_answer_icon: true}
kind: app
model_config:
  agent_mode:
    enabled: true
    max_iteration: 8
    strategy: react
    tools:
    - enabled: true
      provider_id: time
      provider_name: time
      provider_type: builtin
      tool_label: Current Time
      tool_name: current_time
      tool_parameters: {format: '%Y-%m-%d', timezone: UTC}
    - enabled: false
      provider_id: wikipedia
      provider_type: builtin
      tool_name: wikipedia_search
      tool_parameters: {}
  dataset_configs:
    datasets:
      datasets:
      - dataset: {enabled: true, id: 7b2c8a4e-0000-4000-8000-000000000001}
    retrieval_model: multiple
  model:
    completion_params: {temperature: 0.2}
    mode: chat
    name: gpt-4o
    provider: langgenius/openai/openai
  pre_prompt: You help {{name}} with dates.
  user_input_form:
  - text-input: {label: Name, required: false, variable: name}
version: 0.1.5
"""


def _load(text: str, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(text)
    doc["model_config"].update(changes)
    return doc


def test_chatbot_compiles_to_start_llm_answer() -> None:
    app = load_app(CHATBOT)
    assert app.mode == "chat" and app.name == "City guide"
    assert [n.type for n in app.nodes] == ["start", "llm", "answer"]
    assert [e.id for e in app.edges] == ["start-source-llm", "llm-source-answer"]
    start, llm, answer = app.nodes
    assert [v["variable"] for v in start.data["variables"]] == ["city", "language"]
    assert start.data["variables"][1]["type"] == "select"
    assert start.data["variables"][1]["options"] == ["English", "French"]
    assert llm.data["model"] == {
        "provider": "langgenius/openai/openai",
        "name": "gpt-4o-mini",
        "mode": "chat",
        "completion_params": {"stop": [], "temperature": 0.7},
    }
    # The pre-prompt is the system message; the form's {{var}} read the start node.
    assert llm.data["prompt_template"] == [
        {
            "role": "system",
            "text": "You guide visitors of {{#start.city#}}. Answer in {{#start.language#}}.",
            "edition_type": "basic",
        }
    ]
    memory = llm.data["memory"]
    assert memory["window"]["enabled"] is True and memory["window"]["size"] == 100
    assert memory["query_prompt_template"] == "{{#sys.query#}}"
    assert answer.data["answer"] == "{{#llm.text#}}"
    assert app.features["opening_statement"] == "Hello! Which city?"
    assert app.features["suggested_questions"] == ["What should I see first?"]
    assert validate_app(app) == []


def test_export_writes_the_model_config_back_and_reimports_to_the_same_plan() -> None:
    app = load_app(CHATBOT)
    exported = yaml.safe_load(export_dsl(app))
    assert "workflow" not in exported
    assert exported["app"]["mode"] == "chat" and exported["app"]["icon"] == "🧭"
    assert exported["model_config"] == yaml.safe_load(CHATBOT)["model_config"]
    again = load_app(export_dsl(app))
    assert again.mode == "chat" and again.app_model_config == app.app_model_config
    assert compile_plan(again).content_hash() == compile_plan(app).content_hash()


def test_compiled_plan_keeps_the_mode() -> None:
    for text, mode in ((CHATBOT, "chat"), (TEXT_GENERATOR, "completion"), (AGENT, "agent-chat")):
        assert compile_plan(load_app(text)).mode == mode


def test_text_generator_sends_the_prompt_and_the_separate_query() -> None:
    llm = load_app(TEXT_GENERATOR).node_map()["llm"]
    # The query input is not in the prompt: the prompt is the system message and the query
    # the user's, as Dify sends a Text Generator's query.
    assert llm.data["prompt_template"] == [
        {
            "role": "system",
            "text": "Summarise the text below in {{#start.words#}} words.",
            "edition_type": "basic",
        },
        {"role": "user", "text": "{{#start.query#}}", "edition_type": "basic"},
    ]
    assert "memory" not in llm.data  # a Text Generator has no conversation


def test_text_generator_prompt_that_reads_the_query_is_the_user_message() -> None:
    doc = _load(TEXT_GENERATOR, pre_prompt="Translate: {{query}}")
    llm = load_app(doc).node_map()["llm"]
    assert llm.data["prompt_template"] == [
        {"role": "user", "text": "Translate: {{#start.query#}}", "edition_type": "basic"}
    ]


def test_text_generator_with_a_completion_model_and_an_advanced_prompt() -> None:
    doc = _load(
        TEXT_GENERATOR,
        prompt_type="advanced",
        completion_prompt_config={
            # Dify's {{#query#}} placeholder: a Text Generator's query input.
            "prompt": {"text": "Text: {{#query#}}\nSummary in {{words}} words:"},
            "conversation_histories_role": {"user_prefix": "Human", "assistant_prefix": "AI"},
        },
    )
    doc["model_config"]["model"]["mode"] = "completion"
    llm = load_app(doc).node_map()["llm"]
    assert llm.data["model"]["mode"] == "completion"
    assert llm.data["prompt_template"] == {
        "text": "Text: {{#start.query#}}\nSummary in {{#start.words#}} words:"
    }


def test_chatbot_advanced_prompt_keeps_its_messages() -> None:
    doc = _load(
        CHATBOT,
        prompt_type="advanced",
        chat_prompt_config={
            "prompt": [
                {"role": "system", "text": "Guide for {{city}}."},
                {"role": "user", "text": "Be brief."},
            ]
        },
    )
    llm = load_app(doc).node_map()["llm"]
    roles = [(m["role"], m["text"]) for m in llm.data["prompt_template"]]
    assert roles == [("system", "Guide for {{#start.city#}}."), ("user", "Be brief.")]


def test_datasets_add_knowledge_retrieval_as_the_llm_context() -> None:
    doc = _load(CHATBOT)
    doc["model_config"]["dataset_configs"]["datasets"]["datasets"] = [
        {"dataset": {"enabled": True, "id": "ds-1"}},
        {"dataset": {"enabled": False, "id": "ds-off"}},
    ]
    app = load_app(doc)
    assert [n.type for n in app.nodes] == ["start", "knowledge-retrieval", "llm", "answer"]
    retrieval = app.node_map()["knowledge_retrieval"]
    assert retrieval.data["dataset_ids"] == ["ds-1"]
    assert retrieval.data["query_variable_selector"] == ["sys", "query"]
    assert retrieval.data["multiple_retrieval_config"]["top_k"] == 4
    llm = app.node_map()["llm"]
    assert llm.data["context"] == {
        "enabled": True,
        "variable_selector": ["knowledge_retrieval", "result"],
    }
    system = llm.data["prompt_template"][0]["text"]
    assert system.startswith("Use the following context") and "{{#context#}}" in system
    assert system.endswith(
        "You guide visitors of {{#start.city#}}. Answer in {{#start.language#}}."
    )


def test_agent_keeps_strategy_tools_model_and_instruction_for_the_agent_node() -> None:
    app = load_app(AGENT)
    assert [n.type for n in app.nodes] == ["start", "agent", "answer"]
    agent = app.node_map()["agent"]
    assert agent.data["agent_strategy_name"] == "ReAct"
    params = agent.data["agent_parameters"]
    assert params["model"]["value"]["model"] == "gpt-4o"
    assert params["model"]["value"]["completion_params"] == {"temperature": 0.2}
    assert params["instruction"]["value"] == "You help {{#start.name#}} with dates."
    assert params["query"]["value"] == "{{#sys.query#}}"
    assert params["maximum_iterations"]["value"] == 8
    (tool,) = params["tools"]["value"]  # the disabled tool is left out
    assert tool["tool_name"] == "current_time" and tool["provider_type"] == "builtin"
    assert tool["tool_parameters"] == {"format": "%Y-%m-%d", "timezone": "UTC"}
    assert params["datasets"]["value"] == ["7b2c8a4e-0000-4000-8000-000000000001"]
    assert app.node_map()["answer"].data["answer"] == "{{#agent.text#}}"
    # The agent runs: only its tools must be installed (time is built in).
    assert validate_app(app) == []
    assert validate_app(app, mock_external=True) == []


def test_function_call_strategy_is_function_calling() -> None:
    doc = _load(AGENT)
    doc["model_config"]["agent_mode"]["strategy"] = "function_call"
    agent = load_app(doc).node_map()["agent"]
    assert agent.data["agent_strategy_name"] == "function_calling"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": None}, "model_config.model"),
        ({"model": {"mode": "chat", "name": "gpt-4o"}}, "model_config.model.provider"),
        ({"user_input_form": "city"}, "model_config.user_input_form"),
        ({"pre_prompt": "", "user_input_form": []}, "model_config.pre_prompt"),
    ],
)
def test_a_broken_model_config_is_refused_naming_the_field(
    change: dict[str, Any], field: str
) -> None:
    doc = _load(TEXT_GENERATOR, **change)
    with pytest.raises(DSLError) as info:
        load_app(doc)
    assert any(p.field == field for p in info.value.problems), info.value.problems


def test_missing_model_config_is_refused() -> None:
    doc = yaml.safe_load(CHATBOT)
    del doc["model_config"]
    with pytest.raises(DSLError, match="model_config: missing: a Chatbot app export"):
        load_app(doc)


async def test_the_compiled_chatbot_runs_and_answers_with_message_events() -> None:
    plan = compile_plan(load_app(CHATBOT))
    recorder = RunRecorder()
    outputs = {"text": "See the old town.", "usage": {}, "finish_reason": "stop"}
    run_input = GraphRunInput(
        plan=plan,
        inputs={"city": "Lyon", "language": "English"},
        query="What first?",
        pins={"llm": outputs},
        history=[{"query": "hi", "answer": "hello"}],
    )
    result = await run_graph(run_input, LocalExecutor(), recorder)
    assert result.status == "succeeded", result.error
    assert result.answer == "See the old town."
    chunks = [e for e in recorder.events if e.event in ("message", "text_chunk")]
    assert chunks and {e.event for e in chunks} == {"message"}
    assert "".join(e.data["answer"] for e in chunks) == "See the old town."


async def test_the_compiled_text_generator_reads_its_inputs() -> None:
    doc = copy.deepcopy(yaml.safe_load(TEXT_GENERATOR))
    plan = compile_plan(load_app(doc))
    pins = {"llm": {"text": "Short.", "usage": {}, "finish_reason": "stop"}}
    run_input = GraphRunInput(plan=plan, inputs={"words": 5, "query": "A long text."}, pins=pins)
    result = await run_graph(run_input, LocalExecutor())
    assert result.status == "succeeded", result.error
    assert result.answer == "Short."
    start = next(r for r in result.node_runs if r.node_id == "start")
    assert start.outputs["query"] == "A long text." and start.outputs["words"] == 5
