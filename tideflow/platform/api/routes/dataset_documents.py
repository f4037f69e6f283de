"""Adding documents to a knowledge base, and replacing their content (Dify's create-by-text,
create-by-file, update-by-text, update-by-file; the console's multi-file upload).

The source goes to the file store (text as ``<name>.txt``), the rows are committed, then each
document's ingestion workflow is started: the worker reads the rows, so they come first.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from sqlmodel import Session
from temporalio.client import Client

from tideflow.activities.files import save_file
from tideflow.platform.api.deps import SessionDep, SettingsDep, TemporalClientDep
from tideflow.platform.api.errors import ApiError, invalid_param
from tideflow.platform.api.knowledge_requests import (
    DocumentOptions,
    TextDocumentBody,
    TextUpdateBody,
    begin_ingestion,
    checked_rule,
    checked_upload,
    discard_files,
    fix_dataset_settings,
    new_batch,
    parse_options,
    reset_for_reindex,
)
from tideflow.platform.api.knowledge_schemas import built_in_values
from tideflow.platform.api.routes.dataset_access import (
    CallerDep,
    KnowledgeCaller,
    TenantDataset,
    TenantDocument,
)
from tideflow.platform.api.routes.dataset_views import dataset_view, documents_view, uploader_name
from tideflow.platform.db.crud import dataset_documents as document_crud
from tideflow.platform.db.knowledge_models import Dataset, DatasetDocument
from tideflow.platform.settings import Settings

router = APIRouter(tags=["knowledge: documents"])
console_router = APIRouter(tags=["knowledge: documents"])

OptionalFile = Annotated[UploadFile | None, File()]
DataField = Annotated[str | None, Form()]


@dataclass(frozen=True)
class Source:
    """A document's content, checked, before it is stored."""

    filename: str
    content: bytes
    mime_type: str | None
    extension: str


async def _read_upload(file: UploadFile, settings: Settings, field: str) -> Source:
    # One byte past the limit is enough to refuse, without reading a huge body whole.
    content = await file.read(settings.dataset_file_max_bytes + 1)
    filename = (file.filename or "").replace("\\", "/").rsplit("/", 1)[-1][:255]
    if not filename:
        raise invalid_param(f"{field}: the file has no name")
    extension = checked_upload(filename, len(content), settings, field)
    return Source(filename, content, file.content_type, extension)


def _text_source(name: str, text: str, settings: Settings) -> Source:
    if not text.strip():
        raise invalid_param("text: cannot be blank")
    filename = name if name.lower().endswith(".txt") else f"{name[:251]}.txt"
    content = text.encode()
    checked_upload(filename, len(content), settings, "text")
    return Source(filename, content, "text/plain", "txt")


async def _store(source: Source, settings: Settings, tenant_id: str) -> dict[str, Any]:
    return await asyncio.to_thread(
        save_file,
        source.content,
        filename=source.filename,
        mime_type=source.mime_type,
        settings=settings,
        tenant_id=tenant_id,
        transfer_method="local_file",
    )


def _set_source(document: DatasetDocument, source: Source, stored: dict[str, Any]) -> None:
    document.source_store_id = str(stored["related_id"])
    document.source_name = source.filename
    document.source_extension = source.extension
    document.source_mime_type = str(stored["mime_type"])
    document.source_size = len(source.content)
    document.parsed_store_id = None


async def _create(
    session: Session,
    settings: Settings,
    client: Client,
    dataset: Dataset,
    caller: KnowledgeCaller,
    options: DocumentOptions,
    sources: list[tuple[Source, str]],
) -> tuple[list[DatasetDocument], str]:
    """One batch of documents, one per (source, document name), each with its ingestion
    started."""
    fix_dataset_settings(session, settings, dataset, options)
    given = options.process_rule
    if given is None:  # as Dify does: the dataset's latest rule
        given = document_crud.latest_process_rule(session, dataset) or {"mode": "automatic"}
    rule = checked_rule(given, dataset.doc_form or "text_model")
    batch, position = new_batch(), document_crud.next_position(session, dataset)
    uploader = uploader_name(session, caller.account_id)
    documents: list[DatasetDocument] = []
    for offset, (source, name) in enumerate(sources):
        document = DatasetDocument(
            tenant_id=dataset.tenant_id,
            dataset_id=dataset.id,
            batch=batch,
            position=position + offset,
            name=name,
            source_store_id="",
            source_name=source.filename,
            process_rule=rule,
            doc_form=dataset.doc_form or "text_model",
            doc_language=options.doc_language,
            created_by=caller.account_id,
        )
        _set_source(document, source, await _store(source, settings, dataset.tenant_id))
        if dataset.built_in_field_enabled:
            document.doc_metadata = built_in_values(document, uploader)
        documents.append(document)
    document_crud.save_documents(session, documents, dataset)
    await begin_ingestion(client, settings, session, documents, reparse=False)
    return documents, batch


@router.post("/datasets/{dataset_id}/document/create-by-text")
@router.post("/datasets/{dataset_id}/document/create_by_text", include_in_schema=False)
async def create_by_text(
    body: TextDocumentBody,
    dataset: TenantDataset,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> dict[str, Any]:
    """A document from text (stored as ``<name>.txt``): ``{document, batch}``."""
    name = body.name.strip()
    if not name:
        raise invalid_param("name: cannot be blank")
    source = _text_source(name, body.text, settings)
    documents, batch = await _create(
        session, settings, client, dataset, caller, body, [(source, name)]
    )
    return {"document": documents_view(session, dataset, documents)[0], "batch": batch}


@router.post("/datasets/{dataset_id}/document/create-by-file")
@router.post("/datasets/{dataset_id}/document/create_by_file", include_in_schema=False)
async def create_by_file(
    dataset: TenantDataset,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    file: OptionalFile = None,
    data: DataField = None,
) -> dict[str, Any]:
    """A document from an uploaded file (multipart ``file`` and ``data``, a JSON string of
    the create-by-text options): ``{document, batch}``."""
    if file is None:
        raise ApiError(400, "no_file_uploaded", "file: upload the document as multipart 'file'")
    options = parse_options(data)
    source = await _read_upload(file, settings, "file")
    documents, batch = await _create(
        session, settings, client, dataset, caller, options, [(source, source.filename)]
    )
    return {"document": documents_view(session, dataset, documents)[0], "batch": batch}


# Files one console upload may carry (Dify's BATCH_UPLOAD_LIMIT); each is read whole.
MAX_BATCH_FILES = 20


@console_router.post("/datasets/{dataset_id}/documents")
async def create_from_files(
    dataset: TenantDataset,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    files: Annotated[list[UploadFile], File()],
    data: DataField = None,
) -> dict[str, Any]:
    """The console's upload: several ``files`` in one batch, a document (and an ingestion
    run) per file: ``{dataset, documents, batch}``."""
    if len(files) > MAX_BATCH_FILES:
        raise invalid_param(
            f"files: at most {MAX_BATCH_FILES} files per upload (Dify's batch limit), "
            f"got {len(files)}"
        )
    options = parse_options(data)
    sources = [await _read_upload(f, settings, f"files[{i}]") for i, f in enumerate(files)]
    documents, batch = await _create(
        session, settings, client, dataset, caller, options, [(s, s.filename) for s in sources]
    )
    return {
        "dataset": dataset_view(session, dataset),
        "documents": documents_view(session, dataset, documents),
        "batch": batch,
    }


async def _update(
    session: Session,
    settings: Settings,
    client: Client,
    dataset: Dataset,
    document: DatasetDocument,
    options: DocumentOptions,
    replacement: tuple[Source, str] | None,
) -> dict[str, Any]:
    """New content and/or process rule: the document is parsed and indexed again."""
    if document.archived:
        raise ApiError(403, "archived_document_immutable", "an archived document cannot change")
    fix_dataset_settings(session, settings, dataset, options)
    discarded: list[str] = []
    reparse = False
    if replacement is not None:
        source, document.name = replacement
        discarded = [s for s in (document.source_store_id, document.parsed_store_id) if s]
        _set_source(document, source, await _store(source, settings, dataset.tenant_id))
        reparse = True
    rule = options.process_rule
    if rule is not None and checked_rule(rule, document.doc_form) != document.process_rule:
        document.process_rule, reparse = rule, True
    if "doc_language" in options.model_fields_set:
        document.doc_language = options.doc_language
    if reparse:
        reset_for_reindex(document)
    document_crud.save_documents(session, [document], dataset)
    if reparse:
        await begin_ingestion(client, settings, session, [document], reparse=True)
    await asyncio.to_thread(discard_files, settings, discarded)
    return {"document": documents_view(session, dataset, [document])[0], "batch": document.batch}


@router.post("/datasets/{dataset_id}/documents/{document_id}/update-by-text")
@router.post(
    "/datasets/{dataset_id}/documents/{document_id}/update_by_text", include_in_schema=False
)
async def update_by_text(
    body: TextUpdateBody,
    dataset: TenantDataset,
    document: TenantDocument,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> dict[str, Any]:
    """Replace a document's text and/or process rule: ``{document, batch}``."""
    name = (body.name or document.name).strip()
    if not name:
        raise invalid_param("name: cannot be blank")
    replacement = None
    if body.text is not None:
        replacement = (_text_source(name, body.text, settings), name)
    elif body.name is not None:
        document.name = name
    return await _update(session, settings, client, dataset, document, body, replacement)


@router.post("/datasets/{dataset_id}/documents/{document_id}/update-by-file")
@router.post(
    "/datasets/{dataset_id}/documents/{document_id}/update_by_file", include_in_schema=False
)
async def update_by_file(
    dataset: TenantDataset,
    document: TenantDocument,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    file: OptionalFile = None,
    data: DataField = None,
) -> dict[str, Any]:
    """Replace a document's file and/or process rule: ``{document, batch}``."""
    options = parse_options(data)
    replacement = None
    if file is not None:
        source = await _read_upload(file, settings, "file")
        replacement = (source, source.filename)
    return await _update(session, settings, client, dataset, document, options, replacement)
