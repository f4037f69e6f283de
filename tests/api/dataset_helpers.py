"""Helpers of the knowledge API tests: keys, datasets and documents through the API."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from tests.api.conftest import Api
from tideflow.platform.db.knowledge_models import DatasetDocument
from tideflow.platform.db.session import get_engine

V1 = "/v1"
CONSOLE = "/console/api"


async def dataset_key(api: Api, console: dict[str, str] | None = None) -> dict[str, str]:
    """Headers with a new ``dataset-`` key of the (given console's) workspace."""
    response = await api.http.post(f"{CONSOLE}/datasets/api-keys", headers=console or api.console)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def new_dataset(
    api: Api, headers: dict[str, str], prefix: str = V1, **body: Any
) -> dict[str, Any]:
    """Create a dataset (economy unless told otherwise); its JSON."""
    payload = {"name": "kb", "indexing_technique": "economy", **body}
    response = await api.http.post(f"{prefix}/datasets", json=payload, headers=headers)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def add_text(
    api: Api,
    headers: dict[str, str],
    dataset_id: str,
    name: str = "notes",
    text: str = "Tideflow runs every app graph as one Temporal workflow.",
    prefix: str = V1,
    **options: Any,
) -> dict[str, Any]:
    """create-by-text; ``{document, batch}``."""
    response = await api.http.post(
        f"{prefix}/datasets/{dataset_id}/document/create-by-text",
        json={"name": name, "text": text, **options},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def document_row(api: Api, document_id: str) -> DatasetDocument | None:
    """The document's row as stored."""
    with Session(get_engine(api.settings.db_url)) as session:
        return session.get(DatasetDocument, document_id)


def set_document_row(api: Api, document_id: str, **values: Any) -> DatasetDocument:
    """Change a document's row directly (a state the worker would have written)."""
    with Session(get_engine(api.settings.db_url)) as session:
        row = session.get(DatasetDocument, document_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)
        session.commit()
        session.refresh(row)
        return row
