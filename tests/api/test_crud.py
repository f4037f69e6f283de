"""Migrations and crud on SQLite and (when configured) Postgres: tenancy, keys, secrets,
idempotent run claims, projection, log filters."""

from __future__ import annotations

from sqlmodel import Session

from tideflow.platform.db.crud import accounts, apps, envvars, keys
from tideflow.platform.db.crud import runs as run_crud
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.models import WorkflowRun
from tideflow.platform.db.session import get_engine
from tideflow.platform.security import (
    SessionClaims,
    hash_password,
    issue_session_token,
    read_session_token,
    verify_password,
)
from tideflow.workflows.engine.models import GraphRunResult, NodeRun

SECRET = "test-secret-key"


def test_passwords_and_session_tokens() -> None:
    stored = hash_password("hunter2")
    assert stored.startswith("scrypt$") and verify_password("hunter2", stored)
    assert not verify_password("hunter3", stored) and not verify_password("x", "garbage")
    token = issue_session_token(SessionClaims("a", "t", 2**40), SECRET)
    assert read_session_token(token, SECRET) == SessionClaims("a", "t", 2**40)
    assert read_session_token(token, "other-key") is None
    assert (
        read_session_token(issue_session_token(SessionClaims("a", "t", 1), SECRET), SECRET) is None
    )
    assert read_session_token("nonsense", SECRET) is None


def test_tenancy_keys_secrets_runs(db_url: str) -> None:
    upgrade_database(db_url)
    with Session(get_engine(db_url)) as session:
        assert accounts.ensure_owner(session, "Boss@Example.com", None) is not None
        assert accounts.ensure_owner(session, "boss@example.com", "x") is None  # once only
        tenant_b, _ = accounts.create_tenant_with_owner(
            session, tenant_name="b", email="b@example.com", password="pw"
        )
        found = accounts.authenticate(session, "b@example.com", "pw")
        assert found is not None and found[1] == tenant_b.id
        app = apps.create_app(
            session, tenant_b.id, name="a", mode="workflow", description="", draft_dsl=""
        )
        assert apps.get_app(session, "another-tenant", app.id) is None
        key, token = keys.create_key(session, tenant_b.id, app.id, "app")
        assert token.startswith("app-") and len(token) == 28 and token not in key.token_hash
        assert keys.app_for_token(session, token) is not None
        assert keys.revoke_app_key(session, app, key.id)
        assert keys.app_for_token(session, token) is None

        var = envvars.set_env(
            session,
            app,
            name="k",
            value_type="secret",
            value="v-123",
            description="",
            secret_key=SECRET,
        )
        assert "v-123" not in var.value and envvars.clear_value(var, SECRET) == "v-123"

        user = run_crud.end_user(session, app, "alice")
        assert run_crud.end_user(session, app, "alice").id == user.id
        row = WorkflowRun(
            id="r1",
            tenant_id=tenant_b.id,
            app_id=app.id,
            temporal_workflow_id="w1",
            end_user_id=user.id,
            idempotency_key="k",
            inputs={"q": "needle"},
        )
        first, created = run_crud.claim_run(session, row)
        assert created
        twin = WorkflowRun(
            id="r2",
            tenant_id=tenant_b.id,
            app_id=app.id,
            temporal_workflow_id="w2",
            idempotency_key="k",
        )
        again, created = run_crud.claim_run(session, twin)
        assert not created and again.id == first.id
        result = GraphRunResult(
            status="succeeded",
            outputs={"x": 1},
            total_steps=1,
            elapsed=0.5,
            node_runs=[NodeRun(id="n", node_id="start", node_type="start", status="succeeded")],
        )
        run_crud.project_result(session, "r1", result)
        run_crud.project_result(session, "r1", result)  # idempotent
        assert len(run_crud.node_executions(session, "r1")) == 1
        hits, total = run_crud.list_runs(
            session, app, run_crud.RunFilter(keyword="needle", status="succeeded"), 1, 10
        )
        assert total == 1 and hits[0][1] is not None and hits[0][1].session_id == "alice"
        apps.delete_app(session, app)
        assert apps.get_app(session, tenant_b.id, app.id) is None


def test_a_key_notes_its_use_at_most_once_a_minute(db_url: str) -> None:
    upgrade_database(db_url)
    with Session(get_engine(db_url)) as session:
        tenant, _ = accounts.create_tenant_with_owner(
            session, tenant_name="u", email="u@example.com", password="pw"
        )
        app = apps.create_app(
            session, tenant.id, name="a", mode="workflow", description="", draft_dsl=""
        )
        key, token = keys.create_key(session, tenant.id, app.id, "app")
        assert key.last_used_at is None
        assert keys.app_for_token(session, token) is not None
        session.refresh(key)
        first = key.last_used_at
        assert first is not None
        assert keys.app_for_token(session, token) is not None  # within the minute: no write
        session.refresh(key)
        assert key.last_used_at == first
        key.last_used_at = first - keys.LAST_USED_RESOLUTION  # a minute later
        session.add(key)
        session.commit()
        assert keys.app_for_token(session, token) is not None
        session.refresh(key)
        assert key.last_used_at is not None and key.last_used_at > first
