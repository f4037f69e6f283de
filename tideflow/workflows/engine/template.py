"""``{{#node.var.path#}}`` templates and how values read as text (Dify's segment text/markdown).

A reference that does not resolve renders as its bare dotted path (``n1.x``), as Dify does.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tideflow.workflows.engine.pool import VariablePool

SELECTOR_PATTERN = re.compile(
    r"\{\{#([a-zA-Z0-9_]{1,50}(?:\.[a-zA-Z_][a-zA-Z0-9_]{0,29}){1,10})#\}\}"
)


def template_selectors(template: str) -> list[list[str]]:
    """Every selector referenced by a template, in order."""
    return [match.group(1).split(".") for match in SELECTOR_PATTERN.finditer(template)]


def render_template(template: str, pool: VariablePool, *, markdown: bool = False) -> str:
    """Replace each reference with its value as text (markdown form for Answer nodes)."""

    def replace(match: re.Match[str]) -> str:
        dotted = match.group(1)
        found, value = pool.find(dotted.split("."))
        if not found:
            return dotted
        return value_markdown(value) if markdown else value_text(value)

    return SELECTOR_PATTERN.sub(replace, template)


def _is_file(value: Any) -> bool:
    return isinstance(value, dict) and "transfer_method" in value


def _file_markdown(file: dict[str, Any]) -> str:
    url = str(file.get("remote_url") or file.get("url") or "")
    name = str(file.get("filename") or file.get("name") or "")
    prefix = "!" if file.get("type") == "image" else ""
    return f"{prefix}[{name}]({url})"


def value_text(value: Any) -> str:
    """A value as plain text: strings as is, objects and arrays as JSON, None as empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def value_markdown(value: Any) -> str:
    """A value as Answer text: arrays as bullet lists, objects as indented JSON, files as links."""
    if isinstance(value, list):
        items: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
        return "\n".join(
            _file_markdown(item) if _is_file(item) else "- " + value_markdown(item)
            for item in items
        )
    if _is_file(value):
        return _file_markdown(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, indent=2)
    return value_text(value)
