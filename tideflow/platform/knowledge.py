"""What the API asks of Temporal for knowledge bases: ingestion runs, searches, vector changes.

The API never opens the vector store (Qdrant local mode is single-process and belongs to the
worker): a search runs ``KnowledgeRetrieveWorkflow`` and a change to indexed data runs
``KnowledgeVectorOpWorkflow``, both awaited. A document's ingestion is a
``DocumentIngestionWorkflow`` with id ``ingest-<document id>``, started and then followed
through the document's row, which its activities keep current.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import TypeVar

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from tideflow.activities.knowledge.models import (
    INGESTION_WORKFLOW,
    PAUSE_SIGNAL,
    RESUME_SIGNAL,
    RETRIEVE_WORKFLOW,
    VECTOR_OP_WORKFLOW,
    IngestionInput,
    RetrieveInput,
    RetrieveResult,
    VectorOpInput,
    VectorOpResult,
    ingestion_workflow_id,
)
from tideflow.platform.api.errors import ApiError
from tideflow.platform.db.knowledge_models import DatasetDocument
from tideflow.platform.settings import Settings
from tideflow.platform.task_queues import activity_queues

T = TypeVar("T")

# A search or a vector change the caller waits for.
WAIT_TIMEOUT = timedelta(seconds=120)


async def start_ingestion(
    client: Client,
    settings: Settings,
    documents: Sequence[DatasetDocument],
    *,
    reparse: bool = False,
    resplit: bool = True,
) -> None:
    """Start (or restart) each document's ingestion at its current ``generation``.
    ``resplit=False`` (a retry) keeps segments already made, and their finished batches.

    A run still going for an older generation is terminated first: the new one re-does the
    stages, and the old one's writes are refused by the generation check anyway.
    """
    for document in documents:
        await client.start_workflow(
            INGESTION_WORKFLOW,
            IngestionInput(
                tenant_id=document.tenant_id,
                dataset_id=document.dataset_id,
                document_id=document.id,
                generation=document.generation,
                reparse=reparse,
                resplit=resplit,
                activity_queues=activity_queues(settings),
            ),
            id=ingestion_workflow_id(document.id),
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
        )


async def signal_ingestion(client: Client, document_id: str, *, pause: bool) -> bool:
    """Pause or resume a document's running ingestion; False when none is running."""
    handle = client.get_workflow_handle(ingestion_workflow_id(document_id))
    try:
        await handle.signal(PAUSE_SIGNAL if pause else RESUME_SIGNAL)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def ingestion_running(client: Client, document_id: str) -> bool:
    """Whether the document's ingestion workflow is running now."""
    handle = client.get_workflow_handle(ingestion_workflow_id(document_id))
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return description.status == WorkflowExecutionStatus.RUNNING


async def stop_ingestion(client: Client, document_id: str) -> None:
    """End a document's ingestion run, if one is going (the document is being deleted)."""
    handle = client.get_workflow_handle(ingestion_workflow_id(document_id))
    try:
        await handle.terminate(reason="document deleted or re-indexed")
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise


async def retrieve(client: Client, settings: Settings, request: RetrieveInput) -> RetrieveResult:
    """Search through the worker; a bad request (unknown model, bad filter) is a 400."""
    return await _execute(
        client, settings, RETRIEVE_WORKFLOW, request, RetrieveResult, "retrieve", "search"
    )


async def run_vector_op(client: Client, settings: Settings, op: VectorOpInput) -> VectorOpResult:
    """Apply a change to indexed data through the worker and wait for it."""
    return await _execute(
        client, settings, VECTOR_OP_WORKFLOW, op, VectorOpResult, f"vectors-{op.op}", op.op
    )


async def _execute(
    client: Client,
    settings: Settings,
    workflow: str,
    arg: object,
    result_type: type[T],
    id_prefix: str,
    what: str,
) -> T:
    try:
        return await client.execute_workflow(
            workflow,
            arg,
            id=f"{id_prefix}-{uuid.uuid4()}",
            task_queue=settings.task_queue,
            execution_timeout=WAIT_TIMEOUT,
            result_type=result_type,
        )
    except WorkflowFailureError as err:
        raise _failure(err, what) from None
    except RPCError as err:
        raise ApiError(503, "service_unavailable", f"could not run the {what}: {err}") from None


def _failure(err: WorkflowFailureError, what: str) -> ApiError:
    """400 for a request the worker refused (non-retryable: a bad model, filter...); 503 when
    it did not finish (no worker, a provider down)."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.non_retryable:
            return ApiError(400, "invalid_param", f"{what}: {cause.message}")
        cause = cause.__cause__
    root: BaseException = err
    while root.__cause__ is not None:
        root = root.__cause__
    message = root.message if isinstance(root, FailureError) else str(root)
    return ApiError(503, "service_unavailable", f"the {what} did not finish: {message}")
