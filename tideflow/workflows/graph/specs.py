"""What the graph package knows about node types: Dify's type names and the NodeSpec registry."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from tideflow.workflows.nodes.spec import NodeSpec

# Every node type a Dify workflow or chatflow export may contain.
KNOWN_NODE_TYPES = frozenset(
    {
        "start",
        "end",
        "answer",
        "llm",
        "knowledge-retrieval",
        "if-else",
        "code",
        "template-transform",
        "question-classifier",
        "http-request",
        "tool",
        "variable-aggregator",
        "loop",
        "loop-start",
        "loop-end",
        "iteration",
        "iteration-start",
        "parameter-extractor",
        "assigner",
        "document-extractor",
        "list-operator",
        "agent",
        "human-input",
        "trigger-webhook",
        "trigger-schedule",
        "trigger-plugin",
        "knowledge-index",
        "datasource",
    }
)

# Used only for a type that has no NodeSpec yet, to decide whether ``mock_external`` covers it.
_EXTERNAL_WITHOUT_SPEC = frozenset(
    {
        "llm",
        "knowledge-retrieval",
        "question-classifier",
        "http-request",
        "tool",
        "parameter-extractor",
        "document-extractor",
        "agent",
        "datasource",
        "knowledge-index",
        "trigger-plugin",
    }
)


def node_specs() -> dict[str, NodeSpec]:
    """The NodeSpec registry, imported on first use so this package stays import-light.

    While the node modules are still being written the registry may be missing; every type
    then counts as not implemented, which validation reports instead of failing to import.
    """
    module = importlib.import_module("tideflow.workflows.nodes")
    registry: object = getattr(module, "NODE_SPECS", None)
    return cast("dict[str, NodeSpec]", registry) if isinstance(registry, dict) else {}


def is_known(node_type: str) -> bool:
    """True for Dify's node types and any type the NodeSpec registry describes."""
    return node_type in KNOWN_NODE_TYPES or node_type in node_specs()


def is_external(node_type: str) -> bool:
    """True when nodes of this type reach outside (models, HTTP, tools, retrieval)."""
    spec = node_specs().get(node_type)
    return spec.external if spec is not None else node_type in _EXTERNAL_WITHOUT_SPEC
