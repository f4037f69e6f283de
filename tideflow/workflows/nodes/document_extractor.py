"""Document Extractor: text from a file or file list, by activity ``extract_document``."""

from __future__ import annotations

from typing import Any

from tideflow.workflows.engine.context import JSON_OBJECT, NodeContext, NodeResult
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.nodes._common import as_dict, require_selector
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

ACTIVITY = "extract_document"


def validate(data: dict[str, Any]) -> ConfigProblems:
    """A selector for the file (or file list)."""
    return require_selector(data, "variable_selector")


def outputs(_data: dict[str, Any]) -> set[str] | None:
    """Always ``text``."""
    return {"text"}


async def run(ctx: NodeContext) -> NodeResult:
    """One file gives a string, a list of files a list of strings."""
    value = ctx.resolve(ctx.data["variable_selector"])
    is_list = isinstance(value, list)
    files: list[Any] = value if is_list else [value]  # pyright: ignore[reportUnknownVariableType]
    if not all(isinstance(f, dict) for f in files):
        raise NodeError(
            "Document extractor needs a file or a list of files", "DocumentExtractorError"
        )
    request = {
        "node_id": ctx.node.id,
        "files": files,
        "is_list": is_list,
        "max_attempts": ctx.max_attempts,
        "tenant_id": ctx.state.tenant_id,
    }
    result = await ctx.call_activity(
        ACTIVITY,
        request,
        JSON_OBJECT,
        timeout_seconds=300.0,
        heartbeats=True,
        limits_own_attempts=True,
    )
    return NodeResult(
        inputs={"variable_selector": value}, outputs={"text": as_dict(result).get("text")}
    )


SPECS = [NodeSpec(type="document-extractor", validate=validate, outputs=outputs)]
RUNNERS = {"document-extractor": run}
