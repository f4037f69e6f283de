"""Console drafts and versions: save a draft (with its problems), publish, list, restore, and
test-run the draft with pins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from tideflow.platform import triggers
from tideflow.platform.api.deps import (
    CurrentAccount,
    RunServiceDep,
    SessionDep,
    SettingsDep,
    TemporalClientDep,
    TenantApp,
)
from tideflow.platform.api.errors import not_found
from tideflow.platform.api.routes.service_workflows import respond
from tideflow.platform.api.schemas import DraftBody, DraftRunBody, VersionPublic
from tideflow.platform.db.crud import apps, envvars
from tideflow.platform.drafts import (
    check_inputs,
    compile_checked,
    draft_problems,
    draft_text,
    invalid_dsl,
    load_draft,
    parse_dsl,
    problem_list,
    runnable_plan,
    secret_values,
    with_env,
)
from tideflow.platform.runs.launch import new_run
from tideflow.platform.runs.views import WorkflowRunResponse, run_response, unix
from tideflow.platform.tool_providers import tenant_tool_problems
from tideflow.platform.uploads import resolve_inputs
from tideflow.workflows.graph.export import workflow_mapping

router = APIRouter(prefix="/console/api/apps/{app_id}/workflows", tags=["console: workflows"])


@router.get("/draft")
def get_draft(app: TenantApp, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """The draft graph, features and variables (secrets masked) with its problems."""
    variables = envvars.list_env(session, app)
    doc = with_env(load_draft(app), variables, settings.secret_key)
    workflow = workflow_mapping(doc)
    return {
        **workflow,
        "problems": problem_list(draft_problems(doc)),
        "updated_at": unix(app.updated_at),
    }


@router.post("/draft")
def save_draft(
    body: DraftBody, app: TenantApp, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Save the graph; it is saved even when it has problems, which are listed per node."""
    source = {
        "kind": "app",
        "version": "0.6.0",
        "app": {"name": app.name, "mode": app.mode, "description": app.description},
        "workflow": {
            "graph": body.graph,
            "features": body.features,
            "conversation_variables": body.conversation_variables,
            "environment_variables": [],
        },
    }
    doc = parse_dsl(source)
    apps.save_draft(session, app, draft_text(doc))
    full = with_env(doc, envvars.list_env(session, app), settings.secret_key)
    return {"result": "success", "problems": problem_list(draft_problems(full))}


@router.post("/publish", status_code=201)
async def publish(
    app: TenantApp, session: SessionDep, settings: SettingsDep, client: TemporalClientDep
) -> dict[str, Any]:
    """A new immutable version from the draft; refused (400) while the draft has problems.
    The app's webhook and schedule follow the new version (``tideflow.platform.triggers``)."""
    variables = envvars.list_env(session, app)
    doc = with_env(load_draft(app), variables, settings.secret_key, secrets="blank")
    problems = draft_problems(doc) or tenant_tool_problems(session, app.tenant_id, doc)
    if problems:
        raise invalid_dsl(problems, "the draft")
    plan = compile_checked(doc)
    version = apps.publish_version(
        session,
        app,
        plan=plan.model_dump(mode="json"),
        plan_hash=plan.content_hash(),
        dsl=app.draft_dsl,
    )
    await triggers.on_publish(session, settings, client, app, plan)
    return {"result": "success", "version": VersionPublic.of(version)}


@router.delete("/publish")
async def unpublish(
    app: TenantApp, session: SessionDep, settings: SettingsDep, client: TemporalClientDep
) -> dict[str, Any]:
    """Take the app's triggers down: its webhook stops answering, its schedule is deleted.
    Its versions stay (the service API still runs the newest); publishing again restores them."""
    await triggers.on_unpublish(session, settings, client, app)
    return {"result": "success"}


@router.get("")
def list_versions(app: TenantApp, session: SessionDep) -> dict[str, Any]:
    """Published versions, newest first."""
    return {"data": [VersionPublic.of(v) for v in apps.list_versions(session, app)]}


@router.post("/{version_id}/restore")
def restore(version_id: str, app: TenantApp, session: SessionDep) -> dict[str, Any]:
    """Put a published version's graph back into the draft."""
    version = apps.get_version(session, app, version_id)
    if version is None:
        raise not_found("version")
    apps.save_draft(session, app, version.dsl)
    return {"result": "success", "version": VersionPublic.of(version)}


@router.post("/draft/run", response_model=WorkflowRunResponse)
async def run_draft(
    body: DraftRunBody,
    app: TenantApp,
    account: CurrentAccount,
    session: SessionDep,
    settings: SettingsDep,
    runs: RunServiceDep,
    _client: TemporalClientDep,
) -> Response | WorkflowRunResponse:
    """Run the draft once (pins stand in for nodes' outputs): wait for its end, or stream its
    events (``response_mode: streaming``, the service API's SSE)."""
    variables = envvars.list_env(session, app)
    doc = with_env(load_draft(app), variables, settings.secret_key, secrets="blank")
    problems = draft_problems(doc, pinned=tuple(body.pins), mock_external=body.mock_external)
    if problems:
        raise invalid_dsl(problems, "the draft")
    plan = runnable_plan(compile_checked(doc), variables, settings.secret_key)
    check_inputs(plan, body.inputs)
    # As on /v1: a file input names one of this app's uploads, never a stored file directly.
    inputs = resolve_inputs(session, app, plan, body.inputs)
    start = new_run(
        app,
        plan,
        None,
        inputs,
        account_id=account.id,
        triggered_from="debugging",
        pins=body.pins,
        mock_external=body.mock_external,
        user=account.id,
    )
    secrets = secret_values(variables, settings.secret_key)
    if body.response_mode == "streaming":
        return await respond(runs, start, secrets, "streaming", session)
    row, _ = await runs.start(start)
    ended = await runs.wait(row)
    return run_response(ended, secrets)
