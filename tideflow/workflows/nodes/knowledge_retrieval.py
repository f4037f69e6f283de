"""Knowledge Retrieval: search datasets for the query, by activity ``knowledge_retrieve``.

Output ``result``: chunks in Dify's shape, best first: ``{content, title, metadata, files}``
with ``metadata._source == "knowledge"``, so an LLM node whose context reads them cites them
as retriever resources. Each dataset is searched by its own search method; the node's
``multiple_retrieval_config`` sets top_k, the score threshold and reranking (a rerank model,
or weighted scores for hybrid search). ``retrieval_mode: single`` (Dify's legacy mode, where a
model picks one dataset) searches every listed dataset the same way here. Metadata filtering
``manual`` applies the node's conditions (values may reference variables); ``automatic``
(conditions written by a model) is not supported and is refused at validation.
"""

from __future__ import annotations

from typing import Any

from tideflow.activities.knowledge.models import (
    RETRIEVE_ACTIVITY,
    RetrievedSegment,
    RetrieveInput,
    RetrieveResult,
)
from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.nodes._common import as_dict, as_list, is_selector, require_selector
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec


def validate(data: dict[str, Any]) -> ConfigProblems:
    """A selector for the query."""
    return require_selector(data, "query_variable_selector")


def run_requirements(data: dict[str, Any]) -> ConfigProblems:
    """At least one dataset, and a metadata filter mode we run (pinned nodes need neither)."""
    problems: ConfigProblems = []
    if not as_list(data.get("dataset_ids")):
        problems.append(("dataset_ids", "choose at least one knowledge base"))
    if data.get("metadata_filtering_mode") == "automatic":
        problems.append(
            (
                "metadata_filtering_mode",
                "automatic metadata filtering (conditions written by a model) is not "
                "supported; use manual conditions or disable it",
            )
        )
    return problems


def _retrieval_model(ctx: NodeContext) -> dict[str, Any]:
    config = as_dict(ctx.data.get("multiple_retrieval_config"))
    threshold = config.get("score_threshold")
    model: dict[str, Any] = {
        "top_k": config.get("top_k") or 4,
        "score_threshold_enabled": threshold not in (None, 0, 0.0),
        "score_threshold": threshold,
        "reranking_enable": bool(config.get("reranking_enable", True)),
        "reranking_mode": config.get("reranking_mode") or "reranking_model",
        "reranking_model": as_dict(config.get("reranking_model")),
        "weights": as_dict(config.get("weights")),
    }
    if ctx.data.get("metadata_filtering_mode") == "manual":
        conditions = as_dict(ctx.data.get("metadata_filtering_conditions"))
        rendered = [
            {**as_dict(c), "value": _render_value(ctx, as_dict(c).get("value"))}
            for c in as_list(conditions.get("conditions"))
        ]
        model["metadata_filtering_conditions"] = {
            "logical_operator": conditions.get("logical_operator") or "and",
            "conditions": rendered,
        }
    return model


def _render_value(ctx: NodeContext, value: Any) -> Any:
    if isinstance(value, str):
        return ctx.render(value)
    if is_selector(value):
        return ctx.find(value)[1]
    return value


def _chunk(record: RetrievedSegment, position: int) -> dict[str, Any]:
    content = record.content
    if record.answer:
        content = f"question:{record.content} \nanswer:{record.answer}"
    return {
        "metadata": {
            "_source": "knowledge",
            "position": position,
            "dataset_id": record.dataset_id,
            "dataset_name": record.dataset_name,
            "document_id": record.document_id,
            "document_name": record.document_name,
            "data_source_type": record.data_source_type,
            "segment_id": record.segment_id,
            "retriever_from": "workflow",
            "score": record.score,
            "segment_hit_count": record.hit_count,
            "segment_word_count": record.word_count,
            "segment_position": record.position,
            "segment_index_node_hash": record.index_node_hash,
            "doc_metadata": record.doc_metadata,
            "child_chunks": [c.model_dump() for c in record.child_chunks],
        },
        "title": record.document_name,
        "content": content,
        "files": [],
    }


async def run(ctx: NodeContext) -> NodeResult:
    """Search; a missing query fails the node as in Dify."""
    query = ctx.resolve(ctx.data["query_variable_selector"])
    if not isinstance(query, str) or not query.strip():
        raise NodeError("Query is required.", "KnowledgeRetrievalNodeError")
    request = RetrieveInput(
        tenant_id=ctx.state.tenant_id,
        dataset_ids=[str(d) for d in as_list(ctx.data.get("dataset_ids"))],
        query=query,
        retrieval_model=_retrieval_model(ctx),
        caller=f"knowledge-retrieval node {ctx.node.id}",
    )
    found = await ctx.call_activity(RETRIEVE_ACTIVITY, request, RetrieveResult)
    result = [_chunk(record, index) for index, record in enumerate(found.records, start=1)]
    return NodeResult(
        inputs={"query": query},
        outputs={"result": result},
        process_data={"search_method": found.search_method, "notes": found.notes},
    )


def _outputs(_data: dict[str, Any]) -> set[str] | None:
    return {"result"}


def _mock(_data: dict[str, Any]) -> dict[str, Any]:
    return {"result": []}


SPECS = [
    NodeSpec(
        type="knowledge-retrieval",
        validate=validate,
        run_requirements=run_requirements,
        outputs=_outputs,
        external=True,
        mock_outputs=_mock,
    )
]
RUNNERS = {"knowledge-retrieval": run}
