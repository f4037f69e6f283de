"""Read a Dify app DSL (YAML text, a file, or an already parsed mapping) into an AppDocument."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast, get_args

import yaml

from tideflow.workflows.graph.errors import DSLError, Problem, app_problem
from tideflow.workflows.graph.model import AppDocument, as_dict, as_list
from tideflow.workflows.graph.model_config import MODEL_CONFIG_MODES, config_features, config_graph
from tideflow.workflows.graph.normalise import normalise_edges, normalise_nodes
from tideflow.workflows.graph.plan import AppMode

SUPPORTED_MODES = ("workflow", "advanced-chat", *MODEL_CONFIG_MODES)
_NEWEST_VERSION = (0, 6)
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")

# libyaml's loader when present: real exports are large and the pure-Python one is ~10x slower.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

AppSource = str | os.PathLike[str] | Mapping[str, Any]


def load_app(source: AppSource) -> AppDocument:
    """Import a Dify app DSL and normalise it.

    ``source`` is YAML text, a path to a ``.yml``/``.yaml`` file, or a parsed mapping. Accepted:
    ``kind: app`` exports (DSL 0.1.0-0.6.x: ``workflow`` and ``advanced-chat`` graphs, and
    ``chat``, ``completion`` and ``agent-chat`` apps, whose ``model_config`` compiles to a
    graph), a bare ``{nodes, edges}`` graph and ``{graph: {nodes, edges}}``. Raises ``DSLError``
    naming every problem found in the file's structure; graph-level checks are
    ``validate_app``'s job.
    """
    document = source if isinstance(source, Mapping) else _parse(_read(source))
    root = as_dict(dict(document))
    if root is None:  # pragma: no cover - a Mapping always converts
        raise DSLError([app_problem("yaml", "the document is not a mapping")])
    if "nodes" in root or "graph" in root:
        return _from_bare_graph(root)
    return _from_app_export(root)


def _read(source: str | os.PathLike[str]) -> str:
    if isinstance(source, os.PathLike):
        return Path(source).read_text(encoding="utf-8")
    looks_like_path = "\n" not in source and source.endswith((".yml", ".yaml"))
    if looks_like_path and Path(source).is_file():
        return Path(source).read_text(encoding="utf-8")
    return source


def _parse(text: str) -> Mapping[str, Any]:
    try:
        loaded: object = yaml.load(text, Loader=_LOADER)  # CSafeLoader or SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise DSLError([app_problem("yaml", f"{where}{exc.problem or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise DSLError([app_problem("yaml", str(exc))]) from exc
    mapping = as_dict(loaded)
    if mapping is None:
        kind = type(loaded).__name__
        raise DSLError([app_problem("yaml", f"expected a mapping at the top level, got {kind}")])
    return mapping


def _from_app_export(root: dict[str, Any]) -> AppDocument:
    problems: list[Problem] = []
    kind = root.get("kind")
    # Dify fills in a missing kind; any other kind is a different kind of export.
    if kind is not None and kind != "app":
        problems.append(app_problem("kind", f"expected 'app', got {kind!r}"))
    version = _check_version(root.get("version"), problems)
    app = as_dict(root.get("app"))
    if app is None:
        problems.append(app_problem("app", "missing app section: this is not a Dify app export"))
        raise DSLError(problems)
    mode = _check_mode(app.get("mode"), problems)
    if mode in MODEL_CONFIG_MODES:
        return _from_model_config(root, app, mode, version, problems)
    workflow = as_dict(root.get("workflow"))
    graph = as_dict(workflow.get("graph")) if workflow else None
    if workflow is None or graph is None:
        problems.append(app_problem("workflow.graph", "missing: the export has no graph"))
    if problems or mode is None or workflow is None or graph is None:
        raise DSLError(problems)
    extra = {k: v for k, v in app.items() if k not in ("name", "mode", "description")}
    return _build(
        graph,
        workflow,
        mode=mode,
        name=str(app.get("name") or ""),
        description=str(app.get("description") or ""),
        dsl_version=version,
        app_extra=extra,
        dependencies=_dependencies(root),
    )


def _from_model_config(
    root: dict[str, Any], app: dict[str, Any], mode: AppMode, version: str, problems: list[Problem]
) -> AppDocument:
    """A Chatbot, Agent or Text Generator: the graph its ``model_config`` amounts to."""
    config = as_dict(root.get("model_config"))
    if config is None:
        label = MODEL_CONFIG_MODES[mode]
        problems.append(app_problem("model_config", f"missing: a {label} app export has one"))
        raise DSLError(problems)
    graph, config_problems = config_graph(mode, config)
    if problems or config_problems:
        raise DSLError(problems + config_problems)
    document = _build(
        graph,
        {"features": config_features(config)},
        mode=mode,
        name=str(app.get("name") or ""),
        description=str(app.get("description") or ""),
        dsl_version=version,
        app_extra={k: v for k, v in app.items() if k not in ("name", "mode", "description")},
        dependencies=_dependencies(root),
    )
    return document.model_copy(update={"app_model_config": config})


def _dependencies(root: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    deps = [d for d in as_list(root.get("dependencies")) or [] if as_dict(d) is not None]
    return tuple(cast(list[dict[str, Any]], deps))


def _from_bare_graph(root: dict[str, Any]) -> AppDocument:
    graph = as_dict(root.get("graph")) if "graph" in root else root
    if graph is None:
        raise DSLError([app_problem("graph", "expected a mapping with nodes and edges")])
    nodes = as_list(graph.get("nodes")) or []
    data_types = {str((as_dict(n.get("data")) or {}).get("type")) for n in map(_entry, nodes)}
    # A bare graph carries no mode: answer nodes without end nodes mean a chatflow.
    chat = "answer" in data_types and "end" not in data_types
    return _build(graph, root, mode="advanced-chat" if chat else "workflow", name="")


def _entry(value: object) -> dict[str, Any]:
    return as_dict(value) or {}


def _check_version(value: object, problems: list[Problem]) -> str:
    text = "0.1.0" if value is None else str(value)
    match = _VERSION.match(text)
    if match is None:
        problems.append(app_problem("version", f"{text!r} is not a DSL version like 0.6.0"))
        return text
    major, minor = int(match.group(1)), int(match.group(2))
    if (major, minor) > _NEWEST_VERSION:
        problems.append(
            app_problem("version", f"DSL {text} is newer than the newest supported (0.6.x)")
        )
    return text


def _check_mode(value: object, problems: list[Problem]) -> AppMode | None:
    for mode in get_args(AppMode):
        if value == mode:
            return cast(AppMode, mode)
    problems.append(app_problem("app.mode", f"unknown app mode {value!r}"))
    return None


def _build(
    graph: dict[str, Any],
    workflow: dict[str, Any],
    *,
    mode: AppMode,
    name: str,
    description: str = "",
    dsl_version: str = "0.1.0",
    app_extra: dict[str, Any] | None = None,
    dependencies: tuple[dict[str, Any], ...] = (),
) -> AppDocument:
    nodes, added_edges, problems = normalise_nodes(as_list(graph.get("nodes")) or [])
    edges, edge_problems = normalise_edges(as_list(graph.get("edges")) or [])
    if problems or edge_problems:
        raise DSLError(problems + edge_problems)
    known = {"nodes", "edges", "graph", "features", "environment_variables"}
    known |= {"conversation_variables", "kind", "version", "app", "dependencies", "meta"}
    extra = {k: v for k, v in workflow.items() if k not in known}
    viewport = graph.get("viewport")
    if viewport is not None:
        extra["viewport"] = viewport
    return AppDocument(
        mode=mode,
        name=name,
        description=description,
        dsl_version=dsl_version,
        app_extra=app_extra or {},
        nodes=tuple(nodes),
        edges=tuple(edges + added_edges),
        environment_variables=_variables(workflow.get("environment_variables"), None),
        conversation_variables=_variables(workflow.get("conversation_variables"), "conversation"),
        features=as_dict(workflow.get("features")) or {},
        dependencies=dependencies,
        workflow_extra=extra,
    )


def _variables(value: object, id_kind: str | None) -> tuple[dict[str, Any], ...]:
    out: list[dict[str, Any]] = []
    for item in as_list(value) or []:
        entry = as_dict(item)
        if entry is None:
            continue
        entry = dict(entry)
        if id_kind is not None and not _is_uuid(entry.get("id")):
            # Dify stores conversation variables under a UUID: a hand-written id becomes the
            # name-derived uuid5 Dify uses, so every import of the file agrees.
            key = f"dify:{id_kind}-variable:{entry.get('name')}"
            entry["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, key))
        out.append(entry)
    return tuple(out)


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
