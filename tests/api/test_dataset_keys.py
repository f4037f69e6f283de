"""Workspace ``dataset-`` keys: shown once, stored hashed, listed by prefix, revocable, scoped."""

from __future__ import annotations

from sqlmodel import Session

from tests.api.conftest import Api
from tideflow.platform.db.crud.keys import tenant_for_dataset_token
from tideflow.platform.db.session import get_engine

PATH = "/console/api/datasets/api-keys"


async def test_dataset_keys_lifecycle_and_isolation(api: Api) -> None:
    created = await api.http.post(PATH, headers=api.console)
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("dataset-") and len(token) == len("dataset-") + 24
    with Session(get_engine(api.settings.db_url)) as session:
        assert tenant_for_dataset_token(session, token) is not None
        assert tenant_for_dataset_token(session, token + "x") is None

    listed = (await api.http.get(PATH, headers=api.console)).json()["data"]
    assert [k["id"] for k in listed] == [created.json()["id"]]
    assert listed[0]["token"].endswith("...") and token not in listed[0]["token"]

    other = await api.other_tenant()
    assert (await api.http.get(PATH, headers=other)).json()["data"] == []
    key_path = f"{PATH}/{created.json()['id']}"
    assert (await api.http.delete(key_path, headers=other)).status_code == 404

    assert (await api.http.delete(key_path, headers=api.console)).status_code == 204
    with Session(get_engine(api.settings.db_url)) as session:
        assert tenant_for_dataset_token(session, token) is None
    assert (await api.http.get(PATH, headers=api.console)).json()["data"] == []
    assert (await api.http.post(PATH)).status_code == 401
