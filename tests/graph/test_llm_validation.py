"""Validation of the llm, question-classifier and parameter-extractor nodes (real registry):
each problem names its field; a model still to be chosen matters only for a node that runs."""

from __future__ import annotations

from tests.graph.builders import end, linear, node
from tideflow.workflows.graph import validate_app
from tideflow.workflows.nodes import NODE_SPECS

MODEL = {"provider": "openai", "name": "gpt-4o", "mode": "chat", "completion_params": {}}


def test_llm_config_shapes() -> None:
    validate = NODE_SPECS["llm"].validate
    good = {
        "model": MODEL,
        "prompt_template": [{"role": "system", "text": "hi", "edition_type": "basic"}],
        "context": {"enabled": True, "variable_selector": []},
    }
    assert validate(good) == []
    assert validate({"prompt_template": {"text": "completion"}, "model": MODEL}) == []
    bad = {
        "model": {"provider": 3, "name": "m", "mode": "edit", "completion_params": []},
        "prompt_template": [
            {"role": "robot", "text": 1},
            "nope",
            {"role": "user", "edition_type": "x"},
        ],
        "context": {"enabled": True, "variable_selector": "ctx"},
        "vision": {"enabled": True, "configs": {"variable_selector": ["only"], "detail": "max"}},
        "memory": "yes",
        "reasoning_format": "hidden",
    }
    assert validate(bad) == [
        ("model.provider", "must be a string"),
        ("model.mode", "unknown mode edit: chat or completion"),
        ("model.completion_params", "must be an object"),
        ("prompt_template[0].role", "unknown role robot: system, user, assistant"),
        ("prompt_template[0].text", "must be a string"),
        ("prompt_template[1]", "must be an object with role and text"),
        ("prompt_template[2].edition_type", "must be basic or jinja2"),
        ("context.variable_selector", "must be a variable selector"),
        ("memory", "must be an object"),
        ("vision.configs.variable_selector", "must be a variable selector"),
        ("vision.configs.detail", "must be high or low"),
        ("reasoning_format", "must be tagged or separated"),
    ]
    assert validate({}) == [("model", "model is required")]
    requirements = NODE_SPECS["llm"].run_requirements
    assert requirements({"model": MODEL, "prompt_template": [{"role": "user", "text": "x"}]}) == []
    assert requirements(
        {"model": {"provider": "", "name": "m"}, "structured_output_enabled": True}
    ) == [
        ("model.provider", "model.provider is required: choose a model"),
        ("prompt_template", "prompt_template is required"),
        ("structured_output.schema", "a JSON schema object is required"),
    ]


def test_classifier_config() -> None:
    validate = NODE_SPECS["question-classifier"].validate
    good = {"model": MODEL, "query_variable_selector": ["sys", "query"], "classes": [{"id": "1"}]}
    assert validate(good) == []
    bad = {
        "model": MODEL,
        "query_variable_selector": "sys.query",
        "classes": [{"id": "1", "name": "A"}, {"name": "B"}, {"id": "1", "name": 5}],
    }
    assert validate(bad) == [
        ("query_variable_selector", "must be a variable selector"),
        ("classes[1].id", "a class needs an id"),
        ("classes[2].id", "duplicate class id 1"),
        ("classes[2].name", "must be a string"),
    ]
    assert ("classes", "at least one class is required") in validate({"model": MODEL})


def test_extractor_config() -> None:
    validate = NODE_SPECS["parameter-extractor"].validate
    params = [
        {"name": "city", "type": "string"},
        {"name": "ok", "type": "bool"},
        {"name": "pick", "type": "select", "options": ["a"]},
        {"name": "ids", "type": "array[number]"},
    ]
    assert validate({"model": MODEL, "query": ["start", "q"], "parameters": params}) == []
    bad = {
        "query": ["start"],
        "reasoning_mode": "guess",
        "parameters": [
            {"name": "__reason", "type": "string"},
            {"name": "", "type": "file"},
            {"name": "x", "type": "string", "options": "a,b"},
            {"name": "x", "type": "number"},
        ],
    }
    problems = validate(bad)
    assert problems[:3] == [
        ("model", "model is required"),
        ("query", "must be a variable selector"),
        ("reasoning_mode", "must be function_call or prompt"),
    ]
    assert problems[3] == ("parameters[0].name", "__reason is reserved for the node's own outputs")
    assert problems[4] == ("parameters[1].name", "a parameter needs a name")
    assert problems[5][0] == "parameters[1].type" and "unknown type file" in problems[5][1]
    assert problems[6:] == [
        ("parameters[2].options", "must be a list"),
        ("parameters[3].name", "duplicate parameter x"),
    ]
    outputs = NODE_SPECS["parameter-extractor"].outputs({"parameters": params})
    assert outputs == {"city", "ok", "pick", "ids", "__is_success", "__reason", "__usage"}


def test_a_model_to_choose_matters_only_when_the_node_runs() -> None:
    llm = node("llm", "llm", model={"provider": "", "name": ""}, prompt_template=[])
    app = linear(llm, end_node=end(["llm", "text"]))
    assert [str(p) for p in validate_app(app)] == [
        "node llm (Llm): model.provider: model.provider is required: choose a model",
        "node llm (Llm): model.name: model.name is required: choose a model",
        "node llm (Llm): prompt_template: prompt_template is required",
    ]
    assert validate_app(app, pinned={"llm"}) == []
    assert validate_app(app, mock_external=True) == []
