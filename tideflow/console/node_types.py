"""The console's table of Dify node types: a new node's default ``data`` and the names of the
outputs other nodes may read.

The console must not import ``tideflow.workflows`` (it pulls Temporal in), so this mirrors the
node registry's ``NodeSpec.outputs`` closely enough for variable pickers; the API's validator
stays the judge (a save lists what is wrong).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, cast

Data = dict[str, Any]

_MODEL: Data = {"provider": "", "name": "", "mode": "chat", "completion_params": {}}
_PY_CODE = 'def main(arg1: str) -> dict:\n    return {"result": arg1}\n'

# type -> (label, default data without type and title). Offered by "Add node" in this order.
DEFAULTS: dict[str, tuple[str, Data]] = {
    "start": ("User input (start)", {"variables": []}),
    "llm": (
        "LLM",
        {
            "model": _MODEL,
            "prompt_template": [{"role": "system", "text": ""}],
            "context": {"enabled": False, "variable_selector": []},
            "vision": {"enabled": False},
        },
    ),
    "knowledge-retrieval": (
        "Knowledge retrieval",
        {
            "query_variable_selector": [],
            "dataset_ids": [],
            "retrieval_mode": "multiple",
            "multiple_retrieval_config": {"top_k": 4, "reranking_enable": False},
        },
    ),
    "answer": ("Answer", {"answer": ""}),
    "end": ("Output (end)", {"outputs": []}),
    "if-else": (
        "IF/ELSE",
        {"cases": [{"case_id": "true", "logical_operator": "and", "conditions": []}]},
    ),
    "question-classifier": (
        "Question classifier",
        {
            "query_variable_selector": [],
            "model": _MODEL,
            "classes": [{"id": "1", "name": ""}, {"id": "2", "name": ""}],
            "instruction": "",
        },
    ),
    "code": (
        "Code",
        {
            "variables": [{"variable": "arg1", "value_selector": []}],
            "code_language": "python3",
            "code": _PY_CODE,
            "outputs": {"result": {"type": "string", "children": None}},
        },
    ),
    "template-transform": (
        "Template",
        {"variables": [{"variable": "arg1", "value_selector": []}], "template": "{{ arg1 }}"},
    ),
    "http-request": (
        "HTTP request",
        {
            "method": "get",
            "url": "",
            "authorization": {"type": "no-auth", "config": None},
            "headers": "",
            "params": "",
            "body": {"type": "none", "data": []},
        },
    ),
    "tool": (
        "Tool",
        {
            "provider_id": "",
            "provider_type": "builtin",
            "provider_name": "",
            "tool_name": "",
            "tool_label": "",
            "tool_configurations": {},
            "tool_parameters": {},
        },
    ),
    "agent": (
        "Agent",
        {"agent_strategy_provider_name": "", "agent_strategy_name": "", "agent_parameters": {}},
    ),
    "parameter-extractor": (
        "Parameter extractor",
        {
            "model": _MODEL,
            "query": [],
            "parameters": [],
            "instruction": "",
            "reasoning_mode": "prompt",
        },
    ),
    "variable-aggregator": ("Variable aggregator", {"output_type": "string", "variables": []}),
    "assigner": ("Variable assigner", {"version": "2", "items": []}),
    "document-extractor": (
        "Document extractor",
        {"variable_selector": [], "is_array_file": False},
    ),
    "list-operator": (
        "List operator",
        {
            "variable": [],
            "filter_by": {"enabled": False, "conditions": []},
            "order_by": {"enabled": False, "key": "", "value": "asc"},
            "limit": {"enabled": False, "size": 10},
            "extract_by": {"enabled": False, "serial": "1"},
        },
    ),
    "iteration": (
        "Iteration",
        {
            "iterator_selector": [],
            "output_selector": [],
            "is_parallel": False,
            "parallel_nums": 10,
            "error_handle_mode": "terminated",
            "flatten_output": True,
        },
    ),
    "loop": (
        "Loop",
        {"loop_count": 10, "break_conditions": [], "logical_operator": "and", "loop_variables": []},
    ),
    # Each action id is also the handle of the branch it takes.
    "human-input": (
        "Human input",
        {
            "form_content": "Please review and choose an action.",
            "inputs": [],
            "user_actions": [
                {"id": "approve", "title": "Approve", "button_style": "primary"},
                {"id": "reject", "title": "Reject", "button_style": "default"},
            ],
            "timeout": 3,
            "timeout_unit": "day",
        },
    ),
    # Triggers are root nodes of workflow apps, in place of the Start node.
    "trigger-webhook": (
        "Webhook trigger",
        {
            "method": "post",
            "content_type": "application/json",
            "headers": [],
            "params": [],
            "body": [],
            "status_code": 200,
            "response_body": "",
            "response_mode": "async",
        },
    ),
    "trigger-schedule": (
        "Schedule trigger",
        {
            "mode": "visual",
            "frequency": "daily",
            "visual_config": {
                "time": "12:00 AM",
                "weekdays": ["sun"],
                "on_minute": 0,
                "monthly_days": [1],
            },
            "cron_expression": "",
            "timezone": "UTC",
        },
    ),
}
# A container's inner entry node (added with the container).
CONTAINER_STARTS = {"iteration": "iteration-start", "loop": "loop-start"}


def label(node_type: str) -> str:
    """The type's name in the console."""
    return DEFAULTS[node_type][0] if node_type in DEFAULTS else node_type


def default_data(node_type: str, title: str) -> Data:
    """A new node's ``data``."""
    body = copy.deepcopy(DEFAULTS[node_type][1]) if node_type in DEFAULTS else {}
    return {"type": node_type, "title": title, "desc": "", **body}


def _items(value: Any) -> list[Data]:
    if not isinstance(value, list):
        return []
    return [cast(Data, v) for v in cast(list[Any], value) if isinstance(v, dict)]


def _named(field: str, key: str, *extra: str) -> Callable[[Data], list[str]]:
    def outputs(data: Data) -> list[str]:
        names = [str(v.get(key)) for v in _items(data.get(field)) if v.get(key)]
        return [*names, *extra]

    return outputs


def _code_outputs(data: Data) -> list[str]:
    declared = data.get("outputs")
    return [str(k) for k in cast(dict[str, Any], declared)] if isinstance(declared, dict) else []


def _llm_outputs(data: Data) -> list[str]:
    names = ["text", "reasoning_content", "usage", "finish_reason", "files"]
    if data.get("structured_output_switch_on") or data.get("structured_output_enabled"):
        names.append("structured_output")
    return names


def _aggregator_outputs(data: Data) -> list[str]:
    settings = data.get("advanced_settings")
    if isinstance(settings, dict) and cast(Data, settings).get("group_enabled"):
        groups = _items(cast(Data, settings).get("groups"))
        return [f"{g.get('group_name')}.output" for g in groups if g.get("group_name")]
    return ["output"]


def _webhook_outputs(data: Data) -> list[str]:
    """Each header (``-`` read as ``_``), query param and body param, and the raw request."""
    names = [str(v["name"]).replace("-", "_") for v in _items(data.get("headers")) if v.get("name")]
    for field in ("params", "body"):
        names += [str(v["name"]) for v in _items(data.get(field)) if v.get("name")]
    return [*dict.fromkeys(names), "_webhook_raw"]


def _fixed(*names: str) -> Callable[[Data], list[str]]:
    return lambda _data: list(names)


OUTPUTS: dict[str, Callable[[Data], list[str]]] = {
    "start": _named("variables", "variable"),
    "llm": _llm_outputs,
    "template-transform": _fixed("output"),
    "code": _code_outputs,
    "http-request": _fixed("status_code", "body", "headers", "files"),
    "knowledge-retrieval": _fixed("result"),
    "tool": _fixed("text", "files", "json"),
    "agent": _fixed("text", "files", "json", "usage"),
    "question-classifier": _fixed("class_name", "class_label", "class_id", "usage"),
    "parameter-extractor": _named("parameters", "name", "__is_success", "__reason"),
    "variable-aggregator": _aggregator_outputs,
    "iteration": _fixed("output"),
    "loop": _named("loop_variables", "label", "loop_round"),
    "document-extractor": _fixed("text"),
    "list-operator": _fixed("result", "first_record", "last_record"),
    "human-input": _named("inputs", "output_variable_name", "__action_id", "__rendered_content"),
    "trigger-webhook": _webhook_outputs,
    "trigger-schedule": _fixed(),  # none: a scheduled run has only sys.timestamp
}


def output_names(data: Data) -> list[str]:
    """What a node of this ``data`` writes that later nodes may read (none for end, answer,
    if-else, the assigner and the schedule trigger)."""
    outputs = OUTPUTS.get(str(data.get("type") or ""))
    return outputs(data) if outputs else []
