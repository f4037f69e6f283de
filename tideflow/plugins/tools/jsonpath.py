"""A small, safe JSONPath subset for the json_process tools (no expressions are evaluated).

Supported: ``$`` (optional), ``.name``, ``['name']`` / ``["name"]``, ``[3]`` / ``[-1]``, ``.*`` /
``[*]`` and recursive ``..name``. A path without ``$`` is read from the root (``a.b`` is
``$.a.b``), as the Dify plugin does. Anything else (filters, slices, unions) is refused with
the position of the part not understood.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any, cast

from tideflow.plugins.tools.base import ToolError

_NAME = re.compile(r"[A-Za-z_$@\u00a0-\uffff][\w$@\-\u00a0-\uffff]*")
_INDEX = re.compile(r"\[\s*(-?\d+)\s*\]")
_QUOTED = re.compile(r"""\[\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]""")
_STAR = re.compile(r"\.\*|\[\s*\*\s*\]")

# One step: ("key", name), ("index", n), ("wild", None) or ("descend", name).
Step = tuple[str, Any]


@dataclasses.dataclass
class Match:
    """A value found by a path, with the container and key it sits under (None at the root)."""

    parent: dict[str, Any] | list[Any] | None
    key: str | int | None
    value: Any


def parse_path(path: str) -> list[Step]:
    """The steps of ``path``; raises ToolError naming the position it cannot read."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    elif text and not text.startswith(("[", ".")):
        text = "." + text
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        step, pos = _next_step(path, text, pos)
        steps.append(step)
    return steps


def _next_step(path: str, text: str, pos: int) -> tuple[Step, int]:
    if text.startswith("..", pos):
        name = _NAME.match(text, pos + 2)
        if name is None:
            raise _unreadable(path, text, pos)
        return ("descend", name.group()), name.end()
    if star := _STAR.match(text, pos):
        return ("wild", None), star.end()
    if text.startswith(".", pos):
        name = _NAME.match(text, pos + 1)
        if name is None:
            raise _unreadable(path, text, pos)
        return ("key", name.group()), name.end()
    if index := _INDEX.match(text, pos):
        return ("index", int(index.group(1))), index.end()
    if quoted := _QUOTED.match(text, pos):
        raw = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
        return ("key", re.sub(r"\\(.)", r"\1", raw)), quoted.end()
    raise _unreadable(path, text, pos)


def _unreadable(path: str, text: str, pos: int) -> ToolError:
    return ToolError(
        f"unsupported JSONPath {path!r} at {text[pos:][:20]!r}: supported are $, .name, "
        "['name'], [n], * and ..name"
    )


MAX_MATCHES = 10_000
MAX_PADDING = 1_000


def find(data: Any, steps: list[Step]) -> list[Match]:
    """Every value the steps reach from ``data``, in document order."""
    matches = [Match(None, None, data)]
    for kind, arg in steps:
        found: list[Match] = []
        for match in matches:
            for item in _apply(kind, arg, match.value):
                found.append(item)
                if len(found) > MAX_MATCHES:  # repeated ``..`` steps multiply matches
                    raise ToolError(f"the path matches more than {MAX_MATCHES} values")
        matches = found
    return matches


def _children(value: Any) -> Iterator[Match]:
    if isinstance(value, dict):
        mapping = cast(dict[str, Any], value)
        for key, child in mapping.items():
            yield Match(mapping, key, child)
    elif isinstance(value, list):
        items = cast(list[Any], value)
        for index, child in enumerate(items):
            yield Match(items, index, child)


def _apply(kind: str, arg: Any, value: Any) -> Iterator[Match]:
    if kind == "key" and isinstance(value, dict) and arg in value:
        yield Match(cast(dict[str, Any], value), arg, value[arg])
    elif kind == "index" and isinstance(value, list):
        items = cast(list[Any], value)
        index = arg + len(items) if arg < 0 else arg
        if 0 <= index < len(items):
            yield Match(items, index, items[index])
    elif kind == "wild":
        yield from _children(value)
    elif kind == "descend":
        yield from _apply("key", arg, value)
        for child in _children(value):
            yield from _apply("descend", arg, child.value)


def set_value(root: Any, match: Match, value: Any) -> Any:
    """Put ``value`` where ``match`` was; returns the (possibly new) root."""
    if match.parent is None:
        return value
    if isinstance(match.parent, dict):
        match.parent[str(match.key)] = value
    else:
        match.parent[int(cast(int, match.key))] = value
    return root


def create_path(root: Any, steps: list[Step], value: Any) -> Any:
    """Create the objects and lists ``steps`` (keys and indexes only) lead through, then set
    ``value`` at the end; returns the root."""
    if not steps:
        return value
    if any(kind not in ("key", "index") for kind, _ in steps):
        raise ToolError("create_path needs a path of plain keys and indexes")
    current: Any = root
    for position, (kind, arg) in enumerate(steps):
        last = position == len(steps) - 1
        following: Any = None if last else ([] if steps[position + 1][0] == "index" else {})
        if kind == "key":
            if not isinstance(current, dict):
                raise ToolError(f"create_path: cannot add key {arg!r} to a non-object")
            mapping = cast(dict[str, Any], current)
            if last:
                mapping[arg] = value
            current = mapping.setdefault(arg, following)
        else:
            if not isinstance(current, list) or arg < 0:
                raise ToolError(f"create_path: cannot add index {arg} there")
            items = cast(list[Any], current)
            if arg > len(items) + MAX_PADDING:
                raise ToolError(
                    f"create_path: index {arg} is more than {MAX_PADDING} past the list's end"
                )
            fresh = len(items) <= arg
            while len(items) <= arg:
                items.append({})  # padding, as the Dify plugin pads
            if last:
                items[arg] = value
            elif fresh:
                items[arg] = following
            current = items[arg]
    return root
