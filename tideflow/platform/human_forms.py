"""Submitting a human-input form: check it, claim it once, deliver it to the waiting run.

The service API (by token) and the console inbox (by id) both submit through ``submit``.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from tideflow.platform.api.errors import ApiError
from tideflow.platform.db.crud import forms
from tideflow.platform.db.models import App
from tideflow.platform.db.trigger_models import HumanInputForm
from tideflow.platform.runs.views import unix
from tideflow.platform.uploads import resolve_files
from tideflow.workflows.engine.models import SUBMIT_HUMAN_INPUT, HumanInputSubmission
from tideflow.workflows.nodes._common import as_dict, as_list
from tideflow.workflows.nodes._human_form import check_files, check_submission
from tideflow.workflows.nodes.spec import ConfigProblems


def definition(form: HumanInputForm) -> dict[str, Any]:
    """Dify's form definition (``GET /form/human_input/{token}``)."""
    stored = form.definition
    return {
        "form_content": form.rendered_content,
        "inputs": stored.get("inputs", []),
        "resolved_default_values": stored.get("resolved_default_values", {}),
        "user_actions": stored.get("user_actions", []),
        "expiration_time": unix(form.expires_at),
    }


def public(form: HumanInputForm) -> dict[str, Any]:
    """A form in the console inbox."""
    return {
        "id": form.id,
        "app_id": form.app_id,
        "workflow_run_id": form.run_id,
        "node_id": form.node_id,
        "node_title": form.node_title,
        "status": form.status,
        **definition(form),
        "action_id": form.action_id,
        "submitted_data": form.submitted_data,
        "submitted_at": unix(form.submitted_at),
        "created_at": unix(form.created_at),
    }


def _with_files(
    session: Session, form: HumanInputForm, inputs: dict[str, Any]
) -> tuple[dict[str, Any], ConfigProblems]:
    """The submission with its file inputs made file objects (an upload named by
    ``upload_file_id`` becomes the app's stored file), and their problems (type, extension,
    upload method)."""
    app = session.get(App, form.app_id)
    resolved, problems = dict(inputs), ConfigProblems()
    for item in (as_dict(i) for i in as_list(form.definition.get("inputs"))):
        name, kind = str(item.get("output_variable_name") or ""), item.get("type")
        if kind not in ("file", "file-list") or name not in inputs or app is None:
            continue
        field = f"inputs.{name}"
        given = inputs[name] if kind == "file-list" else [inputs[name]]
        try:
            files = resolve_files(session, app, list(given), field)
        except ApiError as err:
            problems.append((field, err.message))
            continue
        problems += check_files(item, field, files)
        resolved[name] = files if kind == "file-list" else files[0]
    return resolved, problems


def closed_error(form: HumanInputForm) -> ApiError | None:
    """412 for a form that takes no submission any more (None while it waits)."""
    if form.status == "submitted":
        return ApiError(412, "human_input_form_submitted", "the form has already been submitted")
    if form.status != "waiting" or forms.is_expired(form):
        return ApiError(412, "human_input_form_expired", f"the form is closed ({form.status})")
    return None


async def submit(
    session: Session, client: Client, form: HumanInputForm, action: str, inputs: dict[str, Any]
) -> None:
    """Check, claim (``waiting`` -> ``submitted``, once) and deliver a submission.

    Raises ApiError: 412 when the form is closed or was claimed first, 400 naming the field
    for a bad action or input, 409 when the run no longer waits for it.
    """
    error = closed_error(form)
    if error is not None:
        raise error
    problems = check_submission(form.definition, action, inputs)
    if not problems:
        inputs, problems = await run_in_threadpool(_with_files, session, form, inputs)
    if problems:
        text = "; ".join(f"{field}: {message}" for field, message in problems)
        raise ApiError(400, "invalid_form_data", text)
    claimed = await run_in_threadpool(forms.claim_form, session, form.id, action, inputs)
    if claimed is None:
        raise ApiError(412, "human_input_form_submitted", "the form has already been submitted")
    submission = HumanInputSubmission(key=form.node_run_id, action=action, inputs=inputs)
    handle = client.get_workflow_handle(form.workflow_id)
    try:
        await handle.execute_update(SUBMIT_HUMAN_INPUT, submission, result_type=dict)  # pyright: ignore[reportUnknownMemberType]
    except (WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError) as err:
        await run_in_threadpool(forms.release_form, session, form.id)
        raise ApiError(
            409, "human_input_form_closed", f"the run no longer waits for this form: {err}"
        ) from err
