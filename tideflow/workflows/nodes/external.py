"""Known Dify node types implemented in a later step: specs and mock outputs only.

Such a node runs only when pinned or mocked (``mock_external`` pins every external one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tideflow.workflows.nodes.spec import NodeSpec

_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def _retrieval_mock(_data: dict[str, Any]) -> dict[str, Any]:
    return {"result": []}


def _fixed(*names: str) -> Callable[[dict[str, Any]], set[str] | None]:
    return lambda _data: set(names)


def _unknown(_data: dict[str, Any]) -> set[str] | None:
    return None


def _later(
    node_type: str,
    outputs: Callable[[dict[str, Any]], set[str] | None] = _unknown,
    mock: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    *,
    external: bool = True,
) -> NodeSpec:
    return NodeSpec(
        node_type,
        outputs=outputs,
        external=external,
        implemented=False,
        mock_outputs=mock,
    )


SPECS = [
    _later("knowledge-retrieval-v2", _fixed("result"), _retrieval_mock),
    _later("trigger-plugin"),
    _later("knowledge-index", _fixed()),
    _later("datasource"),
]
