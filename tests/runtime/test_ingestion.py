"""DocumentIngestionWorkflow on a real Temporal dev server, worker, SQLite, Qdrant local mode and
the fake embedding server (the real litellm path): stages and statuses, pause and resume, a
parse failure, and a worker killed mid-embedding that resumes at the last finished batch."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.fakes.openai_server import FakeLLMServer
from tests.runtime.knowledge_support import (
    document_row,
    gateway_settings,
    knowledge_worker,
    make_document,
    segments,
    start_ingestion,
    wait_for,
)
from tests.runtime.worker_process import kill_tree, worker_process
from tideflow.activities.knowledge.models import (
    RETRIEVE_WORKFLOW,
    RetrieveInput,
    RetrieveResult,
)
from tideflow.activities.knowledge.vector_store import open_vector_store
from tideflow.platform.settings import Settings

pytestmark = pytest.mark.slow

# 60 paragraphs of ~40 words: with max_tokens 60 and batches of 4, a few dozen segments.
TEXT = "\n".join(
    f"Paragraph {i} talks about topic{i} and the tideflow ingestion pipeline number {i}, "
    "which parses, cleans, splits, embeds and indexes every document durably."
    for i in range(60)
)
RULE = {
    "mode": "custom",
    "rules": {
        "pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True}],
        "segmentation": {"separator": "\n", "max_tokens": 60, "chunk_overlap": 0},
    },
}


@pytest.fixture
def settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_llm: FakeLLMServer
) -> Iterator[Settings]:
    with gateway_settings(monkeypatch, tmp_path, fake_llm, embedding_batch_size="4") as settings:
        yield settings


async def _retrieve(client: Client, task_queue: str, request: RetrieveInput) -> RetrieveResult:
    return await client.execute_workflow(
        RETRIEVE_WORKFLOW,
        request,
        id=f"retrieve-{os.urandom(4).hex()}",
        task_queue=task_queue,
        result_type=RetrieveResult,
    )


async def test_document_goes_through_every_stage_and_is_searchable(
    temporal_env: WorkflowEnvironment, task_queue: str, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    client = temporal_env.client
    document = make_document(settings, TEXT.encode(), process_rule=RULE)
    async with knowledge_worker(client, settings, task_queue):
        handle = await start_ingestion(client, task_queue, document)
        assert await asyncio.wait_for(handle.result(), 60) == "completed"
        found = await _retrieve(
            client,
            task_queue,
            RetrieveInput(
                tenant_id=document.tenant_id,
                dataset_ids=[document.dataset_id],
                query="topic42",
                retrieval_model={"search_method": "full_text_search", "top_k": 3},
            ),
        )
    row = document_row(settings, document.id)
    rows = segments(settings, document.id)
    assert row.indexing_status == "completed" and row.error is None
    assert row.total_segments == row.completed_segments == len(rows) > 10
    stamps = [
        row.processing_started_at,
        row.parsing_completed_at,
        row.cleaning_completed_at,
        row.splitting_completed_at,
        row.completed_at,
    ]
    assert all(stamps) and stamps == sorted(stamps)  # pyright: ignore[reportArgumentType]
    assert all(s.status == "completed" for s in rows)
    assert fake_llm.embedded_texts == len(rows)  # each segment embedded exactly once
    store = open_vector_store(None, None, settings.qdrant_path)
    assert store.count(document.dataset_id) == len(rows)
    assert found.records and "topic42 " in found.records[0].content
    assert found.records[0].document_id == document.id


async def test_a_file_that_cannot_be_parsed_leaves_the_document_in_error(
    temporal_env: WorkflowEnvironment, task_queue: str, settings: Settings
) -> None:
    client = temporal_env.client
    document = make_document(settings, b"PK\x03\x04 not really a docx", "broken.docx")
    async with knowledge_worker(client, settings, task_queue):
        handle = await start_ingestion(client, task_queue, document)
        assert await asyncio.wait_for(handle.result(), 60) == "error"
    row = document_row(settings, document.id)
    assert row.indexing_status == "error"
    assert row.error and "broken.docx" in row.error
    assert row.stopped_at is not None


async def test_pause_keeps_finished_batches_and_resume_goes_on(
    temporal_env: WorkflowEnvironment, task_queue: str, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    client = temporal_env.client
    fake_llm.embedding_delay_s = 0.2
    document = make_document(settings, TEXT.encode(), process_rule=RULE)
    async with knowledge_worker(client, settings, task_queue):
        handle = await start_ingestion(client, task_queue, document)
        await wait_for(settings, document.id, lambda r: r.completed_segments >= 8, 60)
        await handle.signal("pause")
        await wait_for(settings, document.id, lambda r: r.indexing_status == "paused", 30)
        shown = document_row(settings, document.id)
        assert shown.paused_at is not None
        # The batch in flight when the pause was shown still finishes; then nothing moves.
        await asyncio.sleep(1.0)
        paused = document_row(settings, document.id)
        assert shown.completed_segments <= paused.completed_segments <= shown.completed_segments + 4
        await asyncio.sleep(1.0)
        assert document_row(settings, document.id).completed_segments == paused.completed_segments
        assert paused.indexing_status == "paused"
        assert paused.completed_segments < paused.total_segments
        await handle.signal("resume")
        assert await asyncio.wait_for(handle.result(), 60) == "completed"
    row = document_row(settings, document.id)
    assert row.completed_segments == row.total_segments and row.paused_at is None
    # The cancelled batch may have been embedded before the pause landed: one batch at most.
    assert row.total_segments <= fake_llm.embedded_texts <= row.total_segments + 4


def _embedding_inputs(fake_llm: FakeLLMServer) -> list[list[str]]:
    return [r.json["input"] for r in fake_llm.requests if r.path.endswith("/embeddings")]


async def test_a_worker_killed_mid_embedding_resumes_at_the_last_finished_batch(
    temporal_env: WorkflowEnvironment, task_queue: str, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    client = temporal_env.client
    fake_llm.embedding_delay_s = 0.25
    document = make_document(settings, TEXT.encode(), process_rule=RULE)
    target = client.service_client.config.target_host
    with worker_process(target, task_queue) as worker_a:
        handle = await start_ingestion(client, task_queue, document)
        await wait_for(settings, document.id, lambda r: r.completed_segments >= 8, 90)
        kill_tree(worker_a)
    done_at_kill = document_row(settings, document.id).completed_segments
    embedded_at_kill = fake_llm.embedded_texts
    requests_at_kill = len(_embedding_inputs(fake_llm))
    assert done_at_kill < document_row(settings, document.id).total_segments
    async with knowledge_worker(client, settings, task_queue):
        assert await asyncio.wait_for(handle.result(), 90) == "completed"
    row = document_row(settings, document.id)
    total = row.total_segments
    assert row.completed_segments == total
    # Worker B embedded only what was not finished: the batch in flight at the kill at most
    # once more, never a finished batch.
    assert embedded_at_kill <= done_at_kill + 4
    redone = fake_llm.embedded_texts - total
    assert 0 <= redone <= 4, (fake_llm.embedded_texts, total)
    texts = [s.content for s in segments(settings, document.id)]
    after_kill = _embedding_inputs(fake_llm)[requests_at_kill:]
    assert after_kill[0][0] == texts[done_at_kill]  # B starts at the first unfinished segment
    assert not {text for batch in after_kill for text in batch} & set(texts[:done_at_kill])
    store = open_vector_store(None, None, settings.qdrant_path)
    assert store.count(document.dataset_id) == total


async def test_pause_and_resume_during_parsing_goes_on(
    temporal_env: WorkflowEnvironment, task_queue: str, settings: Settings
) -> None:
    """The parse stage is cancelled by the pause; the cancellation may land after the resume
    and is still the pause's (the document must not end in error)."""
    client = temporal_env.client
    paragraphs = "".join(f"<p>Paragraph {i} about topic{i} and words.</p>" for i in range(20000))
    html = f"<html><body>{paragraphs}</body></html>".encode()
    document = make_document(settings, html, "big.html", indexing_technique="economy")
    async with knowledge_worker(client, settings, task_queue):
        handle = await start_ingestion(client, task_queue, document)
        await wait_for(settings, document.id, lambda r: r.indexing_status == "parsing", 30)
        await asyncio.sleep(0.5)
        await handle.signal("pause")
        await wait_for(settings, document.id, lambda r: r.indexing_status == "paused", 30)
        await asyncio.sleep(0.3)
        await handle.signal("resume")
        assert await asyncio.wait_for(handle.result(), 120) == "completed"
    row = document_row(settings, document.id)
    assert row.indexing_status == "completed" and row.error is None
