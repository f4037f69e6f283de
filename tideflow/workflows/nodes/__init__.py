"""Every Dify node type Tideflow knows: its NodeSpec and (when implemented) its runner.

One module per node type holds its config reading, semantics and spec; ``NODE_SPECS`` and
``NODE_RUNNERS`` gather them for the graph package and the engine.

Installed plugins add node types through the ``tideflow.nodes`` entry-point group: each entry
point is a module (or object) shaped like a built-in node module (``SPECS``, ``RUNNERS``, and
optionally ``ACTIVITIES`` for the worker). They load once per process, when this package is
first imported (outside the workflow sandbox: the interpreter imports the engine passed
through), so a plugin's runner is workflow code like any built-in's. The built-ins are listed
here rather than declared as entry points: the node types a history replays against must not
depend on installed metadata being current.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from tideflow.plugins.registry import plugins
from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.graph.specs import KNOWN_NODE_TYPES
from tideflow.workflows.nodes import (
    agent,
    answer,
    assigner,
    code,
    document_extractor,
    end,
    external,
    http_request,
    human_input,
    if_else,
    iteration,
    knowledge_retrieval,
    list_operator,
    llm,
    loop,
    parameter_extractor,
    question_classifier,
    start,
    template_transform,
    tool,
    trigger_schedule,
    trigger_webhook,
    variable_aggregator,
)
from tideflow.workflows.nodes.spec import NodeSpec

log = logging.getLogger("tideflow.plugins")

NodeRunner = Callable[[NodeContext], Awaitable[NodeResult]]

_MODULES = (
    start,
    end,
    answer,
    if_else,
    template_transform,
    variable_aggregator,
    assigner,
    list_operator,
    iteration,
    loop,
    code,
    http_request,
    document_extractor,
    llm,
    question_classifier,
    parameter_extractor,
    trigger_webhook,
    trigger_schedule,
    human_input,
    knowledge_retrieval,
    agent,
    tool,
)

NODE_SPECS: dict[str, NodeSpec] = {
    spec.type: spec for module in (*_MODULES, external) for spec in module.SPECS
}
NODE_RUNNERS: dict[str, NodeRunner] = {}
for _module in _MODULES:
    _runners: Mapping[str, NodeRunner] = _module.RUNNERS
    NODE_RUNNERS.update(_runners)


def _plugin_problem(plugin: Any, specs: Mapping[str, NodeSpec]) -> str | None:
    """Why ``plugin`` cannot be added to ``specs``, or None when it can."""
    declared: Any = getattr(plugin, "SPECS", None)
    if not isinstance(declared, list | tuple) or not declared:
        return "SPECS is missing or not a non-empty list of NodeSpec"
    types: list[str] = []
    for spec in cast(list[Any], declared):
        if not isinstance(spec, NodeSpec):
            return f"SPECS holds {type(spec).__name__}, expected NodeSpec"
        types.append(spec.type)
    # Dify's own type names stay reserved even before Tideflow implements them.
    taken = {t for t in types if t in specs or t in KNOWN_NODE_TYPES or types.count(t) > 1}
    if taken:
        return f"node type(s) {sorted(taken)} already taken (a plugin cannot replace one)"
    runners: Any = getattr(plugin, "RUNNERS", None)
    if not isinstance(runners, Mapping):
        return "RUNNERS is missing or not a dict"
    for key, runner in cast(Mapping[Any, Any], runners).items():
        if key not in types or not callable(runner):
            return f"RUNNERS[{key!r}] is not a callable for one of its SPECS"
    activities: Any = getattr(plugin, "ACTIVITIES", [])
    if not isinstance(activities, list | tuple) or not all(
        callable(a) for a in cast(list[Any], activities)
    ):
        return "ACTIVITIES is not a list of activity functions"
    return None


def add_node_plugins(
    specs: dict[str, NodeSpec], runners: dict[str, NodeRunner], found: Mapping[str, Any]
) -> dict[str, Any]:
    """Add each plugin of ``found`` (by entry-point name) to ``specs`` and ``runners``.

    Returns the plugins added. One that is malformed or names a node type already registered
    (a built-in's or an earlier plugin's) is left out whole and logged: a plugin never changes
    how a known node type runs, and one bad plugin does not stop the process.
    """
    added: dict[str, Any] = {}
    for name, plugin in found.items():
        problem = _plugin_problem(plugin, specs)
        if problem is not None:
            log.error("node plugin %s skipped: %s", name, problem)
            continue
        for spec in plugin.SPECS:
            specs[spec.type] = spec
        runners.update(plugin.RUNNERS)
        added[name] = plugin
    return added


# Plugins whose node types were added, by entry-point name (the worker registers their
# ACTIVITIES).
NODE_PLUGINS: dict[str, Any] = add_node_plugins(NODE_SPECS, NODE_RUNNERS, plugins("tideflow.nodes"))

__all__ = [
    "NODE_PLUGINS",
    "NODE_RUNNERS",
    "NODE_SPECS",
    "NodeRunner",
    "NodeSpec",
    "add_node_plugins",
]
