"""LLM: the prompt is built in workflow code (``_llm_prompt``), the model called by activity
``llm_invoke``, which streams the tokens to the stream store for the API to relay.

Structured output sends the node's JSON schema and asks for JSON; the answer is read leniently
(``json_repair``) into ``structured_output``. ``reasoning_format: separated`` moves ``<think>``
blocks out of ``text`` into ``reasoning_content``.
"""

from __future__ import annotations

import json
from typing import Any

from tideflow.activities.llm.models import LlmMessage, LlmResult
from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.nodes._common import as_dict
from tideflow.workflows.nodes._llm_common import (
    invoke,
    llm_request,
    loose_json,
    model_choice,
    model_inputs,
    model_requirements,
    process_data,
    short,
    split_think,
    validate_memory_and_vision,
    validate_model,
)
from tideflow.workflows.nodes._llm_prompt import (
    build_prompt,
    prompt_inputs,
    validate_context,
    validate_prompt_template,
)
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

OUTPUTS = ("text", "reasoning_content", "usage", "finish_reason", "structured_output", "files")
REASONING_FORMATS = (None, "", "tagged", "separated")
_MOCK_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
STRUCTURED_INSTRUCTION = (
    "Reply with one JSON object that follows this JSON schema, and nothing else: no prose "
    "and no code fences.\nJSON schema:\n{schema}"
)


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Model, prompt template, context, memory, vision and reasoning format shapes."""
    problems = validate_model(data)
    problems += validate_prompt_template(data)
    problems += validate_context(data)
    problems += validate_memory_and_vision(data)
    if data.get("reasoning_format") not in REASONING_FORMATS:
        problems.append(("reasoning_format", "must be tagged or separated"))
    if data.get("structured_output") is not None and not isinstance(
        data.get("structured_output"), dict
    ):
        problems.append(("structured_output", "must be an object with a schema"))
    return problems


def run_requirements(data: dict[str, Any]) -> ConfigProblems:
    """A chosen model, a prompt, and a schema when structured output is on."""
    problems = model_requirements(data)
    if data.get("prompt_template") in (None, [], {}):
        problems.append(("prompt_template", "prompt_template is required"))
    if structured_output_on(data) and _schema(data) is None:
        problems.append(("structured_output.schema", "a JSON schema object is required"))
    return problems


def outputs(_data: dict[str, Any]) -> set[str] | None:
    """Dify's LLM outputs."""
    return set(OUTPUTS)


def mock_outputs(_data: dict[str, Any]) -> dict[str, Any]:
    """An empty answer."""
    return {"text": "", "usage": dict(_MOCK_USAGE), "finish_reason": "stop"}


def structured_output_on(data: dict[str, Any]) -> bool:
    """``structured_output_switch_on`` (or the legacy ``structured_output_enabled``)."""
    return bool(data.get("structured_output_switch_on", data.get("structured_output_enabled")))


def _schema(data: dict[str, Any]) -> dict[str, Any] | None:
    """``structured_output.schema`` as an object (the editor may store it as JSON text)."""
    schema: Any = as_dict(data.get("structured_output")).get("schema")
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError:
            return None
    return as_dict(schema) or None


def _with_instruction(messages: list[LlmMessage], schema: dict[str, Any]) -> list[LlmMessage]:
    """Ask for JSON: in the system message (a new one first), or in front of a completion
    prompt (its only message)."""
    note = STRUCTURED_INSTRUCTION.format(schema=json.dumps(schema, ensure_ascii=False))
    first = messages[0]
    if first.role == "system" and isinstance(first.content, str):
        return [first.model_copy(update={"content": f"{first.content}\n\n{note}"}), *messages[1:]]
    if len(messages) == 1 and isinstance(first.content, str):
        return [first.model_copy(update={"content": f"{note}\n\n{first.content}"})]
    return [LlmMessage(role="system", content=note), *messages]


def _structured(ctx: NodeContext, text: str) -> dict[str, Any]:
    value = loose_json(text)
    if not isinstance(value, dict):
        raise NodeError(
            f"Node {ctx.node.id} ({ctx.node.title}): structured_output: the model's answer is "
            f"not a JSON object: {short(text)!r}",
            "StructuredOutputParseError",
        )
    return as_dict(value)


def _answer(result: LlmResult, separated: bool) -> tuple[str, str]:
    """(text, reasoning_content); separated, ``<think>`` blocks the activity left in the text
    move to the reasoning too."""
    if not separated:
        return result.text, result.reasoning_content
    text, thought = split_think(result.text)
    return text, result.reasoning_content or thought


async def run(ctx: NodeContext) -> NodeResult:
    """Build the prompt, call the model, read the answer."""
    model = model_choice(ctx)
    prompt = build_prompt(ctx)
    schema = _schema(ctx.data) if structured_output_on(ctx.data) else None
    if structured_output_on(ctx.data) and schema is None:
        raise NodeError(
            f"Node {ctx.node.id}: structured_output.schema: a JSON schema object is required",
            "StructuredOutputSchemaError",
        )
    messages = _with_instruction(prompt.messages, schema) if schema else prompt.messages
    separated = ctx.data.get("reasoning_format") == "separated"
    request = llm_request(
        ctx, model, messages, stream=True, json_schema=schema, separate_reasoning=separated
    )
    result = await invoke(ctx, request)
    if prompt.retriever_resources:
        ctx.add_metadata(retriever_resources=prompt.retriever_resources)
    text, reasoning = _answer(result, separated)
    values: dict[str, Any] = {
        "text": text,
        "reasoning_content": reasoning,
        "usage": result.usage.model_dump(),
        "finish_reason": result.finish_reason,
        "files": [],
    }
    if schema is not None:
        values["structured_output"] = _structured(ctx, result.text)
    return NodeResult(
        inputs={**prompt_inputs(ctx, prompt), **model_inputs(model)},
        outputs=values,
        process_data=process_data(model, messages, result),
    )


SPECS = [
    NodeSpec(
        type="llm",
        validate=validate,
        outputs=outputs,
        external=True,
        run_requirements=run_requirements,
        mock_outputs=mock_outputs,
    )
]
RUNNERS = {"llm": run}
