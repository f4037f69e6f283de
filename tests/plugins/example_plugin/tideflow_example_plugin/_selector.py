"""Reading the one string input both node types take."""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.context import NodeContext
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.nodes.spec import ConfigProblems


def selector_problems(data: dict[str, Any]) -> ConfigProblems:
    """A problem unless ``variable_selector`` is a selector such as ``["start", "name"]``."""
    selector = data.get("variable_selector")
    if (
        isinstance(selector, list)
        and len(selector) >= 2
        and all(isinstance(p, str) for p in selector)
    ):
        return []
    return [("variable_selector", 'must be a variable selector such as ["start", "name"]')]


def selected_text(ctx: NodeContext) -> str:
    """The string at the node's ``variable_selector``; fails the node for any other value."""
    selector: list[str] = ctx.data["variable_selector"]
    value = ctx.resolve(selector)
    if not isinstance(value, str):
        where = ".".join(selector)
        raise NodeError(
            f"variable_selector {where} holds {type(value).__name__}, expected a string",
            "TypeError",
        )
    return value
