"""Answer: renders its template (markdown form); the engine streams it (engine/stream.py)."""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.engine.template import template_selectors
from tideflow.workflows.nodes._common import as_dict, as_list
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec


def validate(data: dict[str, Any]) -> ConfigProblems:
    """The answer template must be a string."""
    return [] if isinstance(data.get("answer", ""), str) else [("answer", "must be a string")]


def outputs(_data: dict[str, Any]) -> set[str] | None:
    """Always ``answer`` and ``files``."""
    return {"answer", "files"}


async def run(ctx: NodeContext) -> NodeResult:
    """Render; file variables referenced by the template are also listed in ``files``."""
    template = str(ctx.data.get("answer") or "")
    text = ctx.render(template, markdown=True)
    files: list[Any] = []
    for selector in template_selectors(template):
        value = ctx.pool.get(selector)
        candidates = as_list(value) if isinstance(value, list) else [value]
        files.extend(v for v in candidates if "transfer_method" in as_dict(v))
    return NodeResult(outputs={"answer": text, "files": files})


SPECS = [NodeSpec(type="answer", validate=validate, outputs=outputs)]
RUNNERS = {"answer": run}
