"""Knowledge workflows the API awaits: a search, and a change to indexed data.

Both are one activity on the worker, which alone opens the vector store (Qdrant local mode is
single-process). They run in seconds while the caller waits, so their retries are few.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from tideflow.activities.knowledge.models import (
        RETRIEVE_ACTIVITY,
        RETRIEVE_WORKFLOW,
        VECTOR_OP_ACTIVITY,
        VECTOR_OP_WORKFLOW,
        RetrieveInput,
        RetrieveResult,
        VectorOpInput,
        VectorOpResult,
    )

_TIMEOUT = timedelta(seconds=60)
_RETRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=5))


@workflow.defn(name=RETRIEVE_WORKFLOW)
class KnowledgeRetrieveWorkflow:
    """Runs ``knowledge_retrieve`` for the API's hit testing."""

    @workflow.run
    async def run(self, request: RetrieveInput) -> RetrieveResult:
        """The hits, best first."""
        return await workflow.execute_activity(
            RETRIEVE_ACTIVITY,
            request,
            result_type=RetrieveResult,
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
            summary=f"search {len(request.dataset_ids)} dataset(s)",
        )


@workflow.defn(name=VECTOR_OP_WORKFLOW)
class KnowledgeVectorOpWorkflow:
    """Runs ``knowledge_vector_op`` for the API."""

    @workflow.run
    async def run(self, op: VectorOpInput) -> VectorOpResult:
        """What was written or removed."""
        return await workflow.execute_activity(
            VECTOR_OP_ACTIVITY,
            op,
            result_type=VectorOpResult,
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
            summary=f"{op.op} in dataset {op.dataset_id}",
        )
