"""Human-input forms: opened and closed by the run's activities, listed and claimed by the API."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlmodel import Session, col, select

from tideflow.platform.db.ids import utcnow
from tideflow.platform.db.models import WorkflowRun
from tideflow.platform.db.trigger_models import HumanInputForm

# Run statuses of a run that has not ended (a paused run waits on a form).
UNFINISHED_STATUSES = ("running", "paused")


def token_hash(token: str) -> str:
    """SHA-256 (hex) of a form token: what the table keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class OpenedForm:
    """What the node's activity writes when a form opens."""

    run_id: str
    workflow_id: str
    node_id: str
    node_title: str
    node_run_id: str
    rendered_content: str
    definition: dict[str, Any]
    expires_at: datetime
    conversation_id: str | None


def open_form(session: Session, form: OpenedForm, token: str) -> str | None:
    """Write the form (or give an existing one this new token) and mark its run paused;
    returns the form id, or None when the run has no record (a run outside the platform)."""
    run = session.get(WorkflowRun, form.run_id)
    if run is None:
        return None
    query = select(HumanInputForm).where(
        HumanInputForm.run_id == form.run_id, HumanInputForm.node_run_id == form.node_run_id
    )
    row = session.exec(query).first()
    if row is None:
        row = HumanInputForm(
            tenant_id=run.tenant_id,
            app_id=run.app_id,
            run_id=run.id,
            workflow_id=form.workflow_id,
            node_id=form.node_id,
            node_title=form.node_title[:255],
            node_run_id=form.node_run_id,
            token_hash=token_hash(token),
            rendered_content=form.rendered_content,
            definition=form.definition,
            expires_at=form.expires_at,
            conversation_id=form.conversation_id,
            end_user_id=run.end_user_id,
        )
    else:  # a retried activity: the earlier clear token is gone, this one replaces it
        row.token_hash = token_hash(token)
    session.add(row)
    if run.status == "running":
        run.status = "paused"
        session.add(run)
    session.commit()
    return row.id


def close_form(session: Session, run_id: str, node_run_id: str, outcome: str) -> None:
    """The node stopped waiting (``submitted`` or ``timeout``): record it on a form still
    open and put the run back to running when no other form of it waits."""
    # A timeout also overrides a claim the run never received (it raced the timer).
    open_statuses = ("waiting", "submitted") if outcome == "timeout" else ("waiting",)
    session.exec(
        update(HumanInputForm)
        .where(
            col(HumanInputForm.run_id) == run_id,
            col(HumanInputForm.node_run_id) == node_run_id,
            col(HumanInputForm.status).in_(open_statuses),
        )
        .values(status=outcome)
    )
    run = session.get(WorkflowRun, run_id)
    still = session.exec(
        select(HumanInputForm.id).where(
            HumanInputForm.run_id == run_id, HumanInputForm.status == "waiting"
        )
    ).first()
    if run is not None and run.status == "paused" and still is None:
        run.status = "running"
        session.add(run)
    session.commit()


def stop_forms(session: Session, run_id: str) -> None:
    """The run ended: forms still open are closed as ``stopped`` (committed by the caller)."""
    session.exec(
        update(HumanInputForm)
        .where(col(HumanInputForm.run_id) == run_id, col(HumanInputForm.status) == "waiting")
        .values(status="stopped")
    )


def form_by_token(session: Session, token: str) -> HumanInputForm | None:
    """The form a token opens."""
    query = select(HumanInputForm).where(HumanInputForm.token_hash == token_hash(token))
    return session.exec(query).first()


def tenant_form(session: Session, tenant_id: str, form_id: str) -> HumanInputForm | None:
    """One of the tenant's forms."""
    form = session.get(HumanInputForm, form_id)
    return form if form is not None and form.tenant_id == tenant_id else None


def list_forms(
    session: Session, tenant_id: str, app_id: str | None, status: str | None, limit: int = 100
) -> list[HumanInputForm]:
    """The tenant's forms, newest first, by app and status."""
    conditions: list[ColumnElement[bool]] = [col(HumanInputForm.tenant_id) == tenant_id]
    if app_id:
        conditions.append(col(HumanInputForm.app_id) == app_id)
    if status:
        conditions.append(col(HumanInputForm.status) == status)
    query = (
        select(HumanInputForm)
        .where(*conditions)
        .order_by(col(HumanInputForm.created_at).desc())
        .limit(limit)
    )
    return list(session.exec(query))


def claim_form(
    session: Session, form_id: str, action: str, data: dict[str, Any]
) -> HumanInputForm | None:
    """``waiting`` -> ``submitted`` with the submission, atomically; None when the form was
    not waiting (submitted meanwhile, timed out, stopped)."""
    result = session.exec(
        update(HumanInputForm)
        .where(col(HumanInputForm.id) == form_id, col(HumanInputForm.status) == "waiting")
        .values(status="submitted", action_id=action, submitted_data=data, submitted_at=utcnow())
    )
    session.commit()
    if result.rowcount != 1:
        return None
    return session.get(HumanInputForm, form_id)


def release_form(session: Session, form_id: str) -> None:
    """A claimed submission the run refused (it no longer waits): the form is closed."""
    session.exec(
        update(HumanInputForm)
        .where(col(HumanInputForm.id) == form_id, col(HumanInputForm.status) == "submitted")
        .values(status="stopped")
    )
    session.commit()


def is_expired(form: HumanInputForm) -> bool:
    """The form's time is up (its run's timer fires at that moment)."""
    expires = form.expires_at
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires <= datetime.now(UTC)
