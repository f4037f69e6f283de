"""Human-input forms: Dify's ``/v1/form/human_input/{form_token}`` (the app's key plus the
form's token) and the console inbox of a workspace's forms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tideflow.platform import human_forms
from tideflow.platform.api.deps import CurrentApp, CurrentTenant, SessionDep, TemporalClientDep
from tideflow.platform.api.errors import not_found
from tideflow.platform.db.crud import forms
from tideflow.platform.db.trigger_models import HumanInputForm

router = APIRouter(tags=["service: human input"])


class FormSubmission(BaseModel):
    """A person's answer: the input values by output variable name and the chosen action."""

    inputs: dict[str, Any] = Field(default_factory=dict[str, Any])
    action: str = Field(min_length=1, max_length=64)
    user: str = ""


def _app_form(session: SessionDep, app_id: str, form_token: str) -> HumanInputForm:
    form = forms.form_by_token(session, form_token)
    if form is None or form.app_id != app_id:
        raise not_found("form")
    return form


@router.get("/v1/form/human_input/{form_token}")
def get_form(form_token: str, app: CurrentApp, session: SessionDep) -> dict[str, Any]:
    """The form to fill in; 412 once it was submitted or has expired."""
    form = _app_form(session, app.id, form_token)
    error = human_forms.closed_error(form)
    if error is not None:
        raise error
    return human_forms.definition(form)


@router.post("/v1/form/human_input/{form_token}")
async def submit_form(
    form_token: str,
    body: FormSubmission,
    app: CurrentApp,
    session: SessionDep,
    client: TemporalClientDep,
) -> dict[str, Any]:
    """Submit the form once: the run goes on along the action's branch."""
    form = _app_form(session, app.id, form_token)
    await human_forms.submit(session, client, form, body.action, body.inputs)
    return {}


@router.get("/console/api/human-input/forms")
def list_forms(
    tenant: CurrentTenant,
    session: SessionDep,
    app_id: str | None = None,
    status: str | None = "waiting",
) -> dict[str, Any]:
    """The workspace's forms, newest first (waiting ones unless ``status`` says otherwise;
    ``status=`` empty lists all)."""
    rows = forms.list_forms(session, tenant.id, app_id, status or None)
    return {"data": [human_forms.public(form) for form in rows]}


@router.get("/console/api/human-input/forms/{form_id}")
def get_inbox_form(form_id: str, tenant: CurrentTenant, session: SessionDep) -> dict[str, Any]:
    """One of the workspace's forms."""
    form = forms.tenant_form(session, tenant.id, form_id)
    if form is None:
        raise not_found("form")
    return human_forms.public(form)


@router.post("/console/api/human-input/forms/{form_id}/submit")
async def submit_inbox_form(
    form_id: str,
    body: FormSubmission,
    tenant: CurrentTenant,
    session: SessionDep,
    client: TemporalClientDep,
) -> dict[str, Any]:
    """Submit one of the workspace's forms from the console."""
    form = forms.tenant_form(session, tenant.id, form_id)
    if form is None:
        raise not_found("form")
    await human_forms.submit(session, client, form, body.action, body.inputs)
    return {"result": "success"}
