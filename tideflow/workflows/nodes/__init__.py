"""Every Dify node type Tideflow knows: its NodeSpec and (when implemented) its runner.

One module per node type holds its config reading, semantics and spec; ``NODE_SPECS`` and
``NODE_RUNNERS`` gather them for the graph package and the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.nodes import (
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
    trigger_schedule,
    trigger_webhook,
    variable_aggregator,
)
from tideflow.workflows.nodes.spec import NodeSpec

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
)

NODE_SPECS: dict[str, NodeSpec] = {
    spec.type: spec for module in (*_MODULES, external) for spec in module.SPECS
}
NODE_RUNNERS: dict[str, NodeRunner] = {}
for _module in _MODULES:
    _runners: Mapping[str, NodeRunner] = _module.RUNNERS
    NODE_RUNNERS.update(_runners)

__all__ = ["NODE_RUNNERS", "NODE_SPECS", "NodeRunner", "NodeSpec"]
