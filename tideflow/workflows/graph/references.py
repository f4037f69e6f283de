"""Find every variable a node reads: selectors in its config and ``{{#node.var#}}`` templates."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from tideflow.workflows.graph.model import DocNode, as_dict, as_list, as_selector

# Dify's template syntax: a node id, then 1-10 name segments. Anything else (``{{#context#}}``,
# ``{{#$output.x#}}``) is not a variable reference.
TEMPLATE = re.compile(r"\{\{#([a-zA-Z0-9_]{1,50}(?:\.[a-zA-Z_][a-zA-Z0-9_]{0,29}){1,10})#\}\}")
# Keys that hold a selector (or a list of selectors) whatever their node type.
_SELECTOR_KEYS = frozenset({"variable", "query", "variables"})
# Sibling markers saying "``value`` is a selector here" (tool/agent params, loop variables,
# assigner v2 items).
_VARIABLE_MARKERS = (("type", "variable"), ("value_type", "variable"), ("input_type", "variable"))
# Fields holding Jinja2 or code, where ``{{#...#}}`` is not Dify's template syntax.
_NOT_TEMPLATES = frozenset({"code", "template", "jinja2_text"})


@dataclasses.dataclass(frozen=True)
class Reference:
    """One variable read: the field it sits in and the selector it points to."""

    field: str
    selector: tuple[str, ...]


def node_references(node: DocNode) -> list[Reference]:
    """Every variable reference in the node's config, skipping disabled blocks."""
    out: list[Reference] = []
    data = {k: v for k, v in _active_data(node).items() if k not in ("type", "title", "desc")}
    _walk_mapping(data, "", out)
    return out


def _active_data(node: DocNode) -> dict[str, Any]:
    data = dict(node.data)
    # The aggregator reads either its group lists or its flat list, never both.
    settings = as_dict(data.get("advanced_settings"))
    if node.type == "variable-aggregator" and settings is not None:
        if settings.get("group_enabled"):
            data.pop("variables", None)
        else:
            data.pop("advanced_settings", None)
    return data


def _walk(value: Any, path: str, out: list[Reference]) -> None:
    mapping = as_dict(value)
    if mapping is not None:
        _walk_mapping(mapping, path, out)
        return
    items = as_list(value)
    if items is not None:
        for index, item in enumerate(items):
            _walk(item, f"{path}[{index}]", out)
        return
    if isinstance(value, str) and path.rsplit(".", 1)[-1] not in _NOT_TEMPLATES:
        out.extend(Reference(path, tuple(m.split("."))) for m in TEMPLATE.findall(value))


def _walk_mapping(mapping: dict[str, Any], path: str, out: list[Reference]) -> None:
    # A switched-off block (vision, context, filter_by...) may keep a stale selector.
    if path and mapping.get("enabled") is False:
        return
    is_jinja = mapping.get("edition_type") == "jinja2"
    value_is_selector = any(mapping.get(k) == v for k, v in _VARIABLE_MARKERS)
    for key, item in mapping.items():
        sub = f"{path}.{key}" if path else key
        if (key == "value" and value_is_selector) or _is_selector_key(key):
            selectors = _selectors(item)
            if selectors is not None:
                out.extend(Reference(sub, s) for s in selectors)
                continue
        if is_jinja and key == "text":
            continue
        _walk(item, sub, out)


def _is_selector_key(key: str) -> bool:
    return key.endswith("selector") or key in _SELECTOR_KEYS


def _selectors(value: Any) -> list[tuple[str, ...]] | None:
    """One selector, or a list of selectors, or None when ``value`` is neither."""
    single = as_selector(value)
    if single is not None:
        return [single]
    items = as_list(value)
    if items:
        many = [as_selector(i) for i in items]
        if all(s is not None for s in many):
            return [s for s in many if s is not None]
    return None
