"""Question classifier: the model picks one of the node's classes; the branch taken is the
chosen class's id.

The prompt lists the classes as JSON with the node's instruction and asks for
``{"category_id", "category_name"}``. The answer is read leniently: ``<think>`` blocks and
prose around the JSON are ignored, then the class is matched by id, by name or label, by a
class name appearing in the answer, and otherwise the first class is taken, as Dify does.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tideflow.activities.llm.models import LlmMessage
from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.engine.template import value_text
from tideflow.workflows.nodes._common import as_dict, as_list, is_selector
from tideflow.workflows.nodes._llm_common import (
    attach_images,
    invoke,
    llm_request,
    loose_json,
    model_choice,
    model_inputs,
    model_requirements,
    process_data,
    split_think,
    validate_memory_and_vision,
    validate_model,
    vision_files,
)
from tideflow.workflows.nodes._llm_memory import node_history_text
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

OUTPUTS = ("class_name", "class_label", "class_id", "usage")
_MOCK_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
SYSTEM_PROMPT = """You are a text classifier. Assign the user's input to exactly one of the \
categories below.

Categories, as JSON:
{categories}

Instructions for this classification (may be empty):
{instruction}

Earlier conversation between the human and the assistant (may be empty):
<histories>
{histories}
</histories>

Reply with one JSON object and nothing else:
{{"category_id": "<id of the chosen category>", "category_name": "<its name>"}}"""
COMPLETION_SUFFIX = "\n\nInput:\n{query}\n\nJSON answer:"


@dataclasses.dataclass(frozen=True)
class Category:
    """One class as the run sees it (its name rendered)."""

    id: str
    name: str
    label: str


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Model, the query selector, and classes with distinct ids."""
    problems = validate_model(data)
    if not is_selector(data.get("query_variable_selector")):
        problems.append(("query_variable_selector", "must be a variable selector"))
    problems += validate_memory_and_vision(data)
    classes = as_list(data.get("classes"))
    if not classes:
        problems.append(("classes", "at least one class is required"))
    seen: set[str] = set()
    for index, item in enumerate(classes):
        entry = as_dict(item)
        class_id = entry.get("id")
        if not isinstance(class_id, str) or not class_id:
            problems.append((f"classes[{index}].id", "a class needs an id"))
        elif class_id in seen:
            problems.append((f"classes[{index}].id", f"duplicate class id {class_id}"))
        else:
            seen.add(class_id)
        if not isinstance(entry.get("name") or "", str):
            problems.append((f"classes[{index}].name", "must be a string"))
    return problems


def outputs(_data: dict[str, Any]) -> set[str] | None:
    """Dify's classifier outputs."""
    return set(OUTPUTS)


def mock_outputs(data: dict[str, Any]) -> dict[str, Any]:
    """The first class (Dify's test mock)."""
    first = as_dict((as_list(data.get("classes")) or [{}])[0])
    return {
        "class_name": first.get("name", ""),
        "class_label": first.get("label", first.get("name", "")),
        "class_id": first.get("id", ""),
        "usage": dict(_MOCK_USAGE),
    }


def categories(ctx: NodeContext) -> list[Category]:
    """The node's classes, names rendered; a class without a label is ``CLASS <n>``."""
    found: list[Category] = []
    for index, item in enumerate(as_list(ctx.data.get("classes"))):
        entry = as_dict(item)
        found.append(
            Category(
                id=str(entry.get("id") or ""),
                name=ctx.render(str(entry.get("name") or "")),
                label=str(entry.get("label") or f"CLASS {index + 1}"),
            )
        )
    return found


def _messages(
    ctx: NodeContext, query: str, classes: list[Category], completion: bool
) -> list[LlmMessage]:
    listed = [{"category_id": c.id, "category_name": c.name} for c in classes]
    system = SYSTEM_PROMPT.format(
        categories=json.dumps(listed, ensure_ascii=False),
        instruction=ctx.render(str(ctx.data.get("instruction") or "")),
        histories=node_history_text(ctx),
    )
    if completion:
        text = system + COMPLETION_SUFFIX.format(query=query)
        return [LlmMessage(role="user", content=text)]
    return [LlmMessage(role="system", content=system), LlmMessage(role="user", content=query)]


def _by_id(classes: list[Category], wanted: list[str]) -> Category | None:
    for value in wanted:
        for category in classes:
            if category.id == value:
                return category
    return None


def _by_name(classes: list[Category], wanted: list[str]) -> Category | None:
    for value in (w.casefold() for w in wanted):
        for category in classes:
            if value and value in (category.name.strip().casefold(), category.label.casefold()):
                return category
    return None


def _named_in(classes: list[Category], text: str) -> Category | None:
    """The class whose name appears in ``text`` (the longest name wins a tie of overlaps)."""
    lowered = text.casefold()
    named = [c for c in classes if c.name.strip() and c.name.strip().casefold() in lowered]
    return max(named, key=lambda c: len(c.name.strip())) if named else None


def choose(classes: list[Category], answer: str) -> Category:
    """The class the model's answer names (see the module docstring); the first otherwise."""
    value = loose_json(answer)
    wanted: list[str] = []
    if isinstance(value, dict):
        entry = as_dict(value)
        wanted = [value_text(entry.get(k)).strip() for k in ("category_id", "category_name")]
    elif isinstance(value, str | int | float):
        wanted = [value_text(value).strip()]
    text, _ = split_think(answer)
    return (
        _by_id(classes, wanted)
        or _by_name(classes, wanted)
        or _named_in(classes, text)
        or classes[0]
    )


async def run(ctx: NodeContext) -> NodeResult:
    """Classify the query; the chosen class id is the branch to follow."""
    model = model_choice(ctx)
    selector = ctx.data.get("query_variable_selector")
    query = value_text(ctx.pool.get(selector)) if is_selector(selector) else ""
    classes = categories(ctx)
    if not classes:
        raise NodeError(
            f"Node {ctx.node.id}: classes: at least one class is required", "NoClassesError"
        )
    messages = _messages(ctx, query, classes, model.mode == "completion")
    messages = attach_images(messages, vision_files(ctx), ctx.data)
    result = await invoke(ctx, llm_request(ctx, model, messages))
    chosen = choose(classes, result.text)
    return NodeResult(
        inputs={"query": query, **model_inputs(model)},
        outputs={
            "class_name": chosen.name,
            "class_label": chosen.label,
            "class_id": chosen.id,
            "usage": result.usage.model_dump(),
        },
        process_data=process_data(model, messages, result),
        handles=[chosen.id],
    )


SPECS = [
    NodeSpec(
        type="question-classifier",
        validate=validate,
        outputs=outputs,
        external=True,
        run_requirements=model_requirements,
        mock_outputs=mock_outputs,
    )
]
RUNNERS = {"question-classifier": run}
