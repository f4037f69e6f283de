"""Datasets and documents as the knowledge API shows them, with what they need from the
database (counts, metadata fields, authors)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from tideflow.platform.api.knowledge_schemas import dataset_json, document_json
from tideflow.platform.db.crud import dataset_documents as document_crud
from tideflow.platform.db.crud import datasets as dataset_crud
from tideflow.platform.db.crud.datasets import DatasetStats
from tideflow.platform.db.knowledge_models import Dataset, DatasetDocument


def dataset_view(session: Session, dataset: Dataset) -> dict[str, Any]:
    """The dataset as Dify shows it, with its counts and metadata fields."""
    stats = dataset_crud.dataset_stats(session, [dataset.id]).get(dataset.id, DatasetStats())
    fields = dataset_crud.metadata_fields(session, [dataset.id])[dataset.id]
    names = dataset_crud.account_names(session, [dataset.created_by])
    return dataset_json(dataset, stats, fields, names.get(dataset.created_by or ""))


def datasets_view(session: Session, datasets: Sequence[Dataset]) -> list[dict[str, Any]]:
    """Several datasets (a page), with three queries in all."""
    ids = [d.id for d in datasets]
    stats = dataset_crud.dataset_stats(session, ids)
    fields = dataset_crud.metadata_fields(session, ids)
    names = dataset_crud.account_names(session, [d.created_by for d in datasets])
    return [
        dataset_json(
            d, stats.get(d.id, DatasetStats()), fields[d.id], names.get(d.created_by or "")
        )
        for d in datasets
    ]


def documents_view(
    session: Session, dataset: Dataset, documents: Sequence[DatasetDocument]
) -> list[dict[str, Any]]:
    """Documents as Dify shows them, with their metadata values and hit counts."""
    fields = dataset_crud.metadata_fields(session, [dataset.id])[dataset.id]
    hits = document_crud.hit_counts(session, [d.id for d in documents])
    return [
        document_json(d, fields, dataset.built_in_field_enabled, hits.get(d.id, 0))
        for d in documents
    ]


def uploader_name(session: Session, account_id: str | None) -> str:
    """The built-in ``uploader`` value: the console account's name ("" for a dataset key)."""
    return dataset_crud.account_names(session, [account_id]).get(account_id or "", "")
