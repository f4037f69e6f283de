"""Check that every variable a node reads exists and is written before the node runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tideflow.workflows.graph.errors import Problem
from tideflow.workflows.graph.model import CONTAINER_TYPES, AppDocument, DocNode, as_dict, as_list
from tideflow.workflows.graph.references import node_references
from tideflow.workflows.graph.topology import Topology

if TYPE_CHECKING:
    from tideflow.workflows.nodes.spec import NodeSpec

# Pool namespaces that do not belong to a node: ``sys`` keys depend on the trigger and mode;
# ``userinput`` is the newer Dify alias of the run's input files (``userinput.files``).
_FREE_NAMESPACES = frozenset({"sys", "rag", "userinput"})


def reference_problems(
    app: AppDocument, topology: Topology, specs: dict[str, NodeSpec]
) -> list[Problem]:
    """One problem per variable reference that cannot resolve when the node runs."""
    checker = _Checker(app, topology, specs)
    problems: list[Problem] = []
    for node in app.nodes:
        for ref in node_references(node):
            message = checker.check(node, ref.selector)
            if message is not None:
                problems.append(Problem(node.id, ref.field, message, node.title))
    return problems


class _Checker:
    def __init__(self, app: AppDocument, topology: Topology, specs: dict[str, NodeSpec]) -> None:
        self.topology = topology
        self.specs = specs
        self.env = app.env_names()
        self.conversation = app.conversation_names()
        self._ancestors: dict[str, int] = {}

    def check(self, node: DocNode, selector: tuple[str, ...]) -> str | None:
        head, name = selector[0], selector[1]
        if head in _FREE_NAMESPACES:
            return None
        if head == "env":
            return (
                None if name in self.env else f"env.{name} is not a declared environment variable"
            )
        if head == "conversation":
            if name in self.conversation:
                return None
            return f"conversation.{name} is not a declared conversation variable"
        scopes = {c.id: c for c in self.topology.containers(node.id)}
        if node.type in CONTAINER_TYPES:
            scopes[node.id] = node
        if head in scopes and name in _scope_variables(scopes[head]):
            return None
        source = self.topology.nodes.get(head)
        if source is None:
            return f"refers to node {head}, which does not exist"
        if not self._upstream(node) & self.topology.bit(head) and self._runs_after(node, head):
            return f"refers to {_name(source)}, which does not run before this node"
        # A node on another branch is fine, as in Dify: the value is absent at run time when
        # that branch did not run (aggregators and answers rely on this).
        return self._check_output(source, name)

    def _runs_after(self, node: DocNode, head: str) -> bool:
        """True when ``head`` is ``node`` itself or can only run after it."""
        return head == node.id or bool(
            self.topology.ancestor_mask(head) & self.topology.bit(node.id)
        )

    def _upstream(self, node: DocNode) -> int:
        """Nodes written before ``node`` runs, as a mask over the topology's bits."""
        if node.id not in self._ancestors:
            upstream = self.topology.ancestor_mask(node.id)
            if node.type in CONTAINER_TYPES:
                # A container's output_selector and break conditions read its own children.
                upstream |= self.topology.inside_mask(node.id)
            self._ancestors[node.id] = upstream
        return self._ancestors[node.id]

    def _check_output(self, source: DocNode, name: str) -> str | None:
        spec = self.specs.get(source.type)
        outputs = spec.outputs(source.data) if spec is not None else None
        if outputs is None:
            return None
        outputs = outputs | _error_outputs(source)
        if name in outputs:
            return None
        listed = ", ".join(sorted(outputs)) or "none"
        return f"{_name(source)} has no output {name!r} (it has: {listed})"


def _name(node: DocNode) -> str:
    return f"node {node.id} ({node.title})"


def _scope_variables(container: DocNode) -> set[str]:
    """Variables a container offers its children: the item and index, or the loop variables."""
    if container.type == "iteration":
        return {"item", "index"}
    labels = {
        str(entry.get("label"))
        for entry in (as_dict(v) for v in as_list(container.data.get("loop_variables")) or [])
        if entry is not None
    }
    return labels | {"index"}


def _error_outputs(node: DocNode) -> set[str]:
    """Outputs a node gains from its error strategy."""
    strategy = node.data.get("error_strategy")
    if strategy not in ("default-value", "fail-branch"):
        return set()
    keys = {"error_message", "error_type"}
    if strategy == "default-value":
        for entry in as_list(node.data.get("default_value")) or []:
            item = as_dict(entry)
            if item is not None and item.get("key"):
                keys.add(str(item["key"]))
    return keys
