"""What the llm, question-classifier and parameter-extractor nodes share.

The model config, the ``llm_invoke`` call (``tideflow.activities.llm.models`` is pure pydantic,
so workflow code imports it), vision files, ``<think>`` blocks and lenient JSON reading of a
model's answer. Conversation memory is in ``_llm_memory``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Literal

import json_repair

from tideflow.activities.llm.models import (
    LLM_ACTIVITY,
    LlmMessage,
    LlmRequest,
    LlmResult,
    StreamTarget,
)
from tideflow.workflows.engine.context import NodeContext
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.engine.template import SELECTOR_PATTERN, value_text
from tideflow.workflows.nodes._common import as_dict, as_list, is_selector
from tideflow.workflows.nodes.spec import ConfigProblems

# Workflow code cannot read settings: the activity ends a call itself at settings.llm_timeout_s
# (a node failure its retry_config may retry); this start-to-close limit, above the largest
# setting the activity honours, only catches an attempt that never ends.
LLM_TIMEOUT_SECONDS = 3600.0
MODEL_MODES = ("chat", "completion")
IMAGE_DETAILS = ("high", "low")
DEFAULT_FILES_SELECTOR = ["sys", "files"]
THINK_BLOCK = re.compile(r"<think[^>]*>([\s\S]*?)</think>", re.IGNORECASE)
# Dify caps a completion param resolved from a variable at this many characters.
MAX_PARAM_LENGTH = 1024


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """The node's ``model``: provider, model name, mode and completion params (resolved)."""

    provider: str
    name: str
    mode: Literal["chat", "completion"]
    params: dict[str, Any]


def validate_model(data: dict[str, Any]) -> ConfigProblems:
    """``model`` is an object with string provider/name, a known mode and object params.

    Whether a model is chosen at all is a run requirement (``model_requirements``): Dify's test
    fixtures leave it empty on nodes they mock.
    """
    model = data.get("model")
    if not isinstance(model, dict):
        return [("model", "model is required")]
    config = as_dict(model)
    problems: ConfigProblems = [
        (f"model.{key}", "must be a string")
        for key in ("provider", "name")
        if not isinstance(config.get(key) or "", str)
    ]
    if config.get("mode") not in (None, "", *MODEL_MODES):
        problems.append(("model.mode", f"unknown mode {config.get('mode')}: chat or completion"))
    params = config.get("completion_params")
    if params is not None and not isinstance(params, dict):
        problems.append(("model.completion_params", "must be an object"))
    return problems


def model_requirements(data: dict[str, Any]) -> ConfigProblems:
    """A node that really calls a model needs its provider and name."""
    model = as_dict(data.get("model"))
    return [
        (f"model.{key}", f"model.{key} is required: choose a model")
        for key in ("provider", "name")
        if not model.get(key)
    ]


def validate_memory_and_vision(data: dict[str, Any]) -> ConfigProblems:
    """``memory`` and ``vision`` are objects; vision's file selector is a selector."""
    problems: ConfigProblems = []
    for field in ("memory", "vision"):
        if data.get(field) is not None and not isinstance(data.get(field), dict):
            problems.append((field, "must be an object"))
    configs = as_dict(as_dict(data.get("vision")).get("configs"))
    selector = configs.get("variable_selector")
    if selector not in (None, []) and not is_selector(selector):
        problems.append(("vision.configs.variable_selector", "must be a variable selector"))
    if configs.get("detail") not in (None, "", *IMAGE_DETAILS):
        problems.append(("vision.configs.detail", "must be high or low"))
    return problems


def model_choice(ctx: NodeContext) -> ModelChoice:
    """The node's model; a node without one fails naming the field."""
    problems = model_requirements(ctx.data)
    if problems:
        raise NodeError(f"Node {ctx.node.id}: {problems[0][1]}", "ModelNotConfiguredError")
    model = as_dict(ctx.data.get("model"))
    params = {
        str(key): _resolved_param(ctx, value)
        for key, value in as_dict(model.get("completion_params")).items()
    }
    return ModelChoice(
        provider=str(model["provider"]),
        name=str(model["name"]),
        mode="completion" if model.get("mode") == "completion" else "chat",
        params=params,
    )


def _resolved_param(ctx: NodeContext, value: Any) -> Any:
    """A completion param; a string referring to variables is rendered (numbers and booleans
    read back as such), as Dify does."""
    if not isinstance(value, str) or not SELECTOR_PATTERN.search(value):
        return value
    text = ctx.render(value)[:MAX_PARAM_LENGTH]
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        return text
    return parsed if isinstance(parsed, int | float | bool) else text


def llm_request(
    ctx: NodeContext,
    model: ModelChoice,
    messages: list[LlmMessage],
    *,
    stream: bool = False,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: str | dict[str, Any] | None = None,
    json_schema: dict[str, Any] | None = None,
    separate_reasoning: bool = False,
) -> LlmRequest:
    """The activity's input for this node (``stream``: its tokens go to the stream store)."""
    target = None
    if stream:
        target = StreamTarget(
            run_id=ctx.state.recorder.run_id, node_id=ctx.node.id, node_run_id=ctx.run.id
        )
    return LlmRequest(
        tenant_id=ctx.state.tenant_id,
        provider=model.provider,
        model=model.name,
        mode=model.mode,
        messages=messages,
        params=model.params,
        tools=tools or [],
        tool_choice=tool_choice,
        json_schema=json_schema,
        stream=target,
        separate_reasoning=separate_reasoning,
        node_id=ctx.node.id,
        max_attempts=ctx.max_attempts,
    )


async def invoke(ctx: NodeContext, request: LlmRequest) -> LlmResult:
    """Call ``llm_invoke`` (heartbeating, limiting its own attempts) and record its usage."""
    result = await ctx.call_activity(
        LLM_ACTIVITY,
        request,
        LlmResult,
        timeout_seconds=LLM_TIMEOUT_SECONDS,
        heartbeats=True,
        limits_own_attempts=True,
    )
    ctx.record_usage(result.usage.model_dump())
    return result


def process_data(
    model: ModelChoice, messages: list[LlmMessage], result: LlmResult, **extra: Any
) -> dict[str, Any]:
    """Dify's process_data of a model call: mode, the prompts sent, usage and the model."""
    left_out = set(result.left_out)
    sent = [message for index, message in enumerate(messages) if index not in left_out]
    return {
        "model_mode": model.mode,
        "prompts": saved_prompts(model.mode, sent),
        "usage": result.usage.model_dump(),
        "finish_reason": result.finish_reason,
        "model_provider": model.provider,
        "model_name": model.name,
        **extra,
    }


def saved_prompts(mode: str, messages: list[LlmMessage]) -> list[dict[str, Any]]:
    """The prompts as Dify's logs keep them: ``{role, text, files}`` per message (an assistant
    message that called tools adds ``tool_calls``); a completion prompt is one user entry,
    with ``files`` only when it has some."""
    saved: list[dict[str, Any]] = []
    for message in messages:
        text, files = _text_and_files(message.content)
        entry: dict[str, Any] = {"role": message.role, "text": text, "files": files}
        if message.tool_calls:
            entry["tool_calls"] = message.tool_calls
        saved.append(entry)
    if mode == "completion" and saved:
        first = {"role": "user", "text": saved[0]["text"]}
        return [{**first, "files": saved[0]["files"]} if saved[0]["files"] else first]
    return saved


def _text_and_files(content: str | list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(content, str):
        return content, []
    text, files = "", list[dict[str, Any]]()
    for part in content:
        if part.get("type") == "text":
            text += str(part.get("text") or "")
        elif part.get("type") == "image_file":
            file = as_dict(part.get("file"))
            where = file.get("remote_url") or file.get("url") or file.get("related_id") or ""
            files.append({"type": "image", "data": str(where), "detail": part.get("detail")})
    return text, files


def model_inputs(model: ModelChoice) -> dict[str, Any]:
    """The model identity Dify adds to a model node's inputs."""
    return {"model_provider": model.provider, "model_name": model.name}


# Vision ------------------------------------------------------------------------------------


def vision_files(ctx: NodeContext) -> list[dict[str, Any]]:
    """Image files the node shows the model (vision enabled): from ``vision.configs
    .variable_selector``, ``sys.files`` by default."""
    vision = as_dict(ctx.data.get("vision"))
    if not vision.get("enabled"):
        return []
    selector = as_dict(vision.get("configs")).get("variable_selector")
    found, value = ctx.find(selector if is_selector(selector) else DEFAULT_FILES_SELECTOR)
    if not found or value is None:
        return []
    if not isinstance(value, dict | list):
        raise NodeError(
            f"Node {ctx.node.id}: vision.configs.variable_selector must point at a file or a "
            f"file list, not {type(value).__name__}",
            "InvalidVariableTypeError",
        )
    files = [as_dict(value)] if isinstance(value, dict) else [as_dict(f) for f in as_list(value)]
    return [file for file in files if _is_image(file)]


def _is_image(file: dict[str, Any]) -> bool:
    mime = str(file.get("mime_type") or "")
    return file.get("type") == "image" or mime.startswith("image/")


def attach_images(
    messages: list[LlmMessage], files: list[dict[str, Any]], data: dict[str, Any]
) -> list[LlmMessage]:
    """``files`` as image parts in front of the last user message (a new one when the last
    message is not the user's), with the vision config's detail."""
    if not files:
        return messages
    configs = as_dict(as_dict(data.get("vision")).get("configs"))
    detail = "low" if configs.get("detail") == "low" else "high"
    parts: list[dict[str, Any]] = [
        {"type": "image_file", "file": file, "detail": detail} for file in files
    ]
    if not messages or messages[-1].role != "user":
        return [*messages, LlmMessage(role="user", content=parts)]
    last = messages[-1]
    content = last.content
    text_parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
    return [*messages[:-1], last.model_copy(update={"content": [*parts, *text_parts]})]


# Answers -----------------------------------------------------------------------------------


def split_think(text: str) -> tuple[str, str]:
    """(text without ``<think>`` blocks, the blocks' content)."""
    if "<think" not in text.lower():
        return text, ""
    reasoning = "\n".join(part.strip() for part in THINK_BLOCK.findall(text))
    return THINK_BLOCK.sub("", text).strip(), reasoning


def loose_json(text: str) -> Any:
    """The JSON a model meant, read leniently: ``<think>`` blocks, prose and code fences
    around it, unquoted keys, a missing brace... None when there is none; of several
    objects, the first."""
    cleaned, _ = split_think(text)
    try:
        value: Any = json_repair.loads(cleaned)
    except (ValueError, TypeError, RecursionError):
        return None
    if isinstance(value, list):
        items = as_list(value)
        objects = [as_dict(item) for item in items if isinstance(item, dict)]
        return objects[0] if objects else items
    return None if value == "" else value


def short(value: Any, limit: int = 200) -> str:
    """A value as text cut to ``limit`` characters (for error messages)."""
    text = value_text(value)
    return text if len(text) <= limit else text[:limit] + "..."
