"""example-upper: the string at ``variable_selector``, uppercased, as ``text``.

Pure workflow code (deterministic, no I/O), so it needs no activity.
"""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.nodes.spec import NodeSpec
from tideflow_example_plugin._selector import selected_text, selector_problems


def outputs(_data: dict[str, Any]) -> set[str] | None:
    """The node writes ``text``."""
    return {"text"}


async def run(ctx: NodeContext) -> NodeResult:
    """Uppercase the selected string."""
    text = selected_text(ctx)
    return NodeResult(outputs={"text": text.upper()}, inputs={"text": text})


SPECS = [NodeSpec(type="example-upper", validate=selector_problems, outputs=outputs)]
RUNNERS = {"example-upper": run}
