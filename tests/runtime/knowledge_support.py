"""Knowledge-base rows and a worker for the ingestion tests (the API's own tests go through it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from tests.activities.support import apply_settings
from tests.fakes.openai_server import FakeLLMServer
from tideflow.activities.files import save_file
from tideflow.activities.knowledge.models import (
    INGESTION_WORKFLOW,
    IngestionInput,
    ingestion_workflow_id,
)
from tideflow.activities.knowledge.vector_store import close_vector_stores
from tideflow.platform.db.knowledge_models import Dataset, DatasetDocument, DocumentSegment
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.models import Tenant
from tideflow.platform.db.session import get_engine
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.worker import registered_activities, registered_workflows

EMBEDDING_PROVIDER, EMBEDDING_MODEL = "openai", "text-embedding-3-small"


def make_document(
    settings: Settings,
    content: bytes,
    filename: str = "doc.txt",
    *,
    indexing_technique: str = "high_quality",
    doc_form: str = "text_model",
    process_rule: dict[str, Any] | None = None,
    dataset_id: str | None = None,
) -> DatasetDocument:
    """A new tenant and dataset (unless one is given) and a waiting document in the store."""
    with Session(get_engine(settings.db_url), expire_on_commit=False) as session:
        if dataset_id is None:
            tenant = Tenant(name="kb")
            session.add(tenant)
            session.flush()
            dataset = Dataset(
                tenant_id=tenant.id,
                name=f"kb-{tenant.id[:8]}",
                indexing_technique=indexing_technique,
                doc_form=doc_form,
                embedding_model_provider=EMBEDDING_PROVIDER
                if indexing_technique != "economy"
                else None,
                embedding_model=EMBEDDING_MODEL if indexing_technique != "economy" else None,
            )
            session.add(dataset)
            session.flush()
        else:
            found = session.get(Dataset, dataset_id)
            assert found is not None
            dataset = found
        stored = save_file(
            content,
            filename=filename,
            mime_type=None,
            settings=settings,
            tenant_id=dataset.tenant_id,
        )
        document = DatasetDocument(
            tenant_id=dataset.tenant_id,
            dataset_id=dataset.id,
            batch="b1",
            name=filename,
            source_store_id=str(stored["related_id"]),
            source_name=filename,
            source_extension=filename.rsplit(".", 1)[-1],
            source_size=len(content),
            process_rule=process_rule or {"mode": "automatic"},
            doc_form=doc_form,
        )
        session.add(document)
        session.commit()
        return document


async def start_ingestion(
    client: Client, task_queue: str, document: DatasetDocument
) -> WorkflowHandle[Any, str]:
    """Start the document's DocumentIngestionWorkflow."""
    return await client.start_workflow(
        INGESTION_WORKFLOW,
        IngestionInput(
            tenant_id=document.tenant_id,
            dataset_id=document.dataset_id,
            document_id=document.id,
            generation=document.generation,
        ),
        id=ingestion_workflow_id(document.id),
        task_queue=task_queue,
        result_type=str,
    )


def document_row(settings: Settings, document_id: str) -> DatasetDocument:
    """The document's row as it is now."""
    with Session(get_engine(settings.db_url), expire_on_commit=False) as session:
        row = session.get(DatasetDocument, document_id)
        assert row is not None
        return row


def segments(settings: Settings, document_id: str) -> list[DocumentSegment]:
    """The document's segments in order."""
    with Session(get_engine(settings.db_url)) as session:
        rows = session.exec(
            select(DocumentSegment)
            .where(DocumentSegment.document_id == document_id)
            .order_by(DocumentSegment.position)  # pyright: ignore[reportArgumentType]
        )
        return list(rows)


async def wait_for(settings: Settings, document_id: str, predicate: Any, timeout: float) -> None:
    """Poll the document's row until ``predicate(row)``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        row = document_row(settings, document_id)
        if predicate(row):
            return
        assert time.monotonic() < deadline, (
            f"document stayed {row.indexing_status} {row.completed_segments}/{row.total_segments}"
        )
        await asyncio.sleep(0.05)


@contextmanager
def gateway_settings(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, fake_llm: FakeLLMServer, **env: str
) -> Iterator[Settings]:
    """Settings of a knowledge test: its own data dir and database, every model call to the
    fake server; the vector store closed and the settings restored after."""
    settings = apply_settings(monkeypatch, data_dir, model_gateway_url=fake_llm.base_url, **env)
    upgrade_database(settings.db_url)
    try:
        yield settings
    finally:
        close_vector_stores()
        monkeypatch.undo()
        get_settings.cache_clear()


@asynccontextmanager
async def knowledge_worker(
    client: Client, settings: Settings, task_queue: str
) -> AsyncIterator[Worker]:
    """The worker's workflows and activities in this process; its vector store closed after."""
    worker = TideflowTemporal(settings).worker(
        client,
        workflows=registered_workflows(),
        activities=registered_activities(),
        task_queue=task_queue,
    )
    try:
        async with worker:
            yield worker
    finally:
        close_vector_stores()
