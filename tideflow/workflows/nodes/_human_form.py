"""A human-input node's form: its config checks, its resolved definition and submission checks.

Shared by the node (which opens the form) and the API (which checks what a person submits
against the definition stored with the form).
"""

from __future__ import annotations

import re
from typing import Any

from tideflow.workflows.engine.pool import VariablePool
from tideflow.workflows.engine.template import value_text
from tideflow.workflows.nodes._common import as_dict, as_list, is_selector
from tideflow.workflows.nodes.spec import ConfigProblems

INPUT_TYPES = frozenset({"paragraph", "select", "file", "file-list", "text_input", "text-input"})
BUTTON_STYLES = frozenset({"primary", "default", "accent", "ghost"})
TIMEOUT_UNITS = {"hour": 3600, "day": 86400}
DEFAULT_TIMEOUT_SECONDS = 36 * 3600
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OUTPUT_PLACEHOLDER = re.compile(r"\{\{#\$output\.([a-zA-Z_][a-zA-Z0-9_]*)#\}\}")


def _inputs(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [as_dict(i) for i in as_list(data.get("inputs"))]


def input_names(data: dict[str, Any]) -> list[str]:
    """The inputs' output variable names, in order."""
    return [str(i["output_variable_name"]) for i in _inputs(data) if i.get("output_variable_name")]


def timeout_seconds(data: dict[str, Any]) -> float:
    """``timeout`` in ``timeout_unit`` (hour | day) as seconds; 36 hours when not set."""
    timeout = data.get("timeout")
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        return float(DEFAULT_TIMEOUT_SECONDS)
    return float(timeout) * TIMEOUT_UNITS.get(str(data.get("timeout_unit") or "hour"), 3600)


def _check_source(field: str, source: dict[str, Any], constant_list: bool) -> ConfigProblems:
    kind = source.get("type", "constant")
    if kind == "variable":
        ok = is_selector(source.get("selector"))
        return [] if ok else [(f"{field}.selector", "must be a variable selector")]
    if kind != "constant":
        return [(f"{field}.type", f"must be variable or constant, not {kind!r}")]
    value = source.get("value")
    if constant_list and (not isinstance(value, list) or not value):
        return [(f"{field}.value", "needs at least one option")]
    return []


def _check_input(i: int, item: dict[str, Any], seen: set[str]) -> ConfigProblems:
    problems: ConfigProblems = []
    kind = item.get("type")
    if kind not in INPUT_TYPES:
        problems.append((f"inputs[{i}].type", f"unknown input type {kind!r}"))
    name = str(item.get("output_variable_name") or "")
    if not _IDENTIFIER.match(name):
        problems.append((f"inputs[{i}].output_variable_name", "must be an identifier"))
    elif name in seen:
        problems.append((f"inputs[{i}].output_variable_name", f"{name} is used twice"))
    seen.add(name)
    if kind == "select":
        source = as_dict(item.get("option_source"))
        problems += _check_source(f"inputs[{i}].option_source", source, constant_list=True)
    if item.get("default") is not None:
        source = as_dict(item.get("default"))
        problems += _check_source(f"inputs[{i}].default", source, constant_list=False)
    custom = kind in ("file", "file-list") and "custom" in as_list(item.get("allowed_file_types"))
    if custom and not as_list(item.get("allowed_file_extensions")):
        problems.append(
            (f"inputs[{i}].allowed_file_extensions", "required when the type is custom")
        )
    return problems


def _check_action(i: int, action: dict[str, Any], seen: set[str]) -> ConfigProblems:
    problems: ConfigProblems = []
    action_id = str(action.get("id") or "")
    if not _IDENTIFIER.match(action_id) or len(action_id) > 20:
        problems.append((f"user_actions[{i}].id", "must be an identifier of at most 20 chars"))
    elif action_id in seen:
        problems.append((f"user_actions[{i}].id", f"{action_id} is used twice"))
    seen.add(action_id)
    if len(str(action.get("title") or "")) > 100:
        problems.append((f"user_actions[{i}].title", "must be at most 100 characters"))
    style = action.get("button_style", "default")
    if style not in BUTTON_STYLES:
        problems.append((f"user_actions[{i}].button_style", f"unknown style {style!r}"))
    return problems


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Inputs, actions and timeout as Dify's HumanInputNodeData accepts them."""
    problems: ConfigProblems = []
    if not isinstance(data.get("form_content", ""), str):
        problems.append(("form_content", "must be a string"))
    names: set[str] = set()
    for i, item in enumerate(_inputs(data)):
        problems += _check_input(i, item, names)
    actions = [as_dict(a) for a in as_list(data.get("user_actions"))]
    if not actions:
        problems.append(("user_actions", "at least one action is required"))
    ids: set[str] = set()
    for i, action in enumerate(actions):
        problems += _check_action(i, action, ids)
    timeout = data.get("timeout")
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        problems.append(("timeout", "must be a positive whole number"))
    if data.get("timeout_unit", "hour") not in TIMEOUT_UNITS:
        problems.append(("timeout_unit", "must be hour or day"))
    return problems


def _resolve(source: dict[str, Any], pool: VariablePool) -> Any:
    if source.get("type") == "variable":
        found, value = pool.find([str(p) for p in as_list(source.get("selector"))])
        return value if found else None
    return source.get("value")


def form_inputs(
    data: dict[str, Any], pool: VariablePool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The inputs with select options resolved to constants, and the resolved defaults."""
    inputs: list[dict[str, Any]] = []
    defaults: dict[str, Any] = {}
    for item in _inputs(data):
        resolved = dict(item)
        name = str(item.get("output_variable_name") or "")
        if item.get("type") == "select":
            options = _resolve(as_dict(item.get("option_source")), pool)
            values = [str(o) for o in as_list(options)]
            resolved["option_source"] = {"type": "constant", "selector": [], "value": values}
        if item.get("default") is not None:
            value = _resolve(as_dict(item.get("default")), pool)
            if value is not None:
                defaults[name] = value
        inputs.append(resolved)
    return inputs, defaults


def _placeholder_text(value: Any) -> str:
    if isinstance(value, dict):
        return "[file]"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):  # pyright: ignore[reportUnknownVariableType]
        return f"[{len(value)} files]"  # pyright: ignore[reportUnknownArgumentType]
    return value_text(value)


def fill_outputs(content: str, values: dict[str, Any]) -> str:
    """``{{#$output.x#}}`` placeholders filled with the submitted values."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return _placeholder_text(values[name]) if name in values else match.group(0)

    return _OUTPUT_PLACEHOLDER.sub(replace, content)


def check_submission(
    definition: dict[str, Any], action: str, values: dict[str, Any]
) -> ConfigProblems:
    """Problems of a submission against a stored form definition, each naming its field."""
    problems: ConfigProblems = []
    action_ids = [str(as_dict(a).get("id")) for a in as_list(definition.get("user_actions"))]
    if action not in action_ids:
        problems.append(("action", f"unknown action {action!r}; one of {action_ids}"))
    for item in (as_dict(i) for i in as_list(definition.get("inputs"))):
        name = str(item.get("output_variable_name") or "")
        field = f"inputs.{name}"
        if name not in values or values[name] in (None, ""):
            problems.append((field, "is required"))
            continue
        value, kind = values[name], item.get("type")
        if kind == "select":
            options = as_list(as_dict(item.get("option_source")).get("value"))
            if value not in options:
                problems.append((field, f"{value!r} is not one of the options {options}"))
        elif kind in ("paragraph", "text_input", "text-input") and not isinstance(value, str):
            problems.append((field, "must be a string"))
        elif kind == "file" and not isinstance(value, dict):
            problems.append((field, "must be one file"))
        elif kind == "file-list":
            limit = int(item.get("number_limits") or 0)
            if not isinstance(value, list):
                problems.append((field, "must be a list of files"))
            elif limit and len(value) > limit:  # pyright: ignore[reportUnknownArgumentType]
                problems.append((field, f"at most {limit} files"))
    return problems


def _extension(value: Any) -> str:
    text = str(value or "").strip().lower()
    return text if not text or text.startswith(".") else f".{text}"


def check_files(item: dict[str, Any], field: str, files: list[dict[str, Any]]) -> ConfigProblems:
    """Problems of submitted file objects against a file / file-list input: upload method,
    file type, and with the ``custom`` type the extension."""
    problems: ConfigProblems = []
    methods = [str(m) for m in as_list(item.get("allowed_file_upload_methods"))]
    types = [str(t) for t in as_list(item.get("allowed_file_types"))]
    extensions = [_extension(e) for e in as_list(item.get("allowed_file_extensions"))]
    for index, file in enumerate(files):
        where = f"{field}[{index}]" if item.get("type") == "file-list" else field
        method = str(file.get("transfer_method") or "")
        if methods and method not in methods:
            problems.append((where, f"upload method {method!r} is not allowed ({methods})"))
        kind, extension = str(file.get("type") or ""), _extension(file.get("extension"))
        if not types or kind in types:
            continue
        if "custom" in types and extension in extensions:
            continue
        allowed = [t for t in types if t != "custom"] + (extensions if "custom" in types else [])
        problems.append((where, f"a {kind or 'file'} ({extension or 'no extension'}) is not "
                                f"allowed; allowed: {allowed}"))  # fmt: skip
    return problems
