"""Known Dify node types implemented in a later step: specs and mock outputs only.

Such a node runs only when pinned or mocked (``mock_external`` pins every external one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tideflow.workflows.nodes._common import as_dict, as_list, require
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def _llm_mock(_data: dict[str, Any]) -> dict[str, Any]:
    return {"text": "", "usage": dict(_USAGE), "finish_reason": "stop"}


def _tool_mock(_data: dict[str, Any]) -> dict[str, Any]:
    return {"text": "", "files": [], "json": [{"data": []}]}


def _agent_mock(_data: dict[str, Any]) -> dict[str, Any]:
    return {"text": "", "usage": dict(_USAGE), "files": [], "json": []}


def _retrieval_mock(_data: dict[str, Any]) -> dict[str, Any]:
    return {"result": []}


def _classifier_mock(data: dict[str, Any]) -> dict[str, Any]:
    first = as_dict((as_list(data.get("classes")) or [{}])[0])
    return {
        "class_name": first.get("name", ""),
        "class_label": first.get("label", first.get("name", "")),
        "class_id": first.get("id", ""),
        "usage": dict(_USAGE),
    }


_DEFAULTS = {"string": "", "number": 0, "boolean": False, "bool": False, "select": ""}


def _extractor_mock(data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for raw in as_list(data.get("parameters")):
        param = as_dict(raw)
        kind = str(param.get("type", "string"))
        values[str(param.get("name"))] = [] if kind.startswith("array") else _DEFAULTS.get(kind, "")
    return {**values, "__is_success": 1, "__reason": None, "__usage": dict(_USAGE)}


def _validate_llm(data: dict[str, Any]) -> ConfigProblems:
    return require(data, "model")


def _validate_classifier(data: dict[str, Any]) -> ConfigProblems:
    return require(data, "query_variable_selector", "classes")


def _outputs_extractor(data: dict[str, Any]) -> set[str] | None:
    names = {str(as_dict(p).get("name")) for p in as_list(data.get("parameters"))}
    return names | {"__is_success", "__reason", "__usage"}


def _fixed(*names: str) -> Callable[[dict[str, Any]], set[str] | None]:
    return lambda _data: set(names)


def _unknown(_data: dict[str, Any]) -> set[str] | None:
    return None


def _later(
    node_type: str,
    outputs: Callable[[dict[str, Any]], set[str] | None] = _unknown,
    mock: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    *,
    external: bool = True,
    validate: Callable[[dict[str, Any]], ConfigProblems] | None = None,
) -> NodeSpec:
    return NodeSpec(
        node_type,
        validate=validate or (lambda _data: []),
        outputs=outputs,
        external=external,
        implemented=False,
        mock_outputs=mock,
    )


_LLM_OUTPUTS = ("text", "reasoning_content", "usage", "finish_reason", "structured_output", "files")
_CLASSIFIER_OUTPUTS = ("class_name", "class_label", "class_id", "usage")

SPECS = [
    _later("llm", _fixed(*_LLM_OUTPUTS), _llm_mock, validate=_validate_llm),
    _later("knowledge-retrieval", _fixed("result"), _retrieval_mock),
    _later("knowledge-retrieval-v2", _fixed("result"), _retrieval_mock),
    _later("tool", _unknown, _tool_mock),
    _later("agent", _unknown, _agent_mock),
    _later(
        "question-classifier",
        _fixed(*_CLASSIFIER_OUTPUTS),
        _classifier_mock,
        validate=_validate_classifier,
    ),
    _later("parameter-extractor", _outputs_extractor, _extractor_mock),
    _later("human-input", external=False),
    _later("trigger-webhook", external=False),
    _later("trigger-schedule", _fixed(), external=False),
    _later("trigger-plugin"),
    _later("knowledge-index", _fixed()),
    _later("datasource"),
]
