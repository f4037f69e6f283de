"""The config form of the selected node, one per Dify node type (any other type: its ``data``
as JSON). Each field writes into the node's ``data`` as it changes; adding or removing a row
is queued (``NodeForm.later``) and applied after the whole form has been read, then the page
redraws the form from the graph."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import streamlit as st

from tideflow.console.node_fields import (
    edges_section,
    mapping_rows,
    model_fields,
    put,
    rows,
    text_field,
)
from tideflow.console.node_forms_more import MORE_FORMS
from tideflow.console.node_types import Data
from tideflow.console.variables import Variable, insert_picker, node_data

START_TYPES = ("text-input", "paragraph", "select", "number", "checkbox", "file", "file-list")
CODE_TYPES = (
    *("string", "number", "object", "boolean"),
    *("array[string]", "array[number]", "array[object]", "array[boolean]"),
)
METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
ROLES = ("system", "user", "assistant")


@dataclass
class NodeForm:
    """The node being edited, what it may read, and the changes queued while drawing."""

    graph: Data
    node: Data
    variables: list[Variable]
    key: str
    providers: list[str] = field(default_factory=list[str])
    queued: list[Callable[[], None]] = field(default_factory=list[Callable[[], None]])

    @property
    def data(self) -> Data:
        """The node's ``data``."""
        return node_data(self.node)

    @property
    def title(self) -> str:
        """The node's title (its id when untitled)."""
        return str(self.data.get("title") or self.node.get("id"))

    def later(self, change: Callable[[], None]) -> None:
        """Queue a change that alters the form's shape."""
        self.queued.append(change)


def render_form(form: NodeForm) -> bool:
    """Draw the node's form; True when queued changes were applied (redraw the form)."""
    data = form.data
    title = st.text_input("Title", str(data.get("title") or ""), key=f"{form.key}:title")
    put(data, "title", title, "")
    st.caption(f"`{data.get('type')}` · id `{form.node.get('id')}`")
    FORMS.get(str(data.get("type")), _json_form)(form)
    edges_section(form.graph, form.node, form.key, form.later)
    for change in form.queued:
        change()
    return bool(form.queued)


def _start(form: NodeForm) -> None:
    def row(item: Data, key: str) -> None:
        name, text = st.columns(2)
        variable = name.text_input("Variable", str(item.get("variable") or ""), key=f"{key}:v")
        put(item, "variable", variable, "")
        put(
            item,
            "label",
            text.text_input("Label", str(item.get("label") or ""), key=f"{key}:l"),
            "",
        )
        kind, required = st.columns(2, vertical_alignment="bottom")
        current = str(item.get("type") or "text-input")
        options = list(dict.fromkeys([*START_TYPES, current]))
        chosen = kind.selectbox("Type", options, options.index(current), key=f"{key}:t")
        put(item, "type", chosen, "text-input")
        checked = required.checkbox("Required", bool(item.get("required")), key=f"{key}:r")
        put(item, "required", checked, False)

    st.markdown("**Input variables**")
    rows(form, "variables", row, lambda: {"variable": "", "label": "", "type": "text-input"})


def _end(form: NodeForm) -> None:
    st.markdown("**Outputs**")
    mapping_rows(form, "outputs", "Output", extra={"value_type": "any"})


def _template(form: NodeForm) -> None:
    st.markdown("**Input variables**")
    mapping_rows(form, "variables", "Variable")
    text_field(form, "template", "Template (Jinja2)", insert=False)


def _code(form: NodeForm) -> None:
    data = form.data
    language = str(data.get("code_language") or "python3")
    choices = ["python3", "javascript"]
    put(
        data,
        "code_language",
        st.selectbox(
            "Language",
            choices,
            choices.index(language) if language in choices else 0,
            key=f"{form.key}:lang",
        ),
        "python3",
    )
    st.markdown("**Input variables**")
    mapping_rows(form, "variables", "Variable")
    text_field(form, "code", "Code", insert=False, height=200)
    st.markdown("**Outputs**")
    outputs = cast(Data, data.get("outputs")) if isinstance(data.get("outputs"), dict) else {}
    renamed: Data = {}
    for index, (name, spec) in enumerate(list(outputs.items())):
        spec = cast(Data, spec) if isinstance(spec, dict) else {}
        key = f"{form.key}:out{index}"
        left, kind, remove = st.columns([4, 3, 1], vertical_alignment="bottom")
        new_name = left.text_input("Output", name, key=f"{key}:n")
        current = str(spec.get("type") or "string")
        options = list(dict.fromkeys([*CODE_TYPES, current]))
        spec = {
            **spec,
            "type": kind.selectbox("Type", options, options.index(current), key=f"{key}:t"),
        }
        if remove.button("✕", key=f"{key}:x", help=f"Remove output {name}"):
            continue
        renamed[new_name] = spec
    if renamed != outputs:
        form.later(lambda: data.update(outputs=renamed))
    if st.button("Add output", key=f"{form.key}:add-out"):
        form.later(
            lambda: data.update(
                outputs={
                    **renamed,
                    f"output{len(renamed) + 1}": {"type": "string", "children": None},
                }
            )
        )


def _llm(form: NodeForm) -> None:
    model_fields(form)
    st.markdown("**Prompt messages**")

    def row(item: Data, key: str) -> None:
        role = str(item.get("role") or "user")
        index = ROLES.index(role) if role in ROLES else 1
        chosen = st.selectbox("Role", ROLES, index, key=f"{key}:role")
        if chosen != role:
            item["role"] = chosen
        put(item, "text", st.text_area("Text", str(item.get("text") or ""), key=f"{key}:text"), "")
        ref = insert_picker(form.variables, key)
        if ref:
            form.later(lambda: item.update(text=str(item.get("text") or "") + ref))

    if isinstance(form.data.get("prompt_template"), dict):  # a completion model's one prompt
        _json_field(form, "prompt_template", "Prompt (JSON)")
        return
    rows(form, "prompt_template", row, lambda: {"role": "user", "text": ""})


def _http(form: NodeForm) -> None:
    data = form.data
    method = str(data.get("method") or "get").lower()
    index = METHODS.index(method) if method in METHODS else 0
    chosen = st.selectbox("Method", METHODS, index, key=f"{form.key}:method")
    if chosen != method:  # Dify reads either case: leave an unchanged method as written
        data["method"] = chosen
    text_field(form, "url", "URL", single_line=True)
    text_field(form, "headers", "Headers (key:value lines)", insert=False)
    text_field(form, "params", "Query parameters (key:value lines)", insert=False)


def _if_else(form: NodeForm) -> None:
    _json_field(form, "cases", "Cases (JSON)")
    st.caption(
        "Each case's `case_id` is a branch; `false` is ELSE. Pick branches under Next nodes."
    )


def _answer(form: NodeForm) -> None:
    text_field(form, "answer", "Answer text")


def _json_form(form: NodeForm) -> None:
    st.caption("No form for this node type yet: edit its data as JSON.")
    _json_field(form, None, "Data (JSON)")


def _json_field(form: NodeForm, name: str | None, label: str) -> None:
    """A JSON editor of ``data[name]`` (or of all of ``data`` but type and title)."""
    data = form.data
    shown: Any = (
        data.get(name) if name else {k: v for k, v in data.items() if k not in ("type", "title")}
    )
    text = st.text_area(
        label, json.dumps(shown, indent=2), height=220, key=f"{form.key}:json:{name}"
    )
    try:
        parsed: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        st.error(f"{form.title}: {name or 'data'} is not valid JSON ({exc.msg}, line {exc.lineno})")
        return
    if name is not None:
        put(data, name, parsed)
    elif not isinstance(parsed, dict):
        st.error(f"{form.title}: data must be a JSON object")
    elif parsed != shown:
        replaced: Data = {
            **cast(Data, parsed),
            "type": data.get("type"),
            "title": data.get("title"),
        }

        def replace() -> None:
            data.clear()
            data.update(replaced)

        form.later(replace)


FORMS: dict[str, Callable[[NodeForm], None]] = {
    "start": _start,
    "end": _end,
    "answer": _answer,
    "llm": _llm,
    "template-transform": _template,
    "code": _code,
    "http-request": _http,
    "if-else": _if_else,
    **MORE_FORMS,
}
