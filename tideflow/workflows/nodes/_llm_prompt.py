"""The LLM node's prompt: its template rendered, with context, memory and vision files.

A list ``prompt_template`` gives chat messages; an object gives one completion prompt (a single
user message). Basic text is rendered with ``{{#node.var#}}`` references after
``{{#context#}}`` is replaced; ``edition_type: jinja2`` renders ``jinja2_text`` in the
template-transform sandbox over ``prompt_config.jinja2_variables``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from tideflow.activities.llm.models import LlmMessage
from tideflow.workflows.engine.context import NodeContext
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.engine.template import template_selectors, value_text
from tideflow.workflows.nodes._common import as_dict, as_list, is_selector
from tideflow.workflows.nodes._llm_common import attach_images, vision_files
from tideflow.workflows.nodes._llm_memory import (
    history_messages,
    history_text,
    history_turns,
    insert_histories,
    memory_of,
)
from tideflow.workflows.nodes.spec import ConfigProblems
from tideflow.workflows.nodes.template_transform import render_jinja

CONTEXT_PLACEHOLDER = "{{#context#}}"
ROLES = ("system", "user", "assistant")
_ROLES: dict[str, Literal["system", "user", "assistant"]] = {
    "system": "system",
    "user": "user",
    "assistant": "assistant",
}
EDITION_TYPES = (None, "", "basic", "jinja2")
# Metadata keys of a knowledge chunk that Dify copies into a retriever resource, by the name
# the resource gives them.
_RESOURCE_KEYS = {
    "position": "position",
    "dataset_id": "dataset_id",
    "dataset_name": "dataset_name",
    "document_id": "document_id",
    "document_name": "document_name",
    "data_source_type": "data_source_type",
    "segment_id": "segment_id",
    "retriever_from": "retriever_from",
    "score": "score",
    "hit_count": "segment_hit_count",
    "word_count": "segment_word_count",
    "segment_position": "segment_position",
    "index_node_hash": "segment_index_node_hash",
    "page": "page",
    "doc_metadata": "doc_metadata",
}


@dataclasses.dataclass
class Prompt:
    """What the node sends, and what it read to build it (for its inputs and metadata)."""

    messages: list[LlmMessage]
    context: str = ""
    retriever_resources: list[dict[str, Any]] = dataclasses.field(
        default_factory=list[dict[str, Any]]
    )
    files: list[dict[str, Any]] = dataclasses.field(default_factory=list[dict[str, Any]])


def validate_prompt_template(data: dict[str, Any]) -> ConfigProblems:
    """A list of ``{role, text, edition_type}`` messages, or one ``{text, edition_type}``."""
    template = data.get("prompt_template")
    if template is None:
        return []
    if isinstance(template, dict):
        return _entry_problems(as_dict(template), "prompt_template", chat=False)
    if not isinstance(template, list):
        return [("prompt_template", "must be a list of messages or one completion prompt")]
    problems: ConfigProblems = []
    for index, item in enumerate(as_list(template)):
        field = f"prompt_template[{index}]"
        if not isinstance(item, dict):
            problems.append((field, "must be an object with role and text"))
            continue
        problems.extend(_entry_problems(as_dict(item), field, chat=True))
    return problems


def _entry_problems(entry: dict[str, Any], field: str, *, chat: bool) -> ConfigProblems:
    problems: ConfigProblems = []
    if chat and entry.get("role") not in ROLES:
        problems.append((f"{field}.role", f"unknown role {entry.get('role')}: {', '.join(ROLES)}"))
    for key in ("text", "jinja2_text"):
        if not isinstance(entry.get(key) or "", str):
            problems.append((f"{field}.{key}", "must be a string"))
    if entry.get("edition_type") not in EDITION_TYPES:
        problems.append((f"{field}.edition_type", "must be basic or jinja2"))
    return problems


def validate_context(data: dict[str, Any]) -> ConfigProblems:
    """The context's variable is a selector (an enabled context without one reads nothing,
    as in Dify)."""
    selector = as_dict(data.get("context")).get("variable_selector")
    if selector in (None, []) or is_selector(selector):
        return []
    return [("context.variable_selector", "must be a variable selector")]


def build_prompt(ctx: NodeContext) -> Prompt:
    """The messages the node sends: template, context, memory and vision files."""
    context, resources = read_context(ctx)
    template = ctx.data.get("prompt_template")
    if isinstance(template, dict):
        messages = [
            LlmMessage(role="user", content=_completion_text(ctx, as_dict(template), context))
        ]
    else:
        messages = _chat_messages(ctx, [as_dict(item) for item in as_list(template)], context)
    files = vision_files(ctx)
    messages = attach_images(messages, files, ctx.data)
    if not messages or all(not m.content for m in messages):
        raise NodeError(
            f"Node {ctx.node.id}: prompt_template: no prompt to send (the template is empty)",
            "NoPromptFoundError",
        )
    return Prompt(messages=messages, context=context, retriever_resources=resources, files=files)


def prompt_inputs(ctx: NodeContext, prompt: Prompt) -> dict[str, Any]:
    """The node's inputs as Dify lists them: the variables its prompt read, its context and
    its files."""
    inputs: dict[str, Any] = {}
    for text in _basic_texts(ctx.data):
        for selector in template_selectors(text):
            inputs[f"#{'.'.join(selector)}#"] = ctx.pool.get(selector)
    inputs.update(_jinja_variables(ctx))
    if prompt.context:
        inputs["#context#"] = prompt.context
    if prompt.files:
        inputs["#files#"] = prompt.files
    return inputs


def _basic_texts(data: dict[str, Any]) -> list[str]:
    template = data.get("prompt_template")
    entries = [as_dict(template)] if isinstance(template, dict) else as_list(template)
    texts = [
        str(as_dict(e).get("text") or "")
        for e in entries
        if as_dict(e).get("edition_type") != "jinja2"
    ]
    query = as_dict(data.get("memory")).get("query_prompt_template")
    return [*texts, str(query)] if query else texts


# Context -----------------------------------------------------------------------------------


def read_context(ctx: NodeContext) -> tuple[str, list[dict[str, Any]]]:
    """(``{{#context#}}`` text, retriever resources) from ``context.variable_selector``.

    A string is the context as is; a list contributes its strings and, of its objects, the
    ``summary`` then the ``content``; knowledge chunks (``metadata._source == "knowledge"``)
    also become retriever resources. Other values give no context, as in Dify.
    """
    config = as_dict(ctx.data.get("context"))
    selector = config.get("variable_selector")
    if not config.get("enabled") or not is_selector(selector):
        return "", []
    value = ctx.pool.get(selector)
    if isinstance(value, str):
        return value, []
    parts: list[str] = []
    resources: list[dict[str, Any]] = []
    for index, item in enumerate(as_list(value)):
        if isinstance(item, str):
            parts.append(item)
            continue
        entry = as_dict(item)
        if "content" not in entry:
            raise NodeError(
                f"Node {ctx.node.id}: context.variable_selector: item {index} is neither text "
                "nor an object with content",
                "InvalidContextStructureError",
            )
        if entry.get("summary"):
            parts.append(value_text(entry["summary"]))
        parts.append(value_text(entry["content"]))
        resource = _retriever_resource(entry)
        if resource is not None:
            resources.append(resource)
    return "\n".join(parts).strip(), resources


def _retriever_resource(entry: dict[str, Any]) -> dict[str, Any] | None:
    metadata = as_dict(entry.get("metadata"))
    if metadata.get("_source") != "knowledge":
        return None
    resource = {name: metadata.get(key) for name, key in _RESOURCE_KEYS.items()}
    resource.update(
        content=entry.get("content"), files=entry.get("files"), summary=entry.get("summary")
    )
    return resource


# Templates ---------------------------------------------------------------------------------


def _jinja_variables(ctx: NodeContext) -> dict[str, Any]:
    """``prompt_config.jinja2_variables`` by name (a missing variable is an empty string)."""
    variables: dict[str, Any] = {}
    for item in as_list(as_dict(ctx.data.get("prompt_config")).get("jinja2_variables")):
        entry = as_dict(item)
        selector = entry.get("value_selector")
        if entry.get("variable") and is_selector(selector):
            variables[str(entry["variable"])] = ctx.pool.get(selector, "")
    return variables


def _render(ctx: NodeContext, entry: dict[str, Any], context: str) -> str:
    if entry.get("edition_type") == "jinja2":
        source = str(entry.get("jinja2_text") or entry.get("text") or "")
        return render_jinja(source, _jinja_variables(ctx)) if source else ""
    return ctx.render(str(entry.get("text") or "").replace(CONTEXT_PLACEHOLDER, context))


def _chat_messages(
    ctx: NodeContext, entries: list[dict[str, Any]], context: str
) -> list[LlmMessage]:
    messages: list[LlmMessage] = []
    for entry in entries:
        role = _ROLES.get(str(entry.get("role") or "user"))
        text = _render(ctx, entry, context)
        if text and role is not None:
            messages.append(LlmMessage(role=role, content=text))
    memory = memory_of(ctx.data)
    return _with_memory(ctx, messages, memory) if memory is not None else messages


def _with_memory(
    ctx: NodeContext, messages: list[LlmMessage], memory: dict[str, Any]
) -> list[LlmMessage]:
    """The current query joins as the last user message; the history goes before it (before
    the template's last user message when there is no query)."""
    query = _memory_query(ctx, memory)
    if query:
        messages = [*messages, LlmMessage(role="user", content=query)]
    users = [i for i, message in enumerate(messages) if message.role == "user"]
    at = users[-1] if users else len(messages)
    history = history_messages(history_turns(ctx, memory))
    return [*messages[:at], *history, *messages[at:]]


def _memory_query(ctx: NodeContext, memory: dict[str, Any]) -> str:
    """``memory.query_prompt_template`` rendered; without one, ``sys.query`` (chatflows)."""
    template = memory.get("query_prompt_template")
    if template:
        return ctx.render(str(template))
    found, query = ctx.find(["sys", "query"])
    return value_text(query) if found else ""


def _completion_text(ctx: NodeContext, entry: dict[str, Any], context: str) -> str:
    """The completion prompt; with memory, the history text replaces ``#histories#``."""
    text = _render(ctx, entry, context)
    memory = memory_of(ctx.data)
    if memory is None:
        return text
    return insert_histories(text, history_text(history_turns(ctx, memory), memory))
