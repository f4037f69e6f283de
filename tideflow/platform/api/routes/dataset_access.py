"""Who calls the knowledge API, and the rows a path names, scoped to the caller's workspace.

Each knowledge router is written once and mounted twice (``mount_knowledge_routers``): under
``/v1`` for a workspace's ``dataset-`` keys and under ``/console/api`` for a console session.
The mount's own dependency records the caller on the request; routes read it through
``CallerDep``. Another workspace's ids are 404; on ``/v1`` a dataset with API access turned
off is 403.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request

from tideflow.platform.api.deps import CurrentAccount, CurrentTenant, DatasetTenant, SessionDep
from tideflow.platform.api.errors import ApiError, not_found
from tideflow.platform.db.crud import dataset_documents as document_crud
from tideflow.platform.db.crud import datasets as dataset_crud
from tideflow.platform.db.crud import segments as segment_crud
from tideflow.platform.db.knowledge_models import Dataset, DatasetDocument, DocumentSegment


@dataclass(frozen=True)
class KnowledgeCaller:
    """The workspace a knowledge call acts in, and how it came."""

    tenant_id: str
    # The console account; None for a dataset key.
    account_id: str | None
    # True on /v1 (dataset key): datasets with enable_api off are refused.
    service_api: bool


def _service_caller(request: Request, tenant: DatasetTenant) -> None:
    request.state.knowledge_caller = KnowledgeCaller(tenant.id, None, service_api=True)


def _console_caller(request: Request, tenant: CurrentTenant, account: CurrentAccount) -> None:
    request.state.knowledge_caller = KnowledgeCaller(tenant.id, account.id, service_api=False)


def _caller(request: Request) -> KnowledgeCaller:
    caller = getattr(request.state, "knowledge_caller", None)
    if not isinstance(caller, KnowledgeCaller):  # a router mounted without its caller
        raise ApiError(401, "unauthorized", "this knowledge route is not mounted for a caller")
    return caller


CallerDep = Annotated[KnowledgeCaller, Depends(_caller)]


def mount_knowledge_routers(
    app: FastAPI, both: Sequence[APIRouter], console_only: Sequence[APIRouter]
) -> None:
    """Mount ``both`` under /v1 (dataset keys) and /console/api (console session), and
    ``console_only`` under /console/api."""
    for router in both:
        app.include_router(router, prefix="/v1", dependencies=[Depends(_service_caller)])
    for router in (*both, *console_only):
        app.include_router(router, prefix="/console/api", dependencies=[Depends(_console_caller)])


def _dataset(dataset_id: str, caller: CallerDep, session: SessionDep) -> Dataset:
    dataset = dataset_crud.get_dataset(session, caller.tenant_id, dataset_id)
    if dataset is None:
        raise not_found("dataset")
    if caller.service_api and not dataset.enable_api:
        raise ApiError(
            403, "forbidden", "API access to this knowledge base is turned off in the console"
        )
    return dataset


TenantDataset = Annotated[Dataset, Depends(_dataset)]
"""The ``{dataset_id}`` of a path, when the caller may use it."""


def _document(document_id: str, dataset: TenantDataset, session: SessionDep) -> DatasetDocument:
    document = document_crud.get_document(session, dataset, document_id)
    if document is None:
        raise not_found("document")
    return document


TenantDocument = Annotated[DatasetDocument, Depends(_document)]
"""The ``{document_id}`` of a path, a document of its dataset."""


def _segment(segment_id: str, document: TenantDocument, session: SessionDep) -> DocumentSegment:
    segment = segment_crud.get_segment(session, document, segment_id)
    if segment is None:
        raise not_found("segment")
    return segment


TenantSegment = Annotated[DocumentSegment, Depends(_segment)]
"""The ``{segment_id}`` of a path, a segment of its document."""
