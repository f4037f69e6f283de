"""Workspace model providers: credentials checked through Temporal against the fake model
server, stored encrypted, listed masked, scoped by tenant and role; default models."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from tests.api.conftest import OWNER_EMAIL, Api
from tests.fakes.openai_server import FakeLLMServer, unauthorized
from tideflow.platform.db.crud.accounts import create_tenant_with_owner
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.models import Account, ProviderCredential, TenantMember
from tideflow.platform.db.session import get_engine
from tideflow.platform.model_credentials import load_credentials, save_credentials
from tideflow.platform.security import HIDDEN_VALUE, hash_password

BASE = "/console/api/workspaces/current"
COMPAT = f"{BASE}/model-providers/openai_api_compatible/credentials"


@pytest.fixture(autouse=True)
def loopback_model_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake model server is on 127.0.0.1, which the SSRF guard refuses by default."""
    monkeypatch.setenv("TIDEFLOW_ALLOW_PRIVATE_NETWORK", "true")


def owner_tenant(api: Api) -> str:
    """The tenant id of the bootstrapped owner."""
    with Session(get_engine(api.settings.db_url)) as session:
        account = session.exec(select(Account).where(Account.email == OWNER_EMAIL)).one()
        member = session.exec(
            select(TenantMember).where(TenantMember.account_id == account.id)
        ).one()
        return member.tenant_id


async def add_member(api: Api, tenant_id: str, role: str) -> dict[str, str]:
    """Console headers of a new account with ``role`` in the tenant."""
    email = f"{role}@example.com"
    with Session(get_engine(api.settings.db_url)) as session:
        account = Account(email=email, name=role, password_hash=hash_password("pw-member"))
        session.add(account)
        session.flush()
        session.add(TenantMember(tenant_id=tenant_id, account_id=account.id, role=role))
        session.commit()
    return await api.login(email, "pw-member")


def compat_credentials(fake_llm: FakeLLMServer, key: str) -> dict[str, object]:
    return {
        "credentials": {"api_key": key, "endpoint_url": fake_llm.base_url},
        "model": "fake-model",
    }


def listed(body: dict[str, object], provider: str) -> dict[str, object]:
    data = body["data"]
    assert isinstance(data, list)
    return next(p for p in data if p["provider"] == provider)


async def test_save_checks_masks_and_keeps_hidden(api: Api, fake_llm: FakeLLMServer) -> None:
    tenant_id = owner_tenant(api)
    saved = await api.http.post(
        COMPAT, json=compat_credentials(fake_llm, "sk-good"), headers=api.console
    )
    assert saved.status_code == 201, saved.text
    assert saved.json() == {"result": "success"}
    # The check made one real call with the key, through the worker.
    checks = fake_llm.chat_requests()
    assert len(checks) == 1
    assert checks[0].headers["authorization"] == "Bearer sk-good"
    assert checks[0].json["model"] == "fake-model"
    assert load_credentials(api.settings.db_url, tenant_id, "openai_api_compatible") == {
        "api_key": "sk-good",
        "endpoint_url": fake_llm.base_url,
    }

    response = await api.http.get(f"{BASE}/model-providers", headers=api.console)
    assert response.status_code == 200
    assert "sk-good" not in response.text
    compat = listed(response.json(), "openai_api_compatible")
    assert compat["custom_configuration"] == {"status": "active"}
    assert compat["credentials"] == {"api_key": HIDDEN_VALUE, "endpoint_url": fake_llm.base_url}
    assert listed(response.json(), "openai")["custom_configuration"] == {"status": "no-configure"}
    single = await api.http.get(COMPAT, headers=api.console)
    assert single.json() == {"credentials": compat["credentials"]}

    # A wrong key: the provider answers 401, nothing is saved.
    fake_llm.fail(unauthorized())
    wrong = await api.http.post(
        COMPAT, json=compat_credentials(fake_llm, "sk-wrong"), headers=api.console
    )
    assert wrong.status_code == 400, wrong.text
    assert wrong.json()["code"] == "provider_credentials_invalid"
    assert "Incorrect API key" in wrong.json()["message"]
    assert fake_llm.chat_requests()[-1].headers["authorization"] == "Bearer sk-wrong"
    stored = load_credentials(api.settings.db_url, tenant_id, "openai_api_compatible")
    assert stored is not None and stored["api_key"] == "sk-good"

    # The mask sent back keeps the stored key (the check uses it too).
    kept = await api.http.post(
        COMPAT, json=compat_credentials(fake_llm, HIDDEN_VALUE), headers=api.console
    )
    assert kept.status_code == 201, kept.text
    assert fake_llm.chat_requests()[-1].headers["authorization"] == "Bearer sk-good"
    stored = load_credentials(api.settings.db_url, tenant_id, "langgenius/openai_api_compatible")
    assert stored is not None and stored["api_key"] == "sk-good"

    deleted = await api.http.delete(COMPAT, headers=api.console)
    assert deleted.status_code == 204
    assert load_credentials(api.settings.db_url, tenant_id, "openai_api_compatible") is None
    assert (await api.http.delete(COMPAT, headers=api.console)).status_code == 404
    response = await api.http.get(f"{BASE}/model-providers", headers=api.console)
    assert listed(response.json(), "openai_api_compatible")["credentials"] is None


async def test_bad_credentials_are_refused_before_any_call(
    api: Api, fake_llm: FakeLLMServer
) -> None:
    async def post(path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        response = await api.http.post(path, json=body, headers=api.console)
        return response.status_code, response.json()

    status, body = await post(COMPAT, {"credentials": {"api_key": "k"}, "model": "m"})
    assert status == 400 and "credentials.endpoint_url is required" in str(body["message"])
    status, body = await post(
        COMPAT, {"credentials": {"endpoint_url": fake_llm.base_url, "api_kye": "k"}}
    )
    assert status == 400 and "credentials.api_kye" in str(body["message"])
    status, body = await post(
        COMPAT, {"credentials": {"endpoint_url": fake_llm.base_url, "api_key": HIDDEN_VALUE}}
    )
    assert status == 400 and "credentials.api_key" in str(body["message"])
    status, body = await post(COMPAT, {"credentials": {"endpoint_url": fake_llm.base_url}})
    assert status == 400 and str(body["message"]).startswith("model:")
    status, body = await post(
        f"{BASE}/model-providers/nope/credentials", {"credentials": {"api_key": "k"}}
    )
    assert status == 404 and "'nope'" in str(body["message"])
    status, body = await post(COMPAT, {"credentials": "not an object"})
    assert status == 400 and body["code"] == "invalid_param"
    assert fake_llm.chat_requests() == []


async def test_tenants_and_roles(api: Api, fake_llm: FakeLLMServer) -> None:
    tenant_id = owner_tenant(api)
    saved = await api.http.post(
        COMPAT, json=compat_credentials(fake_llm, "sk-owner"), headers=api.console
    )
    assert saved.status_code == 201, saved.text

    other = await api.other_tenant()
    response = await api.http.get(f"{BASE}/model-providers", headers=other)
    assert "sk-owner" not in response.text
    assert listed(response.json(), "openai_api_compatible")["credentials"] is None
    assert (await api.http.get(COMPAT, headers=other)).json() == {"credentials": {}}
    assert (await api.http.delete(COMPAT, headers=other)).status_code == 404
    assert load_credentials(api.settings.db_url, tenant_id, "openai_api_compatible") is not None

    editor = await add_member(api, tenant_id, "editor")
    response = await api.http.get(f"{BASE}/model-providers", headers=editor)
    assert listed(response.json(), "openai_api_compatible")["custom_configuration"] == {
        "status": "active"
    }
    for call in (
        api.http.post(COMPAT, json=compat_credentials(fake_llm, "sk-editor"), headers=editor),
        api.http.delete(COMPAT, headers=editor),
        api.http.post(f"{BASE}/default-model", json={"model_settings": []}, headers=editor),
    ):
        response = await call
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
    admin = await add_member(api, tenant_id, "admin")
    assert (await api.http.delete(COMPAT, headers=admin)).status_code == 204
    assert len(fake_llm.chat_requests()) == 1  # the owner's check only


async def test_default_models(api: Api) -> None:
    path = f"{BASE}/default-model"
    empty = await api.http.get(path, params={"model_type": "llm"}, headers=api.console)
    assert empty.status_code == 200 and empty.json() == {"data": None}
    settings = [
        {"model_type": "llm", "provider": "langgenius/openai/openai", "model": "gpt-4o"},
        {"model_type": "text-embedding", "provider": "openai_api_compatible", "model": "emb"},
        {"model_type": "rerank", "provider": None, "model": "ignored"},
    ]
    response = await api.http.post(path, json={"model_settings": settings}, headers=api.console)
    assert response.status_code == 200 and response.json() == {"result": "success"}
    llm = (await api.http.get(path, params={"model_type": "llm"}, headers=api.console)).json()
    assert llm["data"]["model"] == "gpt-4o" and llm["data"]["model_type"] == "llm"
    assert llm["data"]["provider"]["provider"] == "openai"
    embedding = await api.http.get(
        path, params={"model_type": "text-embedding"}, headers=api.console
    )
    assert embedding.json()["data"]["provider"]["provider"] == "openai_api_compatible"
    rerank = await api.http.get(path, params={"model_type": "rerank"}, headers=api.console)
    assert rerank.json() == {"data": None}

    # Changing one type leaves the others.
    change = [{"model_type": "llm", "provider": "anthropic", "model": "claude-3-5-haiku"}]
    response = await api.http.post(path, json={"model_settings": change}, headers=api.console)
    assert response.status_code == 200
    llm = (await api.http.get(path, params={"model_type": "llm"}, headers=api.console)).json()
    assert llm["data"]["provider"]["provider"] == "anthropic"
    embedding = await api.http.get(
        path, params={"model_type": "text-embedding"}, headers=api.console
    )
    assert embedding.json()["data"]["model"] == "emb"

    other = await api.other_tenant()
    other_llm = await api.http.get(path, params={"model_type": "llm"}, headers=other)
    assert other_llm.json() == {"data": None}


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({"model_type": "llm", "provider": "nope", "model": "m"}, "model_settings[1].provider"),
        (
            {"model_type": "rerank", "provider": "openai", "model": "m"},
            "model_settings[1].model_type",
        ),
        ({"model_type": "llm", "provider": "openai", "model": " "}, "model_settings[1].model"),
        ({"model_type": "moderation", "provider": "openai", "model": "m"}, "model_settings.1"),
    ],
)
async def test_default_model_errors_name_the_entry(
    api: Api, entry: dict[str, str], named: str
) -> None:
    path = f"{BASE}/default-model"
    good = {"model_type": "llm", "provider": "openai", "model": "gpt-4o"}
    response = await api.http.post(
        path, json={"model_settings": [good, entry]}, headers=api.console
    )
    assert response.status_code == 400, response.text
    assert named in response.json()["message"]
    # Nothing was saved: the settings are all or nothing.
    llm = await api.http.get(path, params={"model_type": "llm"}, headers=api.console)
    assert llm.json() == {"data": None}
    bad_query = await api.http.get(path, params={"model_type": "nope"}, headers=api.console)
    assert bad_query.status_code == 400 and "model_type" in bad_query.json()["message"]


def test_load_credentials_round_trips_encrypted(db_url: str) -> None:
    upgrade_database(db_url)
    secret_key = "test-secret-key"
    with Session(get_engine(db_url)) as session:
        tenant, _ = create_tenant_with_owner(
            session, tenant_name="acme", email="a@example.com", password="pw"
        )
        other, _ = create_tenant_with_owner(
            session, tenant_name="other", email="b@example.com", password="pw"
        )
        tenant_id, other_id = tenant.id, other.id
        clear = {"openai_api_key": "sk-secret-1", "openai_api_base": "https://example.test"}
        save_credentials(session, tenant_id, "langgenius/openai/openai", clear, secret_key)
        row = session.exec(select(ProviderCredential)).one()
        assert row.provider == "openai" and "sk-secret-1" not in row.encrypted_credentials

    assert load_credentials(db_url, tenant_id, "openai", secret_key) == clear
    assert load_credentials(db_url, tenant_id, "langgenius/openai/openai", secret_key) == clear
    assert load_credentials(db_url, tenant_id, "anthropic", secret_key) is None
    assert load_credentials(db_url, other_id, "openai", secret_key) is None
    with pytest.raises(ValueError, match="TIDEFLOW_SECRET_KEY"):
        load_credentials(db_url, tenant_id, "openai", "another-key")
    with pytest.raises(ValueError, match="unknown model provider"):
        load_credentials(db_url, tenant_id, "nope", secret_key)

    # Saving again replaces the row (one per tenant and provider).
    with Session(get_engine(db_url)) as session:
        save_credentials(session, tenant_id, "openai", {"openai_api_key": "sk-2"}, secret_key)
        assert len(session.exec(select(ProviderCredential)).all()) == 1
    assert load_credentials(db_url, tenant_id, "openai", secret_key) == {"openai_api_key": "sk-2"}


async def test_credentials_saved_under_another_secret_key(
    api: Api, fake_llm: FakeLLMServer
) -> None:
    tenant_id = owner_tenant(api)
    with Session(get_engine(api.settings.db_url)) as session:
        clear = {"api_key": "sk-old", "endpoint_url": fake_llm.base_url}
        save_credentials(session, tenant_id, "openai_api_compatible", clear, "an-older-key")
    listing = await api.http.get(f"{BASE}/model-providers", headers=api.console)
    assert listing.status_code == 200, listing.text
    compat = listed(listing.json(), "openai_api_compatible")
    assert compat["credentials"] is None
    assert compat["custom_configuration"] == {"status": "no-configure"}
    assert "TIDEFLOW_SECRET_KEY" in str(compat["error"]) and "save them again" in str(
        compat["error"]
    )
    single = await api.http.get(COMPAT, headers=api.console)
    assert single.status_code == 409 and single.json()["code"] == "credentials_unreadable"
    # The mask cannot stand for an unreadable key; the key in full replaces it.
    masked = await api.http.post(
        COMPAT, json=compat_credentials(fake_llm, HIDDEN_VALUE), headers=api.console
    )
    assert masked.status_code == 400 and "api_key" in masked.json()["message"]
    saved = await api.http.post(
        COMPAT, json=compat_credentials(fake_llm, "sk-new"), headers=api.console
    )
    assert saved.status_code == 201, saved.text
    stored = load_credentials(api.settings.db_url, tenant_id, "openai_api_compatible")
    assert stored is not None and stored["api_key"] == "sk-new"
    relisted = listed(
        (await api.http.get(f"{BASE}/model-providers", headers=api.console)).json(),
        "openai_api_compatible",
    )
    assert relisted["error"] is None and relisted["custom_configuration"] == {"status": "active"}


def test_a_check_that_ran_out_of_time_is_503_not_bad_credentials() -> None:
    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import ApplicationError, TimeoutError, TimeoutType

    from tideflow.platform.api.routes.console_models import check_failure

    timeout = TimeoutError(
        "activity timeout", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[]
    )
    timed_out = check_failure(WorkflowFailureError(cause=timeout))
    assert timed_out.status == 503 and "is a worker running" in timed_out.message
    refused = ApplicationError("Incorrect API key provided", type="ModelAuthenticationError")
    failed = check_failure(WorkflowFailureError(cause=refused))
    assert failed.status == 400 and failed.code == "provider_credentials_invalid"
    assert "Incorrect API key provided" in failed.message
