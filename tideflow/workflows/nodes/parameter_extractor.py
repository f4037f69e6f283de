"""Parameter extractor: the model reads the node's ``parameters`` out of a text.

``reasoning_mode: function_call`` (the default, chat models) offers one tool,
``extract_parameters``, whose JSON schema comes from ``parameters`` and forces its use; the
call's arguments are the values. ``prompt`` mode (and completion models) asks for a JSON object
and reads the answer leniently. Each value is then checked and converted to its parameter's
type. Like Dify, a missing required value or an answer that cannot be read does not fail the
node: the parameters get their defaults, ``__is_success`` is 0 and ``__reason`` says why.
"""

from __future__ import annotations

import json
from typing import Any

from tideflow.activities.llm.models import LlmMessage, LlmResult
from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.engine.template import value_text
from tideflow.workflows.nodes._common import as_dict, as_list, is_selector
from tideflow.workflows.nodes._extractor_params import (
    LEGACY_TYPES,
    TYPES,
    default,
    json_schema,
    parameters,
    read_values,
)
from tideflow.workflows.nodes._llm_common import (
    attach_images,
    invoke,
    llm_request,
    loose_json,
    model_choice,
    model_inputs,
    model_requirements,
    process_data,
    validate_memory_and_vision,
    validate_model,
    vision_files,
)
from tideflow.workflows.nodes._llm_memory import node_history_text
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

TOOL_NAME = "extract_parameters"
RESERVED = frozenset({"__is_success", "__reason", "__usage"})
REASONING_MODES = (None, "", "function_call", "prompt")
_MOCK_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
_GUIDE = """Instructions for this extraction (may be empty):
{instruction}

Earlier conversation between the human and the assistant (may be empty):
<histories>
{histories}
</histories>"""
FUNCTION_SYSTEM = (
    "You extract parameters from text. Call the function `extract_parameters` once, with the "
    "values the user's text states; leave out a parameter the text does not give rather than "
    "inventing a value.\n\n" + _GUIDE
)
PROMPT_SYSTEM = (
    "You extract parameters from text. Reply with one JSON object that follows the JSON schema "
    "the user gives, and nothing else (no prose, no code fences); leave out a parameter the "
    "text does not give rather than inventing a value.\n\n" + _GUIDE
)
USER_PROMPT = "Text:\n{text}\n\nParameters to extract, as a JSON schema:\n{schema}"
COMPLETION_SUFFIX = "\n\nJSON answer:"


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Model, query selector, reasoning mode and well-formed parameters."""
    problems = validate_model(data)
    if not is_selector(data.get("query")):
        problems.append(("query", "must be a variable selector"))
    if data.get("reasoning_mode") not in REASONING_MODES:
        problems.append(("reasoning_mode", "must be function_call or prompt"))
    problems += validate_memory_and_vision(data)
    items = as_list(data.get("parameters"))
    if not items:
        problems.append(("parameters", "at least one parameter is required"))
    seen: set[str] = set()
    for index, item in enumerate(items):
        problems += _parameter_problems(as_dict(item), f"parameters[{index}]", seen)
    return problems


def _parameter_problems(entry: dict[str, Any], field: str, seen: set[str]) -> ConfigProblems:
    problems: ConfigProblems = []
    name, kind = entry.get("name"), entry.get("type")
    if not isinstance(name, str) or not name:
        problems.append((f"{field}.name", "a parameter needs a name"))
    elif name in RESERVED:
        problems.append((f"{field}.name", f"{name} is reserved for the node's own outputs"))
    elif name in seen:
        problems.append((f"{field}.name", f"duplicate parameter {name}"))
    else:
        seen.add(name)
    if LEGACY_TYPES.get(str(kind), kind) not in TYPES:
        known = ", ".join(sorted([*TYPES, *LEGACY_TYPES]))
        problems.append((f"{field}.type", f"unknown type {kind}: one of {known}"))
    if not isinstance(entry.get("options") or [], list):
        problems.append((f"{field}.options", "must be a list"))
    return problems


def outputs(data: dict[str, Any]) -> set[str] | None:
    """Each parameter plus ``__is_success``, ``__reason`` and ``__usage``."""
    return {p.name for p in parameters(data)} | RESERVED


def mock_outputs(data: dict[str, Any]) -> dict[str, Any]:
    """Defaults, marked successful."""
    values = {p.name: default(p.type) for p in parameters(data)}
    return {**values, "__is_success": 1, "__reason": None, "__usage": dict(_MOCK_USAGE)}


def _tool_call(result: LlmResult) -> dict[str, Any] | None:
    """The call of ``extract_parameters`` (or the first call) in the answer."""
    calls = [as_dict(c) for c in result.tool_calls]
    named = [c for c in calls if as_dict(c.get("function")).get("name") == TOOL_NAME]
    return (named or calls or [None])[0]


def answer_of(result: LlmResult) -> Any:
    """What the model answered: its tool call's arguments, else its text, read leniently."""
    call = _tool_call(result)
    if call is not None:
        arguments: Any = as_dict(call.get("function")).get("arguments")
        return as_dict(arguments) if isinstance(arguments, dict) else loose_json(str(arguments))
    return loose_json(result.text)


# Prompt ------------------------------------------------------------------------------------


def _messages(
    ctx: NodeContext, query: str, schema: dict[str, Any], *, function: bool, completion: bool
) -> list[LlmMessage]:
    guide = {
        "instruction": ctx.render(str(ctx.data.get("instruction") or "")),
        "histories": node_history_text(ctx),
    }
    system = (FUNCTION_SYSTEM if function else PROMPT_SYSTEM).format(**guide)
    user = USER_PROMPT.format(text=query, schema=json.dumps(schema, ensure_ascii=False))
    if completion:
        return [LlmMessage(role="user", content=f"{system}\n\n{user}{COMPLETION_SUFFIX}")]
    return [LlmMessage(role="system", content=system), LlmMessage(role="user", content=user)]


def _tool(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": "Extract parameters from the natural language text",
            "parameters": schema,
        },
    }


async def run(ctx: NodeContext) -> NodeResult:
    """Ask the model for the parameters, then check and convert them."""
    model = model_choice(ctx)
    params = parameters(ctx.data)
    selector = ctx.data.get("query")
    query = value_text(ctx.pool.get(selector)) if is_selector(selector) else ""
    schema = json_schema(params)
    completion = model.mode == "completion"
    function = ctx.data.get("reasoning_mode") != "prompt" and not completion
    files = vision_files(ctx)
    messages = _messages(ctx, query, schema, function=function, completion=completion)
    messages = attach_images(messages, files, ctx.data)
    tool = _tool(schema) if function else None
    request = llm_request(
        ctx,
        model,
        messages,
        tools=[tool] if tool else None,
        tool_choice={"type": "function", "function": {"name": TOOL_NAME}} if tool else None,
    )
    result = await invoke(ctx, request)
    values, problems = read_values(params, answer_of(result))
    return NodeResult(
        inputs={
            "query": query,
            "files": files,
            "parameters": as_list(ctx.data.get("parameters")),
            "instruction": ctx.data.get("instruction"),
            **model_inputs(model),
        },
        outputs={
            "__is_success": 0 if problems else 1,
            "__reason": "; ".join(problems) if problems else None,
            "__usage": result.usage.model_dump(),
            **values,
        },
        process_data=process_data(
            model,
            messages,
            result,
            function=tool or {},
            tool_call=_tool_call(result),
            llm_text=result.text,
        ),
    )


SPECS = [
    NodeSpec(
        type="parameter-extractor",
        validate=validate,
        outputs=outputs,
        external=True,
        run_requirements=model_requirements,
        mock_outputs=mock_outputs,
    )
]
RUNNERS = {"parameter-extractor": run}
