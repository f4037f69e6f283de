"""Small graph builders and a fixed NodeSpec registry for the graph package's unit tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from tideflow.workflows.graph import AppDocument, load_app
from tideflow.workflows.graph.model import as_dict
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec


def node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    """A node entry as the Dify editor writes it."""
    return {
        "id": node_id,
        "type": "custom",
        "data": {"type": node_type, "title": node_id.title(), **data},
        "position": {"x": 0, "y": 0},
    }


def edge(source: str, target: str, handle: str | None = "source") -> dict[str, Any]:
    """An edge entry; ``handle=None`` leaves the handle out like hand-written graphs do."""
    entry: dict[str, Any] = {"source": source, "target": target}
    if handle is not None:
        entry["sourceHandle"] = handle
    return entry


def export(
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    *,
    mode: str = "workflow",
    version: str = "0.3.0",
    **workflow: Any,
) -> dict[str, Any]:
    """A whole ``kind: app`` export around the given graph."""
    return {
        "app": {"name": "Test app", "mode": mode, "icon": "🤖", "description": "d"},
        "kind": "app",
        "version": version,
        "workflow": {"graph": {"nodes": nodes, "edges": edges}, "features": {}, **workflow},
    }


def start(*names: str) -> dict[str, Any]:
    """A start node with text inputs ``names``."""
    variables = [{"variable": n, "label": n, "type": "text-input"} for n in names]
    return node("start", "start", variables=variables)


def end(*selectors: list[str]) -> dict[str, Any]:
    """An end node writing one output per selector."""
    outputs = [
        {"variable": f"o{i}", "value_selector": s, "value_type": "string"}
        for i, s in enumerate(selectors)
    ]
    return node("end", "end", outputs=outputs)


def linear(*middle: dict[str, Any], end_node: dict[str, Any] | None = None) -> AppDocument:
    """start -> middle... -> end as an app document."""
    nodes = [start("q"), *middle, end_node or end(["start", "q"])]
    ids = [str(n["id"]) for n in nodes]
    return load_app(export(nodes, [edge(a, b) for a, b in itertools.pairwise(ids)]))


def _names(items: object, key: str) -> set[str]:
    if not isinstance(items, list):
        return set()
    out: set[str] = set()
    for item in items:  # pyright: ignore[reportUnknownVariableType]
        if isinstance(item, dict) and key in item:
            out.add(str(item[key]))  # pyright: ignore[reportUnknownArgumentType]
    return out


def _code_problems(data: dict[str, Any]) -> ConfigProblems:
    return [] if data.get("code") else [("code", "required")]


def _code_outputs(data: dict[str, Any]) -> set[str]:
    outputs = as_dict(data.get("outputs"))
    return set(outputs) if outputs is not None else set()


def _fixed(*names: str) -> Callable[[dict[str, Any]], set[str]]:
    def outputs(_data: dict[str, Any]) -> set[str]:
        return set(names)

    return outputs


TEST_SPECS: dict[str, NodeSpec] = {
    "start": NodeSpec("start", outputs=lambda d: _names(d.get("variables"), "variable")),
    "end": NodeSpec("end", outputs=_fixed()),
    "answer": NodeSpec("answer", outputs=_fixed("answer", "files")),
    "llm": NodeSpec("llm", outputs=_fixed("text", "usage"), external=True, implemented=False),
    "code": NodeSpec("code", validate=_code_problems, outputs=_code_outputs),
    "tool": NodeSpec("tool", external=True, implemented=False),
    "agent": NodeSpec("agent", external=True, implemented=False),
    "human-input": NodeSpec("human-input", implemented=False),
    "if-else": NodeSpec("if-else", outputs=_fixed("result", "selected_case_id")),
    "template-transform": NodeSpec("template-transform", outputs=_fixed("output")),
    "variable-aggregator": NodeSpec("variable-aggregator", outputs=_fixed("output")),
    "iteration": NodeSpec("iteration", outputs=_fixed("output")),
    "iteration-start": NodeSpec("iteration-start", outputs=_fixed()),
    "loop": NodeSpec(
        "loop", outputs=lambda d: _names(d.get("loop_variables"), "label") | {"loop_round"}
    ),
    "loop-start": NodeSpec("loop-start", outputs=_fixed()),
    "assigner": NodeSpec("assigner", outputs=_fixed()),
}
