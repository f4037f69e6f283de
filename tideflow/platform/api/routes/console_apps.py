"""Console apps: list, create, get, delete; import and export Dify DSL."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from tideflow.platform import triggers
from tideflow.platform.api.deps import (
    CurrentTenant,
    SessionDep,
    SettingsDep,
    TemporalClientDep,
    TenantApp,
)
from tideflow.platform.api.errors import ApiError, invalid_param
from tideflow.platform.api.schemas import MAX_PAGE, AppCreate, AppPublic, ImportBody, page_of
from tideflow.platform.db.crud import apps, envvars
from tideflow.platform.drafts import (
    compile_checked,
    draft_problems,
    draft_text,
    load_draft,
    parse_dsl,
    problem_list,
    split_env,
    with_env,
)
from tideflow.workflows.graph import export_dsl, load_app

router = APIRouter(prefix="/console/api/apps", tags=["console: apps"])
MAX_DSL_BYTES = 10 * 1024 * 1024


@router.get("")
def list_apps(
    session: SessionDep,
    tenant: CurrentTenant,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The workspace's apps, newest first."""
    rows, total = apps.list_apps(session, tenant.id, page, limit)
    return page_of([AppPublic.of(a) for a in rows], page, limit, total)


@router.post("", status_code=201)
def create_app(body: AppCreate, session: SessionDep, tenant: CurrentTenant) -> AppPublic:
    """An app whose draft is a lone start node."""
    graph = {"nodes": [{"id": "start", "data": {"type": "start", "title": "Start"}}], "edges": []}
    doc = load_app({"graph": graph}).model_copy(
        update={"name": body.name, "mode": body.mode, "description": body.description}
    )
    row = apps.create_app(
        session,
        tenant.id,
        name=body.name,
        mode=body.mode,
        description=body.description,
        draft_dsl=draft_text(doc),
    )
    return AppPublic.of(row)


@router.get("/{app_id}")
def get_app(app: TenantApp) -> AppPublic:
    """One app."""
    return AppPublic.of(app)


@router.delete("/{app_id}", status_code=204)
async def delete_app(
    app: TenantApp, session: SessionDep, settings: SettingsDep, client: TemporalClientDep
) -> Response:
    """The app with its versions, runs, keys and variables; its webhook and schedule go."""
    await triggers.on_unpublish(session, settings, client, app)
    apps.delete_app(session, app)
    return Response(status_code=204)


async def _import_text(request: Request) -> tuple[str, ImportBody]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_part_size=MAX_DSL_BYTES)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise invalid_param("file: upload the DSL as the multipart field 'file'")
        raw = await upload.read()
        return raw.decode("utf-8", errors="replace"), ImportBody(name=_str(form.get("name")))
    if content_type.startswith("application/json"):
        body = _import_body(await request.body())
        if body.mode == "yaml-url":
            raise invalid_param("mode: yaml-url is not supported; send yaml_content")
        return body.yaml_content, body
    raw = await request.body()
    return raw.decode("utf-8", errors="replace"), ImportBody()


def _import_body(raw: bytes) -> ImportBody:
    """The JSON import body; 400 ``invalid_param`` naming the field when it does not fit."""
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise invalid_param(f"body: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise invalid_param("body: expected a JSON object with yaml_content")
    try:
        return ImportBody.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise invalid_param(f"{field}: {first['msg']}") from None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@router.post("/imports", status_code=201)
async def import_app(
    request: Request, session: SessionDep, tenant: CurrentTenant, settings: SettingsDep
) -> dict[str, Any]:
    """Import Dify DSL: multipart ``file``, JSON ``{yaml_content}``, or the YAML as the body.

    A file whose graph cannot compile is refused (400 ``invalid_dsl`` listing its problems);
    one that compiles but would not run yet (a node type not implemented) is kept, with its
    problems listed.
    """
    text, body = await _import_text(request)
    if not text.strip():
        raise invalid_param("yaml_content: the DSL is empty")
    doc = parse_dsl(text)
    compile_checked(doc)  # a graph that cannot compile is refused, naming its problems
    if body.name or body.description is not None:
        doc = doc.model_copy(
            update={"name": body.name or doc.name, "description": body.description or ""}
        )
    bare, env = split_env(doc)
    row = apps.create_app(
        session,
        tenant.id,
        name=doc.name or "Imported app",
        mode=doc.mode,
        description=doc.description,
        draft_dsl=export_dsl(bare),
    )
    envvars.replace_env(session, row, env, settings.secret_key)
    return {
        "status": "completed",
        "app_id": row.id,
        "app_mode": row.mode,
        "problems": problem_list(draft_problems(doc)),
    }


@router.get("/{app_id}/export")
def export_app(
    app: TenantApp, session: SessionDep, settings: SettingsDep, include_secret: bool = False
) -> dict[str, Any]:
    """The draft as Dify DSL (secret values blank unless ``include_secret``)."""
    variables = envvars.list_env(session, app)
    secrets = "clear" if include_secret else "blank"
    doc = with_env(load_draft(app), variables, settings.secret_key, secrets=secrets)
    return {"data": export_dsl(doc)}


def refuse_mode(app_mode: str, wanted: str) -> None:
    """400 when the app is not of the mode an endpoint serves."""
    if app_mode != wanted:
        code = "not_workflow_app" if wanted == "workflow" else "not_chat_app"
        raise ApiError(400, code, f"this endpoint serves {wanted} apps; the app is {app_mode}")
