"""Rotating TIDEFLOW_SECRET_KEY: old keys still open secrets and sessions, and
``tideflow rotate-secrets`` re-encrypts the database so the old key can go (SQLite)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import Session, select

from tideflow.platform import model_credentials, tool_providers
from tideflow.platform.db.crud import apps, envvars
from tideflow.platform.db.crud.accounts import create_tenant_with_owner
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.models import (
    AppEnvironmentVariable,
    ProviderCredential,
    ToolProviderRecord,
    WebhookTrigger,
)
from tideflow.platform.db.session import get_engine
from tideflow.platform.security import (
    SessionClaims,
    UnreadableSecretError,
    decrypt_secret,
    encrypt_secret,
    issue_session_token,
    read_session_token,
)
from tideflow.platform.settings import get_settings

TIDEFLOW = str(Path(sys.executable).parent / "tideflow")
KEY1 = "first-secret-key-0123456789abcdef"
KEY2 = "second-secret-key-fedcba9876543210"


@dataclass
class Stored:
    """The ids of one row per encrypted column, and the database."""

    db_url: str
    env_id: str
    credential_id: str
    tool_id: str
    webhook_id: str


def _ciphertexts(stored: Stored) -> dict[str, str]:
    with Session(get_engine(stored.db_url)) as session:
        env = session.get(AppEnvironmentVariable, stored.env_id)
        cred = session.get(ProviderCredential, stored.credential_id)
        tool = session.get(ToolProviderRecord, stored.tool_id)
        hook = session.get(WebhookTrigger, stored.webhook_id)
        assert env and cred and tool and hook and hook.encrypted_secret
        return {
            "env": env.value,
            "cred": cred.encrypted_credentials,
            "tool": tool.encrypted_credentials,
            "hook": hook.encrypted_secret,
        }


def _clear(stored: Stored, key: str, previous: tuple[str, ...] = ()) -> dict[str, str]:
    """Every stored secret decrypted with ``key`` (and ``previous``) explicitly."""
    texts = _ciphertexts(stored)
    return {name: decrypt_secret(token, key, previous) for name, token in texts.items()}


@pytest.fixture
def keys_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The process's settings follow TIDEFLOW_SECRET_KEY[_PREVIOUS] as the test sets them."""
    monkeypatch.setenv("TIDEFLOW_SECRET_KEY", KEY1)
    monkeypatch.delenv("TIDEFLOW_SECRET_KEY_PREVIOUS", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.fixture
def stored(tmp_path: Path, keys_env: pytest.MonkeyPatch) -> Stored:
    """A database holding one secret of each kind, encrypted with KEY1."""
    del keys_env
    db_url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade_database(db_url)
    with Session(get_engine(db_url)) as session:
        tenant, _ = create_tenant_with_owner(
            session, tenant_name="acme", email="o@example.com", password="pw"
        )
        app = apps.create_app(
            session, tenant.id, name="a", mode="workflow", description="", draft_dsl=""
        )
        var = envvars.set_env(
            session,
            app,
            name="token",
            value_type="secret",
            value="env-s3cret",
            description="",
            secret_key=KEY1,
        )
        envvars.set_env(
            session,
            app,
            name="plain",
            value_type="string",
            value="not-a-secret",
            description="",
            secret_key=KEY1,
        )
        cred = model_credentials.save_credentials(
            session, tenant.id, "openai", {"api_key": "sk-model"}, KEY1
        )
        tool = ToolProviderRecord(
            tenant_id=tenant.id,
            kind="api",
            name="weather",
            encrypted_credentials=tool_providers.seal_credentials({"api_key": "tool-key"}, KEY1),
        )
        bare_tool = ToolProviderRecord(tenant_id=tenant.id, kind="api", name="no-auth")
        hook = WebhookTrigger(
            tenant_id=tenant.id,
            app_id=app.id,
            node_id="n1",
            webhook_id="hook-1",
            encrypted_secret=encrypt_secret("hook-signing", KEY1),
        )
        session.add_all([tool, bare_tool, hook])
        session.commit()
        return Stored(db_url, var.id, cred.id, tool.id, hook.id)


def _rotate_cli(stored: Stored, key: str, previous: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TIDEFLOW_DATABASE_URL": stored.db_url, "TIDEFLOW_SECRET_KEY": key}
    env.pop("TIDEFLOW_SECRET_KEY_PREVIOUS", None)
    if previous is not None:
        env["TIDEFLOW_SECRET_KEY_PREVIOUS"] = previous
    return subprocess.run(
        [TIDEFLOW, "rotate-secrets"], env=env, capture_output=True, text=True, timeout=120
    )


EXPECTED = {
    "env": "env-s3cret",
    "cred": '{"api_key":"sk-model"}',
    "tool": '{"api_key":"tool-key"}',
    "hook": "hook-signing",
}


def test_rotation_keeps_secrets_readable_then_drops_the_old_key(
    stored: Stored, keys_env: pytest.MonkeyPatch
) -> None:
    before = _ciphertexts(stored)
    # Step 1: the new key is current, the old one listed as previous: everything still opens,
    # through the callers' usual one-key calls (they read the previous keys from settings).
    keys_env.setenv("TIDEFLOW_SECRET_KEY", KEY2)
    keys_env.setenv("TIDEFLOW_SECRET_KEY_PREVIOUS", KEY1)
    get_settings.cache_clear()
    with Session(get_engine(stored.db_url)) as session:
        var = session.get(AppEnvironmentVariable, stored.env_id)
        assert var is not None and envvars.clear_value(var, KEY2) == "env-s3cret"
        cred = session.get(ProviderCredential, stored.credential_id)
        assert cred is not None
        assert model_credentials.decrypt_credentials(cred, KEY2) == {"api_key": "sk-model"}
    # Without the previous key the old ciphertexts do not open, with a message saying why.
    with pytest.raises(UnreadableSecretError, match="TIDEFLOW_SECRET_KEY_PREVIOUS"):
        _clear(stored, KEY2, ())

    # Step 2: rotate-secrets, as an operator runs it.
    done = _rotate_cli(stored, KEY2, KEY1)
    assert done.returncode == 0, done.stderr
    assert "appenvironmentvariable: 1 re-encrypted, 0 already current" in done.stdout
    assert "providercredential: 1 re-encrypted" in done.stdout
    assert "tool_provider: 1 re-encrypted" in done.stdout  # the one without auth is skipped
    assert "webhooktrigger: 1 re-encrypted" in done.stdout
    after = _ciphertexts(stored)
    assert all(after[name] != before[name] for name in before)
    with Session(get_engine(stored.db_url)) as session:
        plain = session.exec(
            select(AppEnvironmentVariable).where(AppEnvironmentVariable.name == "plain")
        ).one()
        assert plain.value == "not-a-secret"  # non-secret values are left alone

    # Step 3: the old key is dropped; the new one alone opens everything, the old no longer.
    assert _clear(stored, KEY2, ()) == EXPECTED
    with pytest.raises(UnreadableSecretError):
        _clear(stored, KEY1, ())

    # A second run changes nothing (idempotent).
    again = _rotate_cli(stored, KEY2, None)
    assert again.returncode == 0, again.stderr
    assert "appenvironmentvariable: 0 re-encrypted, 1 already current" in again.stdout
    assert _ciphertexts(stored) == after


def test_a_key_that_opens_nothing_fails_clearly_and_writes_nothing(stored: Stored) -> None:
    before = _ciphertexts(stored)
    done = _rotate_cli(stored, KEY2, "some-other-key-not-the-old-one")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "no key in TIDEFLOW_SECRET_KEY or TIDEFLOW_SECRET_KEY_PREVIOUS opens" in done.stderr
    assert "appenvironmentvariable" in done.stderr and "nothing was changed" in done.stderr
    assert _ciphertexts(stored) == before
    assert _clear(stored, KEY1) == EXPECTED


def test_previous_keys_setting_takes_a_list_or_commas(keys_env: pytest.MonkeyPatch) -> None:
    keys_env.setenv("TIDEFLOW_SECRET_KEY_PREVIOUS", "old-a, old-b")
    get_settings.cache_clear()
    assert get_settings().secret_key_previous == ["old-a", "old-b"]
    keys_env.setenv("TIDEFLOW_SECRET_KEY_PREVIOUS", '["old,c"]')
    get_settings.cache_clear()
    assert get_settings().secret_key_previous == ["old,c"]


def test_sessions_signed_with_a_previous_key_still_verify() -> None:
    claims = SessionClaims("acc-1", "ten-1", expires_at=2**40)
    old_token = issue_session_token(claims, KEY1)
    assert read_session_token(old_token, KEY2, [KEY1]) == claims
    assert read_session_token(old_token, KEY2) is None
    new_token = issue_session_token(claims, KEY2)
    assert new_token != old_token
    assert read_session_token(new_token, KEY2, [KEY1]) == claims
