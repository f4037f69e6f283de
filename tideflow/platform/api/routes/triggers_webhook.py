"""Webhook triggers: ``/triggers/webhook/{webhook_id}`` starts a run of the app's newest
published version, and the console reads the URL and manages the signing secret.

The request is refused, before any run starts, when the webhook is unknown or disabled (404),
the method or content type differs from the node's (405, 415, each naming both), the body is
over ``TIDEFLOW_WEBHOOK_MAX_BODY_BYTES`` (413, read no further than the limit), a signed
webhook's signature is missing, stale or forged (401, see ``tideflow.platform.webhooks``), or a
declared parameter is missing or of the wrong type (400 naming it).

Responses. By default (Dify's behaviour, ``response_mode`` absent or ``async``) the node's
``status_code`` (202 when it sets none) and ``response_body`` (JSON as is, other text as
``{"message": text}``) are answered as soon as the run has started. ``data.response_mode:
"sync"`` (a Tideflow extension) waits for the run and answers the blocking run body
(``{task_id, workflow_run_id, data: {status, outputs, ...}}``) with the node's status code.
Either way the ``X-Tideflow-Run-Id`` header names the run.

Redelivery. A request carrying a delivery id (``X-Tideflow-Delivery``, ``X-GitHub-Delivery``
or ``Idempotency-Key``) already seen by this webhook starts nothing: it gets the first run's
answer (with ``X-Tideflow-Duplicate: true``).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from tideflow.platform import webhooks
from tideflow.platform.api.deps import RunServiceDep, SessionDep, SettingsDep, TenantApp
from tideflow.platform.api.errors import ApiError, invalid_param, not_found
from tideflow.platform.db.crud import apps, envvars
from tideflow.platform.db.crud import runs as run_crud
from tideflow.platform.db.models import App, WorkflowRun
from tideflow.platform.db.trigger_models import WebhookTrigger
from tideflow.platform.drafts import runnable_plan, secret_values
from tideflow.platform.runs.launch import new_run
from tideflow.platform.runs.service import RunService
from tideflow.platform.runs.views import run_response
from tideflow.platform.settings import Settings
from tideflow.platform.uploads import file_object, store_upload
from tideflow.platform.webhook_inputs import WebhookRequest, webhook_inputs
from tideflow.workflows.graph.plan import ExecutionPlan, PlanNode
from tideflow.workflows.nodes.trigger_webhook import content_type_of, method_of

router = APIRouter(tags=["triggers: webhook"])
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
WEBHOOK_USER = "webhook"
MAX_DELIVERY_ID = 200
# The run's inputs ride in its Temporal start request (2 MiB at most, with the plan).
MAX_INPUT_BYTES = 1024 * 1024


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to be over ``limit``."""
    too_large = ApiError(413, "request_too_large", f"the body is larger than {limit} bytes")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _check_request(data: dict[str, Any], request: Request, body: bytes) -> None:
    expected = method_of(data)
    if request.method.lower() != expected:
        message = f"method {request.method} is not accepted; this webhook takes {expected.upper()}"
        raise ApiError(405, "method_not_allowed", message)
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    wanted = content_type_of(data)
    if (body or data.get("body")) and sent != wanted:
        message = f"content type {sent or '(none)'} is not accepted; this webhook takes {wanted}"
        raise ApiError(415, "unsupported_media_type", message)


def _configured_body(node: PlanNode) -> Any:
    body = node.data.get("response_body")
    if body is None or body == "":
        return {"message": "Webhook received"}
    if not isinstance(body, str):
        return body
    try:
        return json.loads(body)
    except ValueError:
        return {"message": body}


async def _answer(
    runs: RunService, row: WorkflowRun, node: PlanNode, secrets: tuple[str, ...], duplicate: bool
) -> Response:
    headers = {"X-Tideflow-Run-Id": row.id}
    if duplicate:
        headers["X-Tideflow-Duplicate"] = "true"
    sync = node.data.get("response_mode") == "sync"
    # The node's status code; without one, 200 with the finished run, 202 Accepted at once.
    status = int(node.data.get("status_code") or (200 if sync else 202))
    if sync:
        ended = run_response(await runs.wait(row), secrets)
        return JSONResponse(ended.model_dump(), status_code=status, headers=headers)
    return JSONResponse(_configured_body(node), status_code=status, headers=headers)


def _published(session: SessionDep, webhook_id: str) -> tuple[WebhookTrigger, App, Any]:
    row = webhooks.find_webhook(session, webhook_id)
    app = session.get(App, row.app_id) if row is not None else None
    version = apps.latest_version(session, app) if app is not None else None
    if row is None or app is None or version is None:
        raise not_found("webhook")
    return row, app, version


async def receive_webhook(
    webhook_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    runs: RunServiceDep,
) -> Response:
    """Start a run of the webhook's app from this request (see the module doc)."""
    row, app, version = _published(session, webhook_id)
    variables = envvars.list_env(session, app)
    plan = runnable_plan(ExecutionPlan.model_validate(version.plan), variables, settings.secret_key)
    node = plan.nodes[plan.root_id]
    if webhooks.webhook_root(plan) is None:
        raise not_found("webhook")
    body = await _read_body(request, settings.webhook_max_body_bytes)
    headers = {k.lower(): v for k, v in request.headers.items()}
    problem = webhooks.signature_problem(settings, row, headers, body)
    if problem is not None:
        raise ApiError(401, "invalid_signature", problem)
    secrets = secret_values(variables, settings.secret_key)
    delivery_id = webhooks.delivery_id_of(headers)
    if delivery_id is not None:
        if len(delivery_id) > MAX_DELIVERY_ID:
            raise invalid_param(f"the delivery id is longer than {MAX_DELIVERY_ID} characters")
        earlier = webhooks.earlier_delivery(session, row, delivery_id)
        key = webhooks.delivery_key(row, delivery_id)
        found = (
            run_crud.get_run(session, app, earlier)
            if earlier
            else run_crud.idempotent_run(session, app.id, key)
        )
        if found is not None:
            return await _answer(runs, found, node, secrets, duplicate=True)
    _check_request(node.data, request, body)
    user = run_crud.end_user(session, app, WEBHOOK_USER)

    async def store(name: str, mime: str | None, content: bytes) -> dict[str, Any]:
        return file_object(store_upload(session, settings, app, user, name, mime, content))

    parsed = WebhookRequest(request.method, headers, request.query_params.multi_items(),
                            body, dict(request.scope))  # fmt: skip
    inputs = await webhook_inputs(node.data, parsed, store)
    size = len(json.dumps(inputs, ensure_ascii=False, default=str).encode())
    if size > MAX_INPUT_BYTES:
        message = (
            f"the request's values are {size} bytes of JSON, over the {MAX_INPUT_BYTES} a run takes"
        )
        raise ApiError(413, "request_too_large", message)
    key = webhooks.delivery_key(row, delivery_id) if delivery_id else None
    start = new_run(app, plan, version, inputs, user=WEBHOOK_USER, end_user_id=user.id,
                    idempotency_key=key, triggered_from="webhook")  # fmt: skip
    # The delivery's idempotency key makes a concurrent redelivery find this run (claim_run).
    run, created = await runs.start(start)
    if delivery_id is not None and created:
        webhooks.record_delivery(session, row, delivery_id, run.id)
    return await _answer(runs, run, node, secrets, duplicate=not created)


# One route per method, so that each has its own OpenAPI operation id.
for _method in METHODS:
    router.add_api_route(
        "/triggers/webhook/{webhook_id}",
        receive_webhook,
        methods=[_method],
        response_model=None,
        name=f"receive_webhook_{_method.lower()}",
    )


def _app_webhook(session: SessionDep, app: App) -> WebhookTrigger:
    row = webhooks.app_webhook(session, app)
    if row is None:
        raise not_found("webhook (publish a workflow whose root is a Webhook trigger)")
    return row


def _webhook_public(settings: Settings, row: WebhookTrigger) -> dict[str, Any]:
    return {
        "webhook_id": row.webhook_id,
        "url": webhooks.webhook_url(settings, row),
        "node_id": row.node_id,
        "enabled": row.enabled,
        "signed": row.encrypted_secret is not None,
    }


CONSOLE_PATH = "/console/api/apps/{app_id}/triggers/webhook"


@router.get(CONSOLE_PATH)
def get_webhook(app: TenantApp, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """The app's webhook URL and whether requests must be signed."""
    return _webhook_public(settings, _app_webhook(session, app))


@router.post(CONSOLE_PATH + "/secret", status_code=201)
def rotate_webhook_secret(
    app: TenantApp, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """A new signing secret (replacing any earlier one); shown this once only."""
    row = _app_webhook(session, app)
    secret = webhooks.rotate_secret(session, settings, row)
    return {**_webhook_public(settings, row), "secret": secret}


@router.delete(CONSOLE_PATH + "/secret")
def clear_webhook_secret(
    app: TenantApp, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Stop requiring signed requests."""
    row = _app_webhook(session, app)
    webhooks.clear_secret(session, row)
    return _webhook_public(settings, row)
