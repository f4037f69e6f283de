"""The stages of a document's ingestion, one activity each (see ``models`` for the flow).

``parse``: the source from the file store through unstructured, the text back into the store.
``split``: clean (Dify's pre-processing rules) and chunk (general or parent-child) into segment
rows, replacing the document's earlier ones and their vectors. ``index``: embed the segments
not yet indexed in batches and upsert them into the vector store; after each batch the
segments are marked completed and the attempt heartbeats its progress, so an attempt that
dies (a killed worker) is followed by one that starts at the first unfinished batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from temporalio import activity

from tideflow.activities.files import FileFetchError, file_path, load_file, save_file
from tideflow.activities.heartbeat import heartbeating
from tideflow.activities.knowledge import records
from tideflow.activities.knowledge.embedder import Embedder, open_embedder
from tideflow.activities.knowledge.models import (
    INDEX_ACTIVITY,
    PARSE_ACTIVITY,
    SPLIT_ACTIVITY,
    STATUS_ACTIVITY,
    StageInput,
    StageResult,
    StatusInput,
)
from tideflow.activities.knowledge.vector_store import (
    IndexPoint,
    UnknownVectorStoreError,
    VectorStoreBackend,
    configured_vector_store,
)
from tideflow.activities.llm.route import bad_request
from tideflow.platform.settings import Settings, get_settings

STALE = StageResult(stale=True)


def vector_store(settings: Settings) -> VectorStoreBackend:
    """The worker's vector store, as setting ``vector_store`` names it (built in: Qdrant local
    in the data dir, or the server). Opening local storage loads it from disk: call this in a
    thread, not on the event loop. An unknown name fails the activity without retries."""
    try:
        return configured_vector_store(settings)
    except UnknownVectorStoreError as exc:
        raise bad_request(str(exc), "UnknownVectorStore") from None


@activity.defn(name=STATUS_ACTIVITY)
async def set_dataset_document_status(request: StatusInput) -> bool:
    """Set the document's status and stamp; False when the document moved on or is gone."""
    settings = get_settings()
    return await asyncio.to_thread(
        records.set_status,
        settings.db_url,
        request.document_id,
        request.generation,
        request.status,
        request.error,
    )


@activity.defn(name=PARSE_ACTIVITY)
async def parse_dataset_document(request: StageInput) -> StageResult:
    """Partition the source into text and store it (kept across retries and resumes)."""
    settings = get_settings()
    document = await asyncio.to_thread(records.load_document, settings.db_url, request.document_id)
    if document is None or document.generation != request.generation:
        return STALE
    if document.parsed_store_id and not request.reparse:
        return StageResult(count=0)
    async with heartbeating():
        text = await asyncio.to_thread(_parse, document, settings)
    stored = await asyncio.to_thread(
        save_file,
        text.encode(),
        filename=f"{document.id}.parsed.txt",
        mime_type="text/plain",
        settings=settings,
        tenant_id=document.tenant_id,
    )
    saved = await asyncio.to_thread(
        records.save_parsed,
        settings.db_url,
        document.id,
        request.generation,
        str(stored["related_id"]),
        len(text),
    )
    return StageResult(count=len(text)) if saved else STALE


def _parse(document: records.DocumentSnapshot, settings: Settings) -> str:
    from tideflow.activities.knowledge.parse import ParseError, parse_file

    try:
        path = file_path(document.source_store_id, settings)
        if not path.exists():
            raise FileFetchError(f"{document.source_name}: the stored file is missing")
        text = parse_file(path, document.source_name, settings.data_dir)
    except (ParseError, FileFetchError) as exc:
        raise bad_request(str(exc), "DocumentParseError") from None
    if not text.strip():
        raise bad_request(
            f"{document.source_name}: no text found in the document", "DocumentParseError"
        )
    return text


@activity.defn(name=SPLIT_ACTIVITY)
async def split_dataset_document(request: StageInput) -> StageResult:
    """Clean and chunk the parsed text into the document's segments (replacing old ones)."""
    settings = get_settings()
    document = await asyncio.to_thread(records.load_document, settings.db_url, request.document_id)
    if document is None or document.generation != request.generation:
        return STALE
    if document.parsed_store_id is None:
        raise bad_request(f"{document.source_name}: not parsed yet", "DocumentSplitError")
    if not request.resplit and document.total_segments:
        # A retry: the segments stand, and the index stage skips those already embedded.
        moved = await asyncio.to_thread(
            records.set_status, settings.db_url, document.id, request.generation, "splitting", None
        )
        return StageResult(count=document.total_segments) if moved else STALE
    async with heartbeating():
        chunks = await asyncio.to_thread(_split, document, request.generation, settings)
        if chunks is None:
            return STALE
        replaced = await asyncio.to_thread(
            records.replace_segments, settings.db_url, document.id, request.generation, chunks
        )
        if replaced is None:
            return STALE
        # Every point of the document is of the replaced segments now: remove them all (also
        # when an earlier attempt replaced the rows and died before getting here).
        store = await asyncio.to_thread(vector_store, settings)
        await asyncio.to_thread(store.delete_documents, document.dataset_id, [document.id])
    return StageResult(count=len(chunks), tokens=sum(chunk.tokens for chunk in chunks))


def _split(
    document: records.DocumentSnapshot, generation: int, settings: Settings
) -> list[records.NewSegment] | None:
    from tideflow.activities.knowledge.chunk import (
        ProcessRuleError,
        resolve_process_rule,
        split_text,
    )
    from tideflow.activities.knowledge.clean import clean_text

    try:
        rule = resolve_process_rule(document.process_rule, document.doc_form)
    except ProcessRuleError as exc:
        raise bad_request(f"{document.source_name}: {exc}", "ProcessRuleError") from None
    assert document.parsed_store_id is not None
    text = load_file(document.parsed_store_id, settings, tenant_id=document.tenant_id).decode()
    cleaned = clean_text(text, rule.pre_processing_rules)
    if not records.set_status(settings.db_url, document.id, generation, "splitting", None):
        return None
    return [
        records.NewSegment(chunk.content, chunk.tokens, [child.content for child in chunk.children])
        for chunk in split_text(cleaned, rule, document.doc_form)
    ]


@activity.defn(name=INDEX_ACTIVITY)
async def index_dataset_document(request: StageInput) -> StageResult:
    """Embed and upsert the segments not indexed yet, batch by batch."""
    settings = get_settings()
    document = await asyncio.to_thread(records.load_document, settings.db_url, request.document_id)
    if document is None or document.generation != request.generation:
        return STALE
    pending, done = await asyncio.to_thread(records.pending_segments, settings.db_url, document.id)
    size = settings.embedding_batch_size
    result = StageResult(batches_skipped=-(-done // size))
    if not pending:
        return result
    embedder = await _embedder(settings, document)
    store = await asyncio.to_thread(vector_store, settings)
    total = result.batches_skipped + -(-len(pending) // size)

    def progress() -> dict[str, int]:
        return {"batches_done": result.batches_skipped + result.batches_sent, "batches": total}

    async with heartbeating(details=progress):
        for start in range(0, len(pending), size):
            batch = pending[start : start + size]
            # A re-index replaced this run: stop before spending an embedding call on it.
            current = await asyncio.to_thread(
                records.is_current, settings.db_url, document.id, request.generation
            )
            if not current:
                return STALE
            points, tokens = await index_points(embedder, document.dataset_id, document.id, batch)
            await upsert_points(store, document.dataset_id, points)
            ids = [segment.id for segment in batch]
            status = await asyncio.to_thread(
                records.mark_indexed, settings.db_url, document.id, request.generation, ids
            )
            if status is None:  # re-indexed or deleted while this batch was written
                stale_ids = [point.id for point in points]
                await asyncio.to_thread(store.delete_points, document.dataset_id, stale_ids)
                return STALE
            result.count += len(batch)
            result.batches_sent += 1
            result.tokens += tokens
            activity.heartbeat(progress())
            if status == "paused":  # the workflow paused the document: stop between batches
                result.paused = True
                return result
    return result


async def upsert_points(
    store: VectorStoreBackend, dataset_id: str, points: list[IndexPoint]
) -> None:
    """Write points; the store's refusals (vectors of another size than the collection's: the
    embedding model changed without a re-index) fail the stage without retries."""
    try:
        await asyncio.to_thread(store.upsert, dataset_id, points)
    except ValueError as exc:
        raise bad_request(f"vector store: {exc}", "VectorStoreError") from None


async def _embedder(settings: Settings, document: records.DocumentSnapshot) -> Embedder | None:
    if document.indexing_technique == "economy":
        return None
    if document.embedding is None:
        raise bad_request(
            "the dataset is high_quality but has no embedding model: set embedding_model and "
            "embedding_model_provider, or a default text-embedding model for the workspace",
            "EmbeddingModelMissing",
        )
    provider, model = document.embedding
    return await open_embedder(settings, document.tenant_id, provider, model)


async def index_points(
    embedder: Embedder | None,
    dataset_id: str,
    document_id: str,
    segments: Sequence[records.PendingSegment],
) -> tuple[list[IndexPoint], int]:
    """Points for segments (or their child chunks, in parent-child mode), embedded when the
    dataset has an embedding model; and the tokens the embedding used."""
    items: list[tuple[str, str, dict[str, str]]] = []
    for segment in segments:
        base = {"document_id": document_id, "segment_id": segment.id}
        if segment.children:
            for child_id, point_id, text in segment.children:
                items.append((point_id, text, {**base, "child_id": child_id}))
        else:
            items.append((segment.index_node_id, segment.content, base))
    vectors: list[list[float]] | list[None] = [None] * len(items)
    tokens = 0
    if embedder is not None and items:
        vectors, tokens = await embedder.embed([text for _, text, _ in items])
    points = [
        IndexPoint(
            id=point_id,
            text=text,
            vector=vector,
            payload={"dataset_id": dataset_id, **payload},
        )
        for (point_id, text, payload), vector in zip(items, vectors, strict=True)
    ]
    return points, tokens
