"""Knowledge bases of one workspace: datasets, their metadata fields, and their deletion."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from tideflow.platform.db.access_models import Account
from tideflow.platform.db.ids import utcnow
from tideflow.platform.db.knowledge_models import (
    ChildChunk,
    Dataset,
    DatasetDocument,
    DatasetMetadataField,
    DocumentSegment,
)


@dataclass(frozen=True)
class DatasetStats:
    """Counts shown with a dataset."""

    document_count: int = 0
    available_count: int = 0
    word_count: int = 0


def get_dataset(session: Session, tenant_id: str, dataset_id: str) -> Dataset | None:
    """The tenant's dataset, or None (another tenant's id is None too)."""
    dataset = session.get(Dataset, dataset_id)
    return dataset if dataset is not None and dataset.tenant_id == tenant_id else None


def name_taken(session: Session, tenant_id: str, name: str, except_id: str | None = None) -> bool:
    """Whether another dataset of the tenant already has this name."""
    query = select(Dataset.id).where(Dataset.tenant_id == tenant_id, Dataset.name == name)
    if except_id is not None:
        query = query.where(Dataset.id != except_id)
    return session.exec(query).first() is not None


def save_dataset(session: Session, dataset: Dataset) -> bool:
    """Insert or update a dataset; False when its name is taken (a concurrent create)."""
    dataset.updated_at = utcnow()
    session.add(dataset)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    session.refresh(dataset)
    return True


def list_datasets(
    session: Session, tenant_id: str, page: int, limit: int, keyword: str | None
) -> tuple[list[Dataset], int]:
    """One page of the tenant's datasets, newest first, and the total."""
    where = [col(Dataset.tenant_id) == tenant_id]
    if keyword:
        where.append(col(Dataset.name).ilike(f"%{keyword}%"))
    total = session.exec(select(func.count()).select_from(Dataset).where(*where)).one()
    query = (
        select(Dataset)
        .where(*where)
        .order_by(col(Dataset.created_at).desc(), col(Dataset.id))
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return list(session.exec(query)), int(total)


def dataset_stats(session: Session, dataset_ids: Sequence[str]) -> dict[str, DatasetStats]:
    """Document and word counts of each dataset (one query for a page)."""
    if not dataset_ids:
        return {}
    available = (
        (col(DatasetDocument.indexing_status) == "completed")
        & col(DatasetDocument.enabled)
        & ~col(DatasetDocument.archived)
    )
    rows = session.exec(
        select(
            DatasetDocument.dataset_id,
            func.count(),
            func.sum(case((available, 1), else_=0)),
            func.coalesce(func.sum(DatasetDocument.word_count), 0),
        )
        .where(col(DatasetDocument.dataset_id).in_(dataset_ids))
        .group_by(col(DatasetDocument.dataset_id))
    )
    return {
        dataset_id: DatasetStats(int(count), int(ready or 0), int(words or 0))
        for dataset_id, count, ready, words in rows
    }


def account_names(session: Session, account_ids: Sequence[str | None]) -> dict[str, str]:
    """Display names of the accounts that created rows."""
    wanted = sorted({a for a in account_ids if a})
    if not wanted:
        return {}
    rows = session.exec(select(Account.id, Account.name).where(col(Account.id).in_(wanted)))
    return dict(rows.all())


def delete_dataset(session: Session, dataset: Dataset) -> list[str]:
    """Delete the dataset and every row under it; the file-store ids its documents held."""
    documents = session.exec(
        select(DatasetDocument.source_store_id, DatasetDocument.parsed_store_id).where(
            DatasetDocument.dataset_id == dataset.id
        )
    ).all()
    for table in (ChildChunk, DocumentSegment, DatasetMetadataField, DatasetDocument):
        session.exec(delete(table).where(col(table.dataset_id) == dataset.id))
    session.delete(dataset)
    session.commit()
    return [store_id for pair in documents for store_id in pair if store_id]


# ---- metadata fields ----------------------------------------------------------------------


def metadata_fields(
    session: Session, dataset_ids: Sequence[str]
) -> dict[str, list[DatasetMetadataField]]:
    """Each dataset's metadata fields, oldest first."""
    found: dict[str, list[DatasetMetadataField]] = {d: [] for d in dataset_ids}
    if not dataset_ids:
        return found
    query = (
        select(DatasetMetadataField)
        .where(col(DatasetMetadataField.dataset_id).in_(dataset_ids))
        .order_by(col(DatasetMetadataField.created_at), col(DatasetMetadataField.name))
    )
    for field in session.exec(query):
        found[field.dataset_id].append(field)
    return found


def get_metadata_field(
    session: Session, dataset: Dataset, field_id: str
) -> DatasetMetadataField | None:
    """One of the dataset's metadata fields."""
    field = session.get(DatasetMetadataField, field_id)
    return field if field is not None and field.dataset_id == dataset.id else None


def add_metadata_field(
    session: Session, dataset: Dataset, name: str, type_: str
) -> DatasetMetadataField | None:
    """A new field; None when the dataset already has one of that name."""
    field = DatasetMetadataField(
        tenant_id=dataset.tenant_id, dataset_id=dataset.id, name=name, type=type_
    )
    session.add(field)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    session.refresh(field)
    return field


def rename_metadata_field(
    session: Session, dataset: Dataset, field: DatasetMetadataField, name: str
) -> bool:
    """Rename a field and its key in every document's values; False when the name is taken."""
    taken = select(DatasetMetadataField.id).where(
        DatasetMetadataField.dataset_id == dataset.id,
        DatasetMetadataField.name == name,
        DatasetMetadataField.id != field.id,
    )
    if session.exec(taken).first() is not None:
        return False
    old = field.name
    with session.no_autoflush:  # the new name is written once, with the documents
        field.name = name
        session.add(field)
        _rewrite_values(session, dataset, lambda values: _renamed(values, old, name))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    session.refresh(field)
    return True


def delete_metadata_field(session: Session, dataset: Dataset, field: DatasetMetadataField) -> None:
    """Delete a field and its value in every document."""
    name = field.name
    _rewrite_values(session, dataset, lambda values: _without(values, [name]))
    session.delete(field)
    session.commit()


def field_use_counts(session: Session, dataset: Dataset) -> dict[str, int]:
    """How many documents have a value for each metadata key."""
    counts: dict[str, int] = {}
    for document in _documents(session, dataset):
        for key in document.doc_metadata or {}:
            counts[key] = counts.get(key, 0) + 1
    return counts


def set_built_in_fields(
    session: Session,
    dataset: Dataset,
    enabled: bool,
    values_of: Callable[[DatasetDocument], dict[str, Any]],
) -> None:
    """Turn built-in fields on (write ``values_of(document)`` into every document) or off
    (remove those keys), as Dify keeps them with the custom values for filtering."""
    dataset.built_in_field_enabled = enabled
    dataset.updated_at = utcnow()
    session.add(dataset)
    for document in _documents(session, dataset):
        built_in = values_of(document)
        values = dict(document.doc_metadata or {})
        if enabled:
            values.update(built_in)
        else:
            values = _without(values, list(built_in))
        document.doc_metadata = values  # a new dict: JSON columns do not track in-place edits
        session.add(document)
    session.commit()


def _documents(session: Session, dataset: Dataset) -> list[DatasetDocument]:
    return list(
        session.exec(select(DatasetDocument).where(DatasetDocument.dataset_id == dataset.id))
    )


def _rewrite_values(
    session: Session, dataset: Dataset, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    for document in _documents(session, dataset):
        current = dict(document.doc_metadata or {})
        changed = change(current)
        if changed != current:
            document.doc_metadata = changed
            session.add(document)


def _renamed(values: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    if old not in values:
        return values
    return {(new if key == old else key): value for key, value in values.items()}


def _without(values: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if key not in keys}
