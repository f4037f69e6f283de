"""Metadata of a knowledge base: its custom fields (string, number, time), Dify's built-in
fields, and the values documents have (kept in each document by field name)."""

from __future__ import annotations

import math
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from tideflow.platform.api.deps import SessionDep
from tideflow.platform.api.errors import invalid_param, not_found
from tideflow.platform.api.knowledge_schemas import (
    BUILT_IN_FIELDS,
    built_in_values,
    metadata_field_json,
)
from tideflow.platform.api.routes.dataset_access import TenantDataset
from tideflow.platform.db.crud import dataset_documents as document_crud
from tideflow.platform.db.crud import datasets as dataset_crud
from tideflow.platform.db.knowledge_models import Dataset, DatasetDocument, DatasetMetadataField

router = APIRouter(tags=["knowledge: metadata"])
METADATA = "/datasets/{dataset_id}/metadata"
BUILT_IN_NAMES = frozenset(name for name, _ in BUILT_IN_FIELDS)


class MetadataFieldBody(BaseModel):
    """A new metadata field."""

    type: Literal["string", "number", "time"]
    name: str = Field(min_length=1, max_length=255)


class MetadataRenameBody(BaseModel):
    """A field's new name."""

    name: str = Field(min_length=1, max_length=255)


class MetadataValue(BaseModel):
    """One value of a document (``id`` names the field; null removes the value)."""

    id: str
    name: str = ""
    value: Any = None


class DocumentMetadata(BaseModel):
    """The values of one document; ``partial_update`` keeps the values not named."""

    document_id: str
    metadata_list: list[MetadataValue] = Field(max_length=1000)
    partial_update: bool = False


class DocumentMetadataBody(BaseModel):
    """``POST .../documents/metadata``."""

    operation_data: list[DocumentMetadata] = Field(max_length=1000)


def _field(session: Session, dataset: Dataset, metadata_id: str) -> DatasetMetadataField:
    field = dataset_crud.get_metadata_field(session, dataset, metadata_id)
    if field is None:
        raise not_found("metadata field")
    return field


def _name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise invalid_param("name: cannot be blank")
    if name in BUILT_IN_NAMES:
        raise invalid_param(f"name: {name} is a built-in field")
    return name


def _taken(name: str) -> Exception:
    return invalid_param(f"name: the knowledge base already has a metadata field {name!r}")


@router.post(METADATA, status_code=201)
def create_field(
    body: MetadataFieldBody, dataset: TenantDataset, session: SessionDep
) -> dict[str, Any]:
    """A new custom field: ``{id, name, type}``."""
    name = _name(body.name)
    field = dataset_crud.add_metadata_field(session, dataset, name, body.type)
    if field is None:
        raise _taken(name)
    return metadata_field_json(field)


@router.get(METADATA)
def list_fields(dataset: TenantDataset, session: SessionDep) -> dict[str, Any]:
    """The custom fields with how many documents use each, and whether built-ins are on."""
    counts = dataset_crud.field_use_counts(session, dataset)
    fields = dataset_crud.metadata_fields(session, [dataset.id])[dataset.id]
    return {
        "doc_metadata": [
            {**metadata_field_json(f), "count": counts.get(f.name, 0)} for f in fields
        ],
        "built_in_field_enabled": dataset.built_in_field_enabled,
    }


@router.get(METADATA + "/built-in")
def built_in_fields(dataset: TenantDataset) -> dict[str, Any]:
    """Dify's built-in fields."""
    del dataset  # the same for every knowledge base (the path is checked all the same)
    return {"fields": [{"name": name, "type": type_} for name, type_ in BUILT_IN_FIELDS]}


@router.post(METADATA + "/built-in/{action}")
def toggle_built_in(
    action: Literal["enable", "disable"], dataset: TenantDataset, session: SessionDep
) -> dict[str, Any]:
    """Turn the built-in fields on (their values are written into every document, so filters
    can use them) or off."""
    documents = document_crud.all_documents(session, dataset)
    names = dataset_crud.account_names(session, [d.created_by for d in documents])
    dataset_crud.set_built_in_fields(
        session,
        dataset,
        action == "enable",
        lambda d: built_in_values(d, names.get(d.created_by or "", "")),
    )
    return {"result": "success"}


@router.patch(METADATA + "/{metadata_id}")
def rename_field(
    metadata_id: str, body: MetadataRenameBody, dataset: TenantDataset, session: SessionDep
) -> dict[str, Any]:
    """Rename a field (and its key in every document)."""
    field = _field(session, dataset, metadata_id)
    name = _name(body.name)
    if name != field.name and not dataset_crud.rename_metadata_field(session, dataset, field, name):
        raise _taken(name)
    return metadata_field_json(field)


@router.delete(METADATA + "/{metadata_id}", status_code=204)
def delete_field(metadata_id: str, dataset: TenantDataset, session: SessionDep) -> Response:
    """Delete a field and every document's value of it."""
    dataset_crud.delete_metadata_field(session, dataset, _field(session, dataset, metadata_id))
    return Response(status_code=204)


def _typed(field: DatasetMetadataField, value: Any, where: str) -> Any:
    """The value as stored for the field's type; 400 naming ``where`` when it does not fit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise invalid_param(f"{where}: expected a {field.type} for field {field.name}")
    if field.type == "string":
        return str(value)
    try:
        number = float(value)
    except (ValueError, OverflowError):  # an integer too large for a float overflows
        number = math.nan
    if not math.isfinite(number):
        raise invalid_param(f"{where}: field {field.name} takes a number, not {value!r}")
    if field.type == "time":
        if not number.is_integer():
            raise invalid_param(f"{where}: field {field.name} takes a unix time (whole seconds)")
        return int(number)
    return value if not isinstance(value, str) else int(number) if number.is_integer() else number


@router.post("/datasets/{dataset_id}/documents/metadata")
def set_document_metadata(
    body: DocumentMetadataBody, dataset: TenantDataset, session: SessionDep
) -> dict[str, Any]:
    """Set documents' metadata values (type-checked); all or nothing."""
    fields = {f.id: f for f in dataset_crud.metadata_fields(session, [dataset.id])[dataset.id]}
    documents = document_crud.documents_by_ids(
        session, dataset, [op.document_id for op in body.operation_data]
    )
    changed: list[DatasetDocument] = []
    for i, op in enumerate(body.operation_data):
        document = documents.get(op.document_id)
        if document is None:
            raise not_found(f"operation_data[{i}].document_id: document {op.document_id}")
        current = dict(document.doc_metadata or {})
        # A full update keeps only the built-in values (they follow the document itself).
        values = (
            current
            if op.partial_update
            else {k: v for k, v in current.items() if k in BUILT_IN_NAMES}
        )
        for j, item in enumerate(op.metadata_list):
            where = f"operation_data[{i}].metadata_list[{j}]"
            field = fields.get(item.id)
            if field is None:
                raise invalid_param(f"{where}.id: no metadata field {item.id} in this dataset")
            value = _typed(field, item.value, f"{where}.value")
            if value is None:
                values.pop(field.name, None)
            else:
                values[field.name] = value
        document.doc_metadata = values  # a new dict: JSON columns do not track in-place edits
        changed.append(document)
    document_crud.save_documents(session, changed, dataset)
    return {"result": "success"}
