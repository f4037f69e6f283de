"""Write an AppDocument back as Dify app DSL (the 0.6.0 envelope)."""

from __future__ import annotations

from typing import Any

import yaml

from tideflow.workflows.graph.model import CONTAINER_TYPES, AppDocument, DocEdge, DocNode

EXPORT_VERSION = "0.6.0"
_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_CANVAS_TYPES = {"iteration-start": "custom-iteration-start", "loop-start": "custom-loop-start"}


def export_dsl(app: AppDocument) -> str:
    """The app as Dify DSL YAML that Dify (and ``load_app``) imports as the same app."""
    return yaml.dump(export_mapping(app), Dumper=_DUMPER, allow_unicode=True, sort_keys=False)


def export_mapping(app: AppDocument) -> dict[str, Any]:
    """The DSL document as a mapping, before YAML serialisation.

    A Chatbot, Agent or Text Generator is written as Dify writes it: its ``model_config``,
    not the graph it compiles to.
    """
    if app.app_model_config is not None:
        return {
            "app": _app_block(app),
            "dependencies": [dict(d) for d in app.dependencies],
            "kind": "app",
            "model_config": app.app_model_config,
            "version": EXPORT_VERSION,
        }
    return {
        "app": _app_block(app),
        "dependencies": [dict(d) for d in app.dependencies],
        "kind": "app",
        "version": EXPORT_VERSION,
        "workflow": workflow_mapping(app),
    }


def workflow_mapping(app: AppDocument) -> dict[str, Any]:
    """The ``workflow`` block: graph, features and variables (for a graph-less app, the graph
    its ``model_config`` compiles to)."""
    nodes = app.node_map()
    extra = dict(app.workflow_extra)
    viewport = extra.pop("viewport", {"x": 0, "y": 0, "zoom": 1})
    return {
        "conversation_variables": [dict(v) for v in app.conversation_variables],
        "environment_variables": [dict(v) for v in app.environment_variables],
        "features": app.features,
        "graph": {
            "edges": [_edge(e, nodes) for e in app.edges],
            "nodes": [_node(n, nodes) for n in app.nodes],
            "viewport": viewport,
        },
        **extra,
    }


def _app_block(app: AppDocument) -> dict[str, Any]:
    return {"name": app.name, "mode": app.mode, "description": app.description, **app.app_extra}


def _container_flags(parent: DocNode | None) -> dict[str, Any]:
    """The editor's markers for a node inside an iteration or loop."""
    if parent is None or parent.type not in CONTAINER_TYPES:
        return {"isInIteration": False, "isInLoop": False}
    if parent.type == "iteration":
        return {"isInIteration": True, "isInLoop": False, "iteration_id": parent.id}
    return {"isInIteration": False, "isInLoop": True, "loop_id": parent.id}


def _node(node: DocNode, nodes: dict[str, DocNode]) -> dict[str, Any]:
    parent = nodes.get(node.parent_id) if node.parent_id else None
    data = dict(node.data)
    if parent is not None:
        data.update(_container_flags(parent))
    entry: dict[str, Any] = {
        "id": node.id,
        "type": _CANVAS_TYPES.get(node.type, "custom"),
        "data": data,
    }
    if node.parent_id is not None:
        entry["parentId"] = node.parent_id
    entry.update(node.canvas)
    entry.setdefault("position", {"x": 0, "y": 0})
    return entry


def _edge(edge: DocEdge, nodes: dict[str, DocNode]) -> dict[str, Any]:
    source, target = nodes.get(edge.source), nodes.get(edge.target)
    parent = nodes.get(source.parent_id) if source and source.parent_id else None
    data: dict[str, Any] = {
        "sourceType": source.type if source else "",
        "targetType": target.type if target else "",
        **_container_flags(parent),
    }
    entry: dict[str, Any] = {
        "id": f"{edge.id}-target",
        "source": edge.source,
        "sourceHandle": edge.source_handle,
        "target": edge.target,
        "targetHandle": "target",
        "type": "custom",
        "data": data,
    }
    entry.update({k: v for k, v in edge.canvas.items() if k not in entry})
    return entry
