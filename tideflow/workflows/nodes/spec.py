"""What the graph package needs to know about a node type without running it.

Each node module registers one ``NodeSpec``; the validator uses it to check a node's config and
the variables other nodes read from it, and ``mock_external`` uses it to pin nodes that reach
outside with type-correct placeholders.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

# (field, message) pairs: each names the field of the node's ``data`` that is wrong.
ConfigProblems = list[tuple[str, str]]


def _no_problems(_data: dict[str, Any]) -> ConfigProblems:
    return []


def _dynamic_outputs(_data: dict[str, Any]) -> set[str] | None:
    return None


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """Static facts about one Dify node type."""

    type: str
    # Checks the node's ``data``; returns every problem found.
    validate: Callable[[dict[str, Any]], ConfigProblems] = _no_problems
    # Output variable names the node writes, or None when they cannot be known statically.
    outputs: Callable[[dict[str, Any]], set[str] | None] = _dynamic_outputs
    # True when the node reaches outside (model, HTTP, tools, retrieval): ``mock_external`` pins it.
    external: bool = False
    # False for known Dify types whose implementation arrives in a later step: such a node is
    # valid only when pinned or mocked, otherwise validation names it.
    implemented: bool = True
    # Problems that matter only when the node really runs (not pinned, not mocked): a model
    # still to be chosen, say. Validation reports them for such nodes alone.
    run_requirements: Callable[[dict[str, Any]], ConfigProblems] = _no_problems
    # Placeholder outputs for ``mock_external`` (type-correct, like Dify's test auto-mock).
    mock_outputs: Callable[[dict[str, Any]], dict[str, Any]] | None = None
