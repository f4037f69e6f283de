"""Compile an imported app into the immutable ExecutionPlan a run executes."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from tideflow.workflows.graph.errors import DSLError
from tideflow.workflows.graph.model import AppDocument
from tideflow.workflows.graph.plan import (
    ConversationVariable,
    EnvironmentVariable,
    ExecutionPlan,
    PlanEdge,
    PlanNode,
)
from tideflow.workflows.graph.topology import Topology
from tideflow.workflows.graph.validate import structure_problems


def compile_plan(app: AppDocument) -> ExecutionPlan:
    """The execution plan of ``app``; raises ``DSLError`` when the graph is wrong.

    Whether unimplemented node types are acceptable depends on the run's pins and mocks, so
    that check is left to ``validate_app`` at run start; everything else must hold here.
    Equal input gives an equal plan and hash: node data is copied as normalised, and edge ids
    are derived from (source, handle, target) rather than from editor-assigned ids.
    """
    problems = structure_problems(app)
    if problems:
        raise DSLError(problems)
    root = Topology.of(app).roots()[0]
    nodes = {
        n.id: PlanNode(
            id=n.id, type=n.type, title=n.title, data=copy.deepcopy(n.data), parent_id=n.parent_id
        )
        for n in app.nodes
    }
    edges = tuple(
        PlanEdge(id=e.id, source=e.source, target=e.target, source_handle=e.source_handle)
        for e in app.edges
    )
    return ExecutionPlan(
        mode=app.mode,
        name=app.name,
        root_id=root.id,
        nodes=nodes,
        edges=edges,
        environment_variables=_variables(EnvironmentVariable, app.environment_variables),
        conversation_variables=_variables(ConversationVariable, app.conversation_variables),
    )


V = TypeVar("V", EnvironmentVariable, ConversationVariable)


def _variables(kind: type[V], entries: Iterable[Mapping[str, Any]]) -> tuple[V, ...]:
    """The plan's copy of the app's environment or conversation variables."""
    return tuple(
        kind(
            name=str(v.get("name")),
            value_type=str(v.get("value_type") or "string"),
            value=copy.deepcopy(v.get("value")),
        )
        for v in entries
    )
