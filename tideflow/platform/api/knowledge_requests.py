"""Knowledge API request bodies (Dify's fields), and the checks and steps its routes share:
what a document may be, which embedding model a dataset gets, (re)starting ingestion."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError

from tideflow.activities.files import FileFetchError, delete_file
from tideflow.activities.knowledge.chunk import ProcessRuleError, resolve_process_rule
from tideflow.platform.api.errors import ApiError, invalid_param
from tideflow.platform.api.knowledge_schemas import STAGE_STAMPS
from tideflow.platform.db.crud import model_providers
from tideflow.platform.db.crud.dataset_documents import save_documents
from tideflow.platform.db.knowledge_models import Dataset, DatasetDocument
from tideflow.platform.knowledge import start_ingestion
from tideflow.platform.settings import Settings
from tideflow.plugins.parsers import supported_extensions

IndexingTechnique = Literal["high_quality", "economy"]
DocForm = Literal["text_model", "hierarchical_model", "qa_model"]


class RetrievalModelBody(BaseModel):
    """Dify's ``retrieval_model``; unknown keys are kept for the retrieval activity."""

    model_config = ConfigDict(extra="allow")

    search_method: (
        Literal["semantic_search", "full_text_search", "hybrid_search", "keyword_search"] | None
    ) = None
    reranking_enable: bool | None = None
    reranking_mode: Literal["reranking_model", "weighted_score"] | None = None
    reranking_model: dict[str, Any] | None = None
    weights: dict[str, Any] | None = None
    top_k: int | None = Field(default=None, ge=1, le=100)
    score_threshold_enabled: bool | None = None
    score_threshold: float | None = Field(default=None, ge=0, le=1)
    metadata_filtering_conditions: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The settings given (nulls left out: they mean "the default")."""
        return self.model_dump(exclude_none=True)


class DocumentOptions(BaseModel):
    """How documents are indexed (the JSON of create-by-text, the ``data`` of create-by-file)."""

    indexing_technique: IndexingTechnique | None = None
    doc_form: DocForm | None = None
    doc_language: str = Field(default="English", min_length=1, max_length=64)
    # Dify's process_rule ({mode, rules}); checked by the chunker's own rules (checked_rule).
    process_rule: dict[str, Any] | None = None
    retrieval_model: RetrievalModelBody | None = None
    embedding_model: str | None = Field(default=None, max_length=255)
    embedding_model_provider: str | None = Field(default=None, max_length=255)
    original_document_id: str | None = None

    @field_validator("original_document_id")
    @classmethod
    def _no_replacement_by_create(cls, value: str | None) -> str | None:
        # Dify's create-with-original replaces that document; refused rather than adding a
        # second copy of it.
        if value:
            raise ValueError(
                "replacing a document through create is not supported: use "
                "documents/{document_id}/update-by-text or update-by-file"
            )
        return value


class TextDocumentBody(DocumentOptions):
    """``POST .../document/create-by-text``."""

    name: str = Field(min_length=1, max_length=255)
    text: str = Field(min_length=1)


class TextUpdateBody(DocumentOptions):
    """``POST .../documents/{id}/update-by-text``: new content and/or process rule."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    text: str | None = Field(default=None, min_length=1)


def parse_options(raw: str | None) -> DocumentOptions:
    """The multipart ``data`` field (a JSON string); 400 naming what is wrong in it."""
    if raw is None or not raw.strip():
        return DocumentOptions()
    try:
        return DocumentOptions.model_validate(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise invalid_param(f"data: not a JSON object ({exc})") from None
    except ValidationError as exc:
        problems = [
            f"data.{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise invalid_param("; ".join(problems)) from None


def checked_upload(filename: str, size: int, settings: Settings, field: str = "file") -> str:
    """The extension (no dot) of a file a dataset may take; 413 when too large, 400
    ``unsupported_file_type`` for a type no installed parser (built-in or allowed plugin) reads."""
    if size > settings.dataset_file_max_bytes:
        limit_mb = settings.dataset_file_max_bytes / (1024 * 1024)
        raise ApiError(413, "file_too_large", f"{field}: {filename} is larger than {limit_mb:g} MB")
    extension = PurePath(filename).suffix.lower().lstrip(".")
    supported = supported_extensions(tuple(settings.plugins_allow))
    if extension not in supported:
        kind = f".{extension} files" if extension else "files without an extension"
        raise ApiError(
            400,
            "unsupported_file_type",
            f"{field}: {filename}: {kind} cannot be added to a knowledge base "
            f"(supported: {', '.join(sorted(supported))})",
        )
    return extension


def checked_rule(rule: dict[str, Any], doc_form: str) -> dict[str, Any]:
    """``rule`` when the chunker takes it for ``doc_form``; 400 naming the field otherwise
    (the same check the ingestion makes, made before anything is stored)."""
    try:
        resolve_process_rule(rule, doc_form)
    except ProcessRuleError as exc:
        raise invalid_param(str(exc)) from None
    return rule


def resolve_embedding(
    session: Session, settings: Settings, tenant_id: str, model: str | None, provider: str | None
) -> tuple[str, str | None]:
    """The embedding model (and provider) of a high_quality dataset: the one named, else the
    workspace's default text-embedding model; 400 naming ``embedding_model`` when neither."""
    if model:
        if not provider:  # the worker embeds with a dataset's model only with its provider
            raise invalid_param("embedding_model_provider: required with embedding_model")
        return model, provider
    defaults = model_providers.list_defaults(session, tenant_id, "text-embedding")
    if defaults:
        return defaults[0].model, defaults[0].provider
    how = (
        "the model gateway routes by model name, so name one"
        if settings.model_gateway_url
        else "name one and its provider"
    )
    raise invalid_param(
        f"embedding_model: high_quality indexing needs an embedding model: {how}, or set the "
        "workspace's default text-embedding model"
    )


def fix_dataset_settings(
    session: Session, settings: Settings, dataset: Dataset, options: DocumentOptions
) -> None:
    """What the first document fixes (indexing technique, chunk mode, embedding model) and
    what a later one must agree with. Changes ``dataset`` without committing."""
    technique = dataset.indexing_technique or options.indexing_technique
    if technique is None:
        raise invalid_param(
            "indexing_technique is required for the first document of a knowledge base "
            "(high_quality or economy)"
        )
    if dataset.doc_form and options.doc_form and options.doc_form != dataset.doc_form:
        raise invalid_param(
            f"doc_form: this knowledge base's chunk mode is {dataset.doc_form} (fixed by its "
            f"first document), not {options.doc_form}"
        )
    doc_form = dataset.doc_form or options.doc_form or "text_model"
    if doc_form == "hierarchical_model" and technique == "economy":
        raise invalid_param("doc_form: hierarchical_model needs indexing_technique high_quality")
    if technique == "high_quality" and not dataset.embedding_model:
        dataset.embedding_model, dataset.embedding_model_provider = resolve_embedding(
            session,
            settings,
            dataset.tenant_id,
            options.embedding_model,
            options.embedding_model_provider,
        )
    dataset.indexing_technique, dataset.doc_form = technique, doc_form
    if options.retrieval_model is not None and not dataset.retrieval_model:
        dataset.retrieval_model = options.retrieval_model.as_dict()


def new_batch() -> str:
    """A batch id as Dify makes them: the time, then six random digits."""
    return time.strftime("%Y%m%d%H%M%S") + f"{random.randint(0, 999_999):06d}"


def reset_for_reindex(document: DatasetDocument) -> None:
    """A new generation waiting to be ingested: an older run's writes are refused."""
    # In SQL (generation = generation + 1): two requests at once both move it on, so the
    # run each of them replaces sees a generation that is not its own.
    document.generation = DatasetDocument.generation + 1  # pyright: ignore[reportAttributeAccessIssue]
    document.indexing_status = "waiting"
    document.error = None
    for stamp in STAGE_STAMPS:
        setattr(document, stamp, None)


async def begin_ingestion(
    client: Client,
    settings: Settings,
    session: Session,
    documents: Sequence[DatasetDocument],
    *,
    reparse: bool,
    resplit: bool = True,
) -> None:
    """Start the (committed) documents' ingestion; a document whose run could not be started
    is marked ``error`` and the answer is 503."""
    failed: list[str] = []
    for document in documents:
        try:
            await start_ingestion(client, settings, [document], reparse=reparse, resplit=resplit)
        except RPCError as err:
            document.indexing_status = "error"
            document.error = f"could not start the ingestion: {err}"
            failed.append(document.name)
    if failed:
        save_documents(session, documents)
        message = f"could not start the ingestion of {', '.join(failed)}; retry them"
        raise ApiError(503, "service_unavailable", message)


def discard_files(settings: Settings, store_ids: Sequence[str]) -> None:
    """Remove files from the file store (their rows are gone; a missing file is fine)."""
    for store_id in store_ids:
        try:
            delete_file(store_id, settings)
        except (FileFetchError, OSError):
            continue
