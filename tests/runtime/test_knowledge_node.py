"""The knowledge-retrieval node in a real run: GraphWorkflow on the Temporal dev server, the real
worker (retrieval activity, Qdrant local mode) and the fake model server through litellm.
Its chunks reach an LLM node's context and come back as that node's retriever resources."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.fakes.openai_server import FakeLLMServer
from tests.runtime.graphs import chain, end, node
from tests.runtime.knowledge_support import (
    gateway_settings,
    knowledge_worker,
    make_document,
    start_ingestion,
)
from tests.runtime.support import plan_from_graph
from tideflow.platform.settings import Settings
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult
from tideflow.workflows.interpreter import GraphWorkflow

pytestmark = pytest.mark.slow

TEXT = (
    "The durable ingestion pipeline resumes at the last finished batch.\n\n"
    "Tideflow's scheduler fires cron triggers in the node's time zone.\n\n"
    "Human input forms wait for days without holding a worker."
)


@pytest.fixture
def settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_llm: FakeLLMServer
) -> Iterator[Settings]:
    fake_llm.embedding_mode = "bow"
    fake_llm.embedding_dim = 256
    with gateway_settings(monkeypatch, tmp_path, fake_llm) as settings:
        yield settings


def _graph(dataset_id: str, retrieval: dict[str, object]) -> tuple[list[dict], list[dict]]:  # type: ignore[type-arg]
    nodes = [
        node("start", "start", variables=[{"variable": "q", "type": "text-input", "label": "q"}]),
        node(
            "kr",
            "knowledge-retrieval",
            query_variable_selector=["start", "q"],
            dataset_ids=[dataset_id],
            retrieval_mode="multiple",
            multiple_retrieval_config=retrieval,
        ),
        node(
            "llm",
            "llm",
            model={"provider": "openai", "name": "gpt-4o-mini", "mode": "chat"},
            prompt_template=[
                {"role": "system", "text": "Answer from the context."},
                {"role": "user", "text": "<context>{{#context#}}</context> {{#start.q#}}"},
            ],
            context={"enabled": True, "variable_selector": ["kr", "result"]},
        ),
        end(("result", ["kr", "result"]), ("text", ["llm", "text"])),
    ]
    return nodes, chain("start", "kr", "llm", "end")


async def test_chunks_reach_the_llm_context_as_retriever_resources(
    temporal_env: WorkflowEnvironment, task_queue: str, settings: Settings
) -> None:
    client = temporal_env.client
    rule = {"mode": "custom", "rules": {"segmentation": {"separator": "\n\n", "max_tokens": 100}}}
    document = make_document(settings, TEXT.encode(), "notes.md", process_rule=rule)
    nodes, edges = _graph(document.dataset_id, {"top_k": 1, "reranking_enable": False})
    run_input = GraphRunInput(
        plan=plan_from_graph("workflow", nodes, edges),
        inputs={"q": "when does the scheduler fire cron triggers"},
        tenant_id=document.tenant_id,
    )
    async with knowledge_worker(client, settings, task_queue):
        handle = await start_ingestion(client, task_queue, document)
        assert await asyncio.wait_for(handle.result(), 60) == "completed"
        result: GraphRunResult = await client.execute_workflow(
            GraphWorkflow.run, run_input, id=f"kr-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
    assert result.status == "succeeded", result.error
    [chunk] = result.outputs["result"]
    assert chunk["content"] == "Tideflow's scheduler fires cron triggers in the node's time zone."
    assert chunk["title"] == "notes.md"
    metadata = chunk["metadata"]
    assert metadata["_source"] == "knowledge"
    assert metadata["document_id"] == document.id and metadata["dataset_id"] == document.dataset_id
    assert metadata["position"] == 1 and metadata["segment_position"] == 2
    assert 0 < metadata["score"] <= 1
    # The fake model echoes the user message: the chunk was in the prompt's context.
    assert "scheduler fires cron triggers" in result.outputs["text"]
    llm_run = next(r for r in result.node_runs if r.node_id == "llm")
    [resource] = llm_run.execution_metadata["retriever_resources"]
    assert resource["segment_id"] == metadata["segment_id"]
    assert resource["content"] == chunk["content"]
    assert resource["document_name"] == "notes.md"


async def test_an_unknown_dataset_fails_the_node_naming_it(
    temporal_env: WorkflowEnvironment, task_queue: str, settings: Settings
) -> None:
    client = temporal_env.client
    nodes, edges = _graph("no-such-dataset", {"top_k": 2})
    run_input = GraphRunInput(
        plan=plan_from_graph("workflow", nodes, edges), inputs={"q": "anything"}, tenant_id="t1"
    )
    async with knowledge_worker(client, settings, task_queue):
        result: GraphRunResult = await client.execute_workflow(
            GraphWorkflow.run, run_input, id=f"kr-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
    assert result.status == "failed"
    assert "no-such-dataset" in (result.error or "")
    assert "knowledge-retrieval node kr" in (result.error or "")
