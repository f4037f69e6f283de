"""The variable pool: node outputs and sys/env/conversation values, addressed by selectors.

A selector is ``[node_id, name, *path]``; the pool stores ``(node_id, name)`` keys and the path
walks into objects (and file dicts for attributes). Containers (iteration items, loop rounds)
read through a child frame: their writes stay local, reads fall back to the parent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Key = tuple[str, str]
MISSING: Any = object()


class VariablePool:
    """One frame of variables; ``child()`` opens a nested frame for a container scope."""

    def __init__(self, parent: VariablePool | None = None) -> None:
        self._values: dict[Key, Any] = {}
        self._types: dict[Key, str] = {}
        self._parent = parent

    def child(self) -> VariablePool:
        """A frame whose reads fall back to this one."""
        return VariablePool(self)

    def set(self, node_id: str, name: str, value: Any, value_type: str | None = None) -> None:
        """Write a value into this frame (optionally remembering its declared Dify type)."""
        self._values[(node_id, name)] = value
        if value_type is not None:
            self._types[(node_id, name)] = value_type

    def set_outputs(self, node_id: str, outputs: dict[str, Any]) -> None:
        """Store a finished node's outputs as ``[node_id, key]``."""
        for key, value in outputs.items():
            self.set(node_id, key, value)

    def _owner(self, key: Key) -> VariablePool | None:
        frame: VariablePool | None = self
        while frame is not None:
            if key in frame._values:
                return frame
            frame = frame._parent
        return None

    def find(self, selector: Sequence[str]) -> tuple[bool, Any]:
        """(found, value) for a selector, walking any path below the stored key."""
        if len(selector) < 2:
            return False, None
        owner = self._owner((selector[0], selector[1]))
        if owner is None:
            return False, None
        value = owner._values[(selector[0], selector[1])]
        for part in selector[2:]:
            value = _step(value, part)
            if value is MISSING:
                return False, None
        return True, value

    def get(self, selector: Sequence[str], default: Any = None) -> Any:
        """The value at ``selector`` or ``default``."""
        found, value = self.find(selector)
        return value if found else default

    def value_type(self, selector: Sequence[str]) -> str | None:
        """The declared Dify type of a stored variable, if one was given."""
        key = (selector[0], selector[1])
        owner = self._owner(key)
        return None if owner is None else owner._types.get(key)

    def assign(self, selector: Sequence[str], value: Any) -> bool:
        """Overwrite an existing variable in the frame that owns it; False when there is none."""
        key = (selector[0], selector[1])
        owner = self._owner(key)
        if owner is None:
            return False
        owner._values[key] = value
        return True

    def items(self, node_id: str) -> dict[str, Any]:
        """Every variable of one node id visible from this frame (outer frames first)."""
        chain: list[VariablePool] = []
        frame: VariablePool | None = self
        while frame is not None:
            chain.append(frame)
            frame = frame._parent
        merged: dict[str, Any] = {}
        for pool in reversed(chain):
            merged.update({k[1]: v for k, v in pool._values.items() if k[0] == node_id})
        return merged


def _step(value: Any, part: str) -> Any:
    if isinstance(value, dict):
        mapping: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
        if part == "extension" and part in mapping:
            ext = str(mapping[part] or "")
            return ext if not ext or ext.startswith(".") else "." + ext
        return mapping.get(part, MISSING)
    if isinstance(value, list) and part.isdigit():
        items: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
        index = int(part)
        return items[index] if index < len(items) else MISSING
    return MISSING
