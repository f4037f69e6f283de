"""The linear Topology (SCCs, upstream bit masks) against the plain walks it replaced."""

from __future__ import annotations

import itertools
import random
import time
from collections import deque
from collections.abc import Iterable

import pytest

from tests.graph.builders import edge, end, export, node, start
from tideflow.workflows.graph import compile_plan, load_app, validate_app
from tideflow.workflows.graph.model import DocNode
from tideflow.workflows.graph.topology import Topology
from tideflow.workflows.graph.validate import structure_problems


def _walk(starts: Iterable[str], step: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    queue = deque(starts)
    while queue:
        current = queue.popleft()
        if current not in seen:
            seen.add(current)
            queue.extend(step.get(current, ()))
    return seen


def _ancestors(topo: Topology, node_id: str) -> set[str]:
    out = _walk([node_id], topo.predecessors) - {node_id}
    for container in topo.containers(node_id):
        out |= _walk([container.id], topo.predecessors) - {container.id}
    return out


def _inside(topo: Topology, container_id: str) -> set[str]:
    return {n for n in topo.nodes if container_id in {c.id for c in topo.containers(n)}}


def _cycles(topo: Topology) -> list[list[str]]:
    out: list[list[str]] = []
    placed: set[str] = set()
    for node_id in topo.nodes:
        if node_id in placed:
            continue
        forward = _walk(topo.successors.get(node_id, ()), topo.successors)
        if node_id not in forward:
            continue
        backward = _walk(topo.predecessors.get(node_id, ()), topo.predecessors)
        group = [n for n in topo.nodes if n in forward and n in backward]
        placed.update(group)
        out.append(group)
    return out


def _random_topology(rng: random.Random) -> Topology:
    """Nodes in up to three scopes (containers may nest, even in a parentId cycle), random
    same-scope edges with back edges, self-loops and duplicates."""
    count = rng.randint(1, 30)
    ids = [f"n{i}" for i in range(count)]
    rng.shuffle(ids)
    containers = ids[: rng.randint(0, 3)]
    nodes: dict[str, DocNode] = {}
    for node_id in ids:
        parent = rng.choice([None, None, *containers, "ghost"])
        kind = "iteration" if node_id in containers else rng.choice(["code", "start"])
        nodes[node_id] = DocNode(id=node_id, type=kind, parent_id=parent)
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    for _ in range(rng.randint(0, count * 2)):
        a, b = rng.choice(ids), rng.choice(ids)
        if nodes[a].parent_id == nodes[b].parent_id:
            succ.setdefault(a, []).append(b)
            pred.setdefault(b, []).append(a)
    return Topology(nodes, succ, pred)


def test_same_answers_as_the_walks() -> None:
    for seed in range(500):
        topo = _random_topology(random.Random(seed))
        assert topo.cycles() == _cycles(topo), seed
        for node_id in topo.nodes:
            assert topo.ancestors(node_id) == _ancestors(topo, node_id), (seed, node_id)
            assert topo.descendants_inside(node_id) == _inside(topo, node_id), (seed, node_id)


def test_a_long_chain_builds_in_linear_time() -> None:
    size = 3000
    ids = [f"t{i}" for i in range(size)]
    nodes = [start("q")]
    for i, node_id in enumerate(ids):
        source = ids[i - 1] if i else "start"
        variables = [{"variable": "x", "value_selector": [source, "output" if i else "q"]}]
        nodes.append(node(node_id, "template-transform", template="{{ x }}", variables=variables))
    nodes.append(end([ids[-1], "output"]))
    order = ["start", *ids, "end"]
    app = load_app(export(nodes, [edge(a, b) for a, b in itertools.pairwise(order)]))
    began = time.perf_counter()
    assert validate_app(app) == []
    compile_plan(app)
    # The per-node walks took ~1.5 s at 1000 nodes and grew with the square.
    assert time.perf_counter() - began < 5.0


def test_compile_after_validate_checks_the_structure_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = load_app(export([start(), end(["start", "missing"])], [edge("start", "end")]))
    first = structure_problems(app)
    assert first

    def checked_again(_app: object) -> Topology:
        raise AssertionError("the structure was checked a second time")

    monkeypatch.setattr(Topology, "of", staticmethod(checked_again))
    first.clear()  # callers may extend the list they get
    assert structure_problems(app)
