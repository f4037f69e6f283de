"""Knowledge bases (Dify's ``/datasets``): create, list, read, change, delete, search.

Mounted under ``/v1`` (dataset keys) and ``/console/api`` (console) with the document,
segment and metadata routers: ``include_knowledge_routes``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from tideflow.activities.knowledge.models import RetrieveInput, RetrieveResult, VectorOpInput
from tideflow.platform.api.deps import SessionDep, SettingsDep, TemporalClientDep
from tideflow.platform.api.errors import ApiError, invalid_param
from tideflow.platform.api.knowledge_requests import (
    IndexingTechnique,
    RetrievalModelBody,
    begin_ingestion,
    discard_files,
    reset_for_reindex,
    resolve_embedding,
)
from tideflow.platform.api.knowledge_schemas import retrieval_model_dict, retrieve_json
from tideflow.platform.api.routes import (
    dataset_child_chunks,
    dataset_document_ops,
    dataset_documents,
    dataset_metadata,
    dataset_segments,
)
from tideflow.platform.api.routes.dataset_access import (
    CallerDep,
    TenantDataset,
    mount_knowledge_routers,
)
from tideflow.platform.api.routes.dataset_views import dataset_view, datasets_view
from tideflow.platform.api.schemas import MAX_PAGE, page_of
from tideflow.platform.db.crud import dataset_documents as document_crud
from tideflow.platform.db.crud import datasets as dataset_crud
from tideflow.platform.db.crud import segments as segment_crud
from tideflow.platform.db.knowledge_models import Dataset
from tideflow.platform.knowledge import retrieve, run_vector_op, stop_ingestion
from tideflow.platform.settings import Settings

router = APIRouter(tags=["knowledge: datasets"])
console_router = APIRouter(tags=["knowledge: datasets"])

Permission = Literal["only_me", "all_team_members", "partial_members"]
MAX_QUERY_CHARS = 250  # Dify's limit on a retrieval query


class DatasetCreate(BaseModel):
    """``POST /datasets`` (Dify's fields; external knowledge bases are not supported)."""

    name: str = Field(min_length=1, max_length=40)
    description: str = Field(default="", max_length=400)
    indexing_technique: IndexingTechnique | None = None
    permission: Permission = "only_me"
    provider: Literal["vendor", "external"] = "vendor"
    embedding_model: str | None = Field(default=None, max_length=255)
    embedding_model_provider: str | None = Field(default=None, max_length=255)
    retrieval_model: RetrievalModelBody | None = None
    external_knowledge_api_id: str | None = None
    external_knowledge_id: str | None = None
    summary_index_setting: dict[str, Any] | None = None


class DatasetUpdate(BaseModel):
    """``PATCH /datasets/{id}``: only the fields given change."""

    name: str | None = Field(default=None, min_length=1, max_length=40)
    description: str | None = Field(default=None, max_length=400)
    indexing_technique: IndexingTechnique | None = None
    permission: Permission | None = None
    embedding_model: str | None = Field(default=None, max_length=255)
    embedding_model_provider: str | None = Field(default=None, max_length=255)
    retrieval_model: RetrievalModelBody | None = None
    partial_member_list: list[dict[str, Any]] | None = None


class RetrieveBody(BaseModel):
    """``POST /datasets/{id}/retrieve`` (and ``/hit-testing``)."""

    # Checked by the route: the error handler drops a field named like the "query" location.
    query: str | None = None
    retrieval_model: RetrievalModelBody | None = None
    external_retrieval_model: dict[str, Any] | None = None
    attachment_ids: list[str] | None = None


def _duplicate(name: str) -> ApiError:
    message = f"name: a knowledge base named {name!r} already exists in this workspace"
    return ApiError(409, "dataset_name_duplicate", message)


@router.post("/datasets")
def create_dataset(
    body: DatasetCreate, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """An empty knowledge base; 409 ``dataset_name_duplicate`` when the name is taken."""
    name = body.name.strip()
    if not name:
        raise invalid_param("name: cannot be blank")
    if body.provider == "external":
        raise invalid_param("provider: external knowledge bases are not supported")
    if dataset_crud.name_taken(session, caller.tenant_id, name):
        raise _duplicate(name)
    dataset = Dataset(
        tenant_id=caller.tenant_id,
        name=name,
        description=body.description,
        permission=body.permission,
        indexing_technique=body.indexing_technique,
        embedding_model=body.embedding_model or None,
        embedding_model_provider=body.embedding_model_provider or None,
        retrieval_model=body.retrieval_model.as_dict() if body.retrieval_model else {},
        created_by=caller.account_id,
    )
    if body.indexing_technique == "high_quality":
        dataset.embedding_model, dataset.embedding_model_provider = resolve_embedding(
            session, settings, caller.tenant_id, body.embedding_model, body.embedding_model_provider
        )
    if not dataset_crud.save_dataset(session, dataset):
        raise _duplicate(name)
    return dataset_view(session, dataset)


@router.get("/datasets")
def list_datasets(
    caller: CallerDep,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1)] = 20,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
    tag_ids: Annotated[list[str] | None, Query()] = None,
    include_all: bool = False,
) -> dict[str, Any]:
    """The workspace's knowledge bases, newest first (``limit`` is capped at 100, as Dify
    does). Tags are not kept here, so a ``tag_ids`` filter matches none."""
    del include_all  # every dataset of the workspace is visible to its keys and members
    limit = min(limit, 100)
    if tag_ids:
        return page_of([], page, limit, 0)
    rows, total = dataset_crud.list_datasets(session, caller.tenant_id, page, limit, keyword)
    data = datasets_view(session, rows)
    return page_of(data, page, limit, total)


@router.get("/datasets/{dataset_id}")
def get_dataset(dataset: TenantDataset, session: SessionDep) -> dict[str, Any]:
    """One knowledge base."""
    return dataset_view(session, dataset)


@router.patch("/datasets/{dataset_id}")
async def update_dataset(
    body: DatasetUpdate,
    dataset: TenantDataset,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> dict[str, Any]:
    """Change a knowledge base. A new embedding model, or economy -> high_quality, re-indexes
    every document; high_quality -> economy is refused (as in Dify)."""
    given = body.model_fields_set
    if body.name is not None and body.name.strip() != dataset.name:
        name = body.name.strip()
        if not name:
            raise invalid_param("name: cannot be blank")
        if dataset_crud.name_taken(session, dataset.tenant_id, name, except_id=dataset.id):
            raise _duplicate(name)
        dataset.name = name
    if body.description is not None:
        dataset.description = body.description
    if body.permission is not None:
        dataset.permission = body.permission
    if body.retrieval_model is not None:
        dataset.retrieval_model = body.retrieval_model.as_dict()
    reindex = _apply_indexing(session, settings, dataset, body, given)
    if not dataset_crud.save_dataset(session, dataset):
        raise _duplicate(dataset.name)
    if reindex:
        documents = document_crud.all_documents(session, dataset)
        for document in documents:
            reset_for_reindex(document)
        segment_crud.mark_dataset_unindexed(session, dataset.id)
        document_crud.save_documents(session, documents)
        # The old vectors (maybe of another size) go with the old model: every document's
        # runs of the old generation stop first, then the collection is dropped.
        for document in documents:
            await stop_ingestion(client, document.id)
        await run_vector_op(
            client,
            settings,
            VectorOpInput(op="delete_dataset", tenant_id=dataset.tenant_id, dataset_id=dataset.id),
        )
        await begin_ingestion(client, settings, session, documents, reparse=False)
    return {**dataset_view(session, dataset), "partial_member_list": []}


def _apply_indexing(
    session: Session,
    settings: Settings,
    dataset: Dataset,
    body: DatasetUpdate,
    given: set[str],
) -> bool:
    """Apply the indexing technique and embedding model of a PATCH; True when the dataset's
    documents must be indexed again."""
    old_technique = dataset.indexing_technique
    technique = body.indexing_technique or old_technique
    if old_technique == "high_quality" and technique == "economy":
        raise invalid_param(
            "indexing_technique: a high_quality knowledge base cannot go back to economy"
        )
    old_model = (dataset.embedding_model, dataset.embedding_model_provider)
    model = body.embedding_model if "embedding_model" in given else dataset.embedding_model
    provider = (
        body.embedding_model_provider
        if "embedding_model_provider" in given
        else dataset.embedding_model_provider
    )
    if technique == "high_quality":
        model, provider = resolve_embedding(session, settings, dataset.tenant_id, model, provider)
    dataset.indexing_technique = technique
    dataset.embedding_model, dataset.embedding_model_provider = model or None, provider or None
    if old_technique is None:  # no document yet: nothing indexed to redo
        return False
    new_model = (dataset.embedding_model, dataset.embedding_model_provider)
    return technique != old_technique or (technique == "high_quality" and new_model != old_model)


@router.delete("/datasets/{dataset_id}", status_code=204)
async def delete_dataset(
    dataset: TenantDataset, session: SessionDep, settings: SettingsDep, client: TemporalClientDep
) -> Response:
    """Delete a knowledge base: its ingestion runs, its vectors, its rows and its files."""
    documents = document_crud.all_documents(session, dataset)
    await asyncio.gather(*(stop_ingestion(client, d.id) for d in documents))
    # Without segment rows nothing was written to the vector store: no worker round trip.
    if document_crud.has_segments(session, dataset):
        op = VectorOpInput(op="delete_dataset", tenant_id=dataset.tenant_id, dataset_id=dataset.id)
        await run_vector_op(client, settings, op)
    stored = dataset_crud.delete_dataset(session, dataset)
    await asyncio.to_thread(discard_files, settings, stored)
    return Response(status_code=204)


@router.post("/datasets/{dataset_id}/retrieve")
@router.post("/datasets/{dataset_id}/hit-testing")
async def retrieve_segments(
    body: RetrieveBody,
    dataset: TenantDataset,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> dict[str, Any]:
    """Search the knowledge base (Dify's ``{query, records}``, plus ``search_method`` and
    ``notes`` saying what the search could not do as asked)."""
    query = (body.query or "").strip()
    if not query:
        raise invalid_param("query: is required and cannot be blank")
    if len(query) > MAX_QUERY_CHARS:
        raise invalid_param(f"query: at most {MAX_QUERY_CHARS} characters")
    asked = body.retrieval_model.as_dict() if body.retrieval_model else {}
    if not document_crud.has_segments(session, dataset):  # nothing indexed (as Dify answers)
        method = {**retrieval_model_dict(dataset), **asked}["search_method"]
        return retrieve_json(query, RetrieveResult(search_method=method), {})
    request = RetrieveInput(
        tenant_id=dataset.tenant_id,
        dataset_ids=[dataset.id],
        query=query,
        retrieval_model=asked,
        caller="retrieve",
    )
    result = await retrieve(client, settings, request)
    hits = [r.segment_id for r in result.records]
    return retrieve_json(
        query, result, segment_crud.segments_by_ids(session, dataset.tenant_id, hits)
    )


@console_router.post("/datasets/{dataset_id}/api-keys/{status}")
def set_api_access(
    status: Literal["enable", "disable"], dataset: TenantDataset, session: SessionDep
) -> dict[str, Any]:
    """Turn the knowledge base's access through dataset keys (/v1) on or off."""
    dataset.enable_api = status == "enable"
    dataset_crud.save_dataset(session, dataset)
    return {"result": "success"}


def include_knowledge_routes(app: FastAPI) -> None:
    """Mount the knowledge API under /v1 (dataset keys) and /console/api (console)."""
    mount_knowledge_routers(
        app,
        both=[
            router,
            dataset_documents.router,
            dataset_document_ops.router,
            dataset_segments.router,
            dataset_child_chunks.router,
            dataset_metadata.router,
        ],
        console_only=[console_router, dataset_documents.console_router],
    )
