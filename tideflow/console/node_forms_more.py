"""Config forms of the question classifier, knowledge retrieval, variable aggregator, human
input, tool and parameter extractor nodes (registered in ``node_forms.FORMS``). Like the others,
fields write into the node's ``data`` only when their value differs, and adding or removing a
row is queued on the form."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import streamlit as st

from tideflow.console.node_fields import model_fields, put, rows, selector_field, text_field
from tideflow.console.node_types import Data
from tideflow.console.variables import selector_picker

if TYPE_CHECKING:
    from tideflow.console.node_forms import NodeForm

VALUE_TYPES = (
    *("string", "number", "object", "boolean", "file"),
    *("array[string]", "array[number]", "array[object]", "array[boolean]", "array[file]"),
)
PARAMETER_TYPES = (
    *("string", "number", "boolean"),
    *("array[string]", "array[number]", "array[object]", "array[boolean]"),
)
HUMAN_INPUT_TYPES = ("paragraph", "text-input")
BUTTON_STYLES = ("default", "primary", "accent", "ghost")
TOOL_INPUT_TYPES = ("mixed", "variable", "constant")


def _choice(target: Data, name: str, label: str, choices: tuple[str, ...], key: str) -> None:
    """``target[name]`` from a select box (an unlisted value stays listed); written only when
    changed, so an absent value shown as the first choice stays absent."""
    current = str(target.get(name) or choices[0])
    options = list(dict.fromkeys([*choices, current]))
    chosen = st.selectbox(label, options, options.index(current), key=key)
    if chosen != current:
        target[name] = chosen


def _text(target: Data, name: str, label: str, key: str) -> None:
    """``target[name]`` from a text box (absent stays absent until something is typed)."""
    put(target, name, st.text_input(label, str(target.get(name) or ""), key=key), "")


def _question_classifier(form: NodeForm) -> None:
    model_fields(form)
    selector_field(form, "query_variable_selector", "Query variable")
    st.markdown("**Classes** (each class is a branch)")

    def row(item: Data, key: str) -> None:
        _text(item, "name", "Class name", f"{key}:name")
        st.caption(f"Branch id `{item.get('id')}`")

    def new_class() -> Data:
        taken = {str(c.get("id")) for c in _dicts(form.data.get("classes"))}
        free = next(str(n) for n in range(1, len(taken) + 2) if str(n) not in taken)
        return {"id": free, "name": ""}

    rows(form, "classes", row, new_class)
    text_field(form, "instruction", "Instruction")


def _knowledge_retrieval(form: NodeForm) -> None:
    data = form.data
    selector_field(form, "query_variable_selector", "Query variable")
    ids = [str(i) for i in cast(list[Any], data.get("dataset_ids") or [])]
    text = st.text_area(
        "Knowledge base ids (one a line)", "\n".join(ids), key=f"{form.key}:dataset_ids"
    )
    put(data, "dataset_ids", [line.strip() for line in text.splitlines() if line.strip()], [])
    _choice(data, "retrieval_mode", "Retrieval mode", ("multiple", "single"), f"{form.key}:mode")
    if data.get("retrieval_mode", "multiple") != "multiple":
        return
    found = data.get("multiple_retrieval_config")
    config = cast(Data, found) if isinstance(found, dict) else {}
    top_k = int(config.get("top_k") or 4)
    chosen = st.number_input("Top K", 1, None, top_k, key=f"{form.key}:top_k")
    if chosen != top_k:
        data["multiple_retrieval_config"] = {**config, "top_k": int(chosen)}


def _selector_list(form: NodeForm, target: Data, key: str) -> None:
    """``target["variables"]`` (a list of selectors): a picker each, with ✕, then Add."""
    value = target.get("variables")
    items = cast(list[Any], value) if isinstance(value, list) else []
    for index, current in enumerate(items):
        pick, remove = st.columns([6, 1], vertical_alignment="bottom")
        with pick:
            picked = selector_picker("Variable", form.variables, current, f"{key}:var{index}")
        if picked != (current if isinstance(current, list) else []):
            items[index] = picked
        if remove.button("✕", key=f"{key}:var{index}:x", help="Remove this variable"):
            form.later(lambda index=index: items.pop(index))
    if st.button("Add variable", key=f"{key}:var:add"):
        form.later(lambda: target.setdefault("variables", items).append([]))


def _variable_aggregator(form: NodeForm) -> None:
    data = form.data
    settings = data.get("advanced_settings")
    if isinstance(settings, dict) and cast(Data, settings).get("group_enabled"):
        groups = _dicts(cast(Data, settings).get("groups"))
        for index, group in enumerate(groups):
            key = f"{form.key}:group{index}"
            with st.container(border=True):
                name = str(group.get("group_name") or "")
                put(group, "group_name", st.text_input("Group", name, key=f"{key}:name"), "")
                _choice(group, "output_type", "Output type", VALUE_TYPES, f"{key}:type")
                _selector_list(form, group, key)
        return
    _choice(data, "output_type", "Output type", VALUE_TYPES, f"{form.key}:output_type")
    st.markdown("**Variables** (the first one that has a value is the output)")
    _selector_list(form, data, form.key)


def _human_input(form: NodeForm) -> None:
    data = form.data
    text_field(form, "form_content", "Form content")
    st.markdown("**Inputs**")

    def input_row(item: Data, key: str) -> None:
        kind, name = st.columns(2)
        with kind:
            _choice(item, "type", "Input type", HUMAN_INPUT_TYPES, f"{key}:type")
        output = str(item.get("output_variable_name") or "")
        put(
            item,
            "output_variable_name",
            name.text_input("Output variable", output, key=f"{key}:name"),
            "",
        )

    rows(form, "inputs", input_row, lambda: {"type": "paragraph", "output_variable_name": ""})
    st.markdown("**Actions** (each action is a branch)")

    def action_row(item: Data, key: str) -> None:
        ident, title, style = st.columns(3)
        with ident:
            _text(item, "id", "Action id", f"{key}:id")
        with title:
            _text(item, "title", "Action title", f"{key}:title")
        with style:
            _choice(item, "button_style", "Button style", BUTTON_STYLES, f"{key}:style")

    rows(
        form, "user_actions", action_row, lambda: {"id": "", "title": "", "button_style": "default"}
    )
    amount, unit = st.columns(2)
    current = data.get("timeout")
    shown = int(current) if isinstance(current, int | float) and current >= 1 else None
    timeout = amount.number_input("Timeout", 1, None, shown, key=f"{form.key}:timeout")
    if timeout != shown:
        data["timeout"] = None if timeout is None else int(timeout)
    with unit:
        _choice(data, "timeout_unit", "Timeout unit", ("hour", "day"), f"{form.key}:unit")


def _tool(form: NodeForm) -> None:
    data = form.data
    st.markdown(
        f"Tool `{data.get('tool_name') or '?'}` of provider `{data.get('provider_id') or '?'}`"
        f" ({data.get('provider_type') or 'builtin'})"
    )
    found = data.get("tool_parameters")
    if found is not None and not isinstance(found, dict):
        st.error(f"{form.title}: tool_parameters should be an object")
        return
    params = cast(Data, found or {})
    st.markdown("**Tool parameters**")
    rebuilt: Data = {}
    for index, (name, entry) in enumerate(params.items()):
        key = f"{form.key}:param{index}"
        with st.container(border=True):
            new_name, new_entry = _tool_parameter(form, name, entry, key)
            if st.button("Remove", key=f"{key}:remove", help=f"Remove parameter {name}"):
                continue
        rebuilt[new_name] = new_entry
    if st.button("Add parameter", key=f"{form.key}:param:add"):
        rebuilt[f"param{len(rebuilt) + 1}"] = {"type": "mixed", "value": ""}
    if rebuilt != params:
        form.later(lambda: data.update(tool_parameters=rebuilt))


def _tool_parameter(form: NodeForm, name: str, entry: Any, key: str) -> tuple[str, Any]:
    """One ``name: {type, value}`` entry (a bare value reads as mixed); the entry itself when
    nothing changed."""
    item = cast(Data, entry) if isinstance(entry, dict) else {"type": "mixed", "value": entry}
    left, right = st.columns(2)
    new_name = left.text_input("Parameter", name, key=f"{key}:name")
    kind = str(item.get("type") or "mixed")
    options = list(dict.fromkeys([*TOOL_INPUT_TYPES, kind]))
    chosen = right.selectbox("Input", options, options.index(kind), key=f"{key}:type")
    value: Any = item.get("value")
    if chosen != kind:  # a selector and a text do not convert into each other
        value = [] if chosen == "variable" else ("" if isinstance(value, list) else value)
    new_value: Any
    if chosen == "variable":
        new_value = selector_picker("Value", form.variables, value, f"{key}:sel")
    else:
        shown = value if isinstance(value, str) else "" if value is None else json.dumps(value)
        text = st.text_input("Value", shown, key=f"{key}:value")
        new_value = value if text == shown else _typed(text, chosen, value)
    changed = chosen != kind or new_value != value
    if not changed:
        return new_name, cast(object, entry)
    return new_name, {**item, "type": chosen, "value": new_value}


def _parameter_extractor(form: NodeForm) -> None:
    model_fields(form)
    selector_field(form, "query", "Query variable")
    st.markdown("**Parameters to extract**")

    def row(item: Data, key: str) -> None:
        name, kind, required = st.columns([3, 2, 1], vertical_alignment="bottom")
        with name:
            _text(item, "name", "Name", f"{key}:name")
        with kind:
            _choice(item, "type", "Type", PARAMETER_TYPES, f"{key}:type")
        checked = required.checkbox("Required", bool(item.get("required")), key=f"{key}:req")
        put(item, "required", checked, False)
        _text(item, "description", "Description", f"{key}:desc")

    def new_parameter() -> Data:
        return {"name": "", "type": "string", "description": "", "required": False}

    rows(form, "parameters", row, new_parameter)
    text_field(form, "instruction", "Instruction")


def _typed(text: str, kind: str, before: Any) -> Any:
    """A constant that was not text (a number, a flag, a list) is read back as JSON."""
    if kind != "constant" or isinstance(before, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _dicts(value: Any) -> list[Data]:
    items = cast(list[Any], value) if isinstance(value, list) else []
    return [cast(Data, item) for item in items if isinstance(item, dict)]


MORE_FORMS: dict[str, Callable[[NodeForm], None]] = {
    "question-classifier": _question_classifier,
    "knowledge-retrieval": _knowledge_retrieval,
    "variable-aggregator": _variable_aggregator,
    "human-input": _human_input,
    "tool": _tool,
    "parameter-extractor": _parameter_extractor,
}
