"""``/triggers/webhook/{id}``: a published app whose root is a Webhook trigger runs from HTTP
requests (real API, real Temporal worker, SQLite)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from sqlmodel import Session, col, func, select

from tests.api.conftest import Api
from tideflow.platform.db.models import WorkflowRun
from tideflow.platform.db.session import get_engine
from tideflow.platform.db.trigger_models import WebhookTrigger
from tideflow.platform.security import encrypt_secret
from tideflow.platform.webhooks import sign


def _graph(hook: dict[str, Any], outputs: list[str]) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "hook", "data": {"type": "trigger-webhook", "title": "Hook", **hook}},
            {
                "id": "end",
                "data": {
                    "type": "end",
                    "outputs": [
                        {"variable": name, "value_selector": ["hook", name]} for name in outputs
                    ],
                },
            },
        ],
        "edges": [{"id": "e1", "source": "hook", "target": "end"}],
    }


JSON_HOOK = {
    "method": "post",
    "content_type": "application/json",
    "response_mode": "sync",
    "headers": [{"name": "X-Source", "type": "string", "required": True}],
    "params": [{"name": "page", "type": "number", "required": False}],
    "body": [
        {"name": "name", "type": "string", "required": True},
        {"name": "count", "type": "number", "required": True},
        {"name": "tags", "type": "array[string]", "required": False},
    ],
}
JSON_OUTPUTS = ["X_Source", "page", "name", "count", "tags"]


async def _publish(api: Api, hook: dict[str, Any], outputs: list[str]) -> tuple[str, str]:
    """Import and publish an app whose root is ``hook``; (app id, webhook path)."""
    dsl = {
        "kind": "app",
        "version": "0.3.0",
        "app": {"mode": "workflow", "name": "hooked"},
        "workflow": {"graph": _graph(hook, outputs)},
    }
    imported = await api.http.post(
        "/console/api/apps/imports", json={"yaml_content": json.dumps(dsl)}, headers=api.console
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["problems"] == []
    app_id: str = imported.json()["app_id"]
    published = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/publish", headers=api.console
    )
    assert published.status_code == 201, published.text
    info = await api.http.get(f"/console/api/apps/{app_id}/triggers/webhook", headers=api.console)
    assert info.status_code == 200, info.text
    assert info.json()["enabled"] is True
    return app_id, f"/triggers/webhook/{info.json()['webhook_id']}"


def _runs(api: Api, app_id: str) -> int:
    with Session(get_engine(api.settings.db_url)) as session:
        query = select(func.count()).where(
            col(WorkflowRun.app_id) == app_id, col(WorkflowRun.triggered_from) == "webhook"
        )
        return int(session.exec(query).one())


async def test_json_body_query_and_header_become_typed_outputs(api: Api) -> None:
    _app_id, path = await _publish(api, JSON_HOOK, JSON_OUTPUTS)
    response = await api.http.post(
        path + "?page=3",
        json={"name": "Ada", "count": 2, "tags": ["a", "b"]},
        headers={"X-Source": "crm"},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["status"] == "succeeded", data
    assert data["outputs"] == {
        "X_Source": "crm",
        "page": 3,
        "name": "Ada",
        "count": 2,
        "tags": ["a", "b"],
    }
    assert response.headers["X-Tideflow-Run-Id"] == response.json()["workflow_run_id"]


async def test_form_and_text_bodies(api: Api) -> None:
    form_hook = {
        "content_type": "application/x-www-form-urlencoded",
        "response_mode": "sync",
        "body": [
            {"name": "age", "type": "number", "required": True},
            {"name": "ok", "type": "boolean", "required": True},
            {"name": "ids", "type": "array[number]", "required": False},
        ],
    }
    _app_id, path = await _publish(api, form_hook, ["age", "ok", "ids"])
    response = await api.http.post(path, content="age=41&ok=true&ids=1&ids=2", headers={
        "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["data"]["outputs"] == {"age": 41, "ok": True, "ids": [1, 2]}

    text_hook = {
        "content_type": "text/plain",
        "response_mode": "sync",
        "body": [{"name": "text", "type": "string", "required": True}],
    }
    _app_id, path = await _publish(api, text_hook, ["text", "_webhook_raw"])
    response = await api.http.put(path, content="héllo", headers={"Content-Type": "text/plain"})
    assert response.status_code == 405, response.text
    assert "PUT" in response.json()["message"] and "POST" in response.json()["message"]
    response = await api.http.post(path, content="héllo", headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    outputs = response.json()["data"]["outputs"]
    assert outputs["text"] == "héllo"
    assert outputs["_webhook_raw"]["method"] == "POST"
    assert outputs["_webhook_raw"]["body"] == {"raw": "héllo"}


async def test_async_answer_and_one_run_per_delivery(api: Api) -> None:
    # No status_code: an asynchronous answer is 202 Accepted.
    hook = {**JSON_HOOK, "response_mode": "async", "response_body": "queued"}
    app_id, path = await _publish(api, hook, JSON_OUTPUTS)
    body = {"name": "Ada", "count": 1}
    headers = {"X-Source": "gh", "X-GitHub-Delivery": "d-1"}
    first, second = await asyncio.gather(
        api.http.post(path, json=body, headers=headers),
        api.http.post(path, json=body, headers=headers),
    )
    third = await api.http.post(path, json=body, headers=headers)
    for response in (first, second, third):
        assert response.status_code == 202, response.text
        assert response.json() == {"message": "queued"}
    run_ids = {r.headers["X-Tideflow-Run-Id"] for r in (first, second, third)}
    assert len(run_ids) == 1
    assert third.headers["X-Tideflow-Duplicate"] == "true"
    assert _runs(api, app_id) == 1
    other = await api.http.post(path, json=body, headers={**headers, "X-GitHub-Delivery": "d-2"})
    assert other.status_code == 202
    assert _runs(api, app_id) == 2


async def test_signed_webhook_refuses_forged_and_stale_requests(api: Api) -> None:
    app_id, path = await _publish(api, JSON_HOOK, JSON_OUTPUTS)
    created = await api.http.post(
        f"/console/api/apps/{app_id}/triggers/webhook/secret", headers=api.console
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    info = await api.http.get(f"/console/api/apps/{app_id}/triggers/webhook", headers=api.console)
    assert info.json()["signed"] is True and "secret" not in info.json()

    raw = json.dumps({"name": "Ada", "count": 1}).encode()
    now = str(int(time.time()))
    base = {"Content-Type": "application/json", "X-Source": "s"}

    async def send(timestamp: str, signature: str | None) -> Any:
        extra = {"X-Tideflow-Timestamp": timestamp}
        if signature is not None:
            extra["X-Tideflow-Signature"] = signature
        return await api.http.post(path, content=raw, headers={**base, **extra})

    forged = await send(now, sign("not-the-secret", now, raw))
    assert forged.status_code == 401, forged.text
    assert forged.json()["code"] == "invalid_signature"
    assert "X-Tideflow-Signature" in forged.json()["message"]
    missing = await send(now, None)
    assert missing.status_code == 401 and "missing" in missing.json()["message"]
    stale_at = str(int(time.time()) - 3600)
    stale = await send(stale_at, sign(secret, stale_at, raw))
    assert stale.status_code == 401 and "X-Tideflow-Timestamp" in stale.json()["message"]
    assert _runs(api, app_id) == 0

    good = await send(now, sign(secret, now, raw))
    assert good.status_code == 200, good.text
    assert good.json()["data"]["outputs"]["name"] == "Ada"

    # A secret stored under another TIDEFLOW_SECRET_KEY: refused plainly, never a 500.
    with Session(get_engine(api.settings.db_url)) as session:
        row = session.exec(select(WebhookTrigger).where(WebhookTrigger.app_id == app_id)).one()
        row.encrypted_secret = encrypt_secret(secret, "an-older-key")
        session.add(row)
        session.commit()
    unreadable = await send(now, sign(secret, now, raw))
    assert unreadable.status_code == 401 and "set a new one" in unreadable.json()["message"]

    cleared = await api.http.delete(
        f"/console/api/apps/{app_id}/triggers/webhook/secret", headers=api.console
    )
    assert cleared.status_code == 200 and cleared.json()["signed"] is False
    unsigned = await api.http.post(path, content=raw, headers=base)
    assert unsigned.status_code == 200, unsigned.text


async def test_bad_requests_name_what_is_wrong(api: Api) -> None:
    app_id, path = await _publish(api, JSON_HOOK, JSON_OUTPUTS)
    missing = await api.http.post(path, json={"count": 1}, headers={"X-Source": "s"})
    assert missing.status_code == 400, missing.text
    assert missing.json()["code"] == "invalid_param"
    assert "name" in missing.json()["message"]
    wrong = await api.http.post(path, json={"name": "A", "count": "x"}, headers={"X-Source": "s"})
    assert wrong.status_code == 400 and "count" in wrong.json()["message"]
    header = await api.http.post(path, json={"name": "A", "count": 1})
    assert header.status_code == 400 and "X-Source" in header.json()["message"]
    query = await api.http.post(path + "?page=abc", json={"name": "A", "count": 1},
                                headers={"X-Source": "s"})  # fmt: skip
    assert query.status_code == 400 and "page" in query.json()["message"]
    media = await api.http.post(path, content="name=A", headers={
        "Content-Type": "text/plain", "X-Source": "s"})  # fmt: skip
    assert media.status_code == 415 and "text/plain" in media.json()["message"]
    broken = await api.http.post(path, content="{", headers={
        "Content-Type": "application/json", "X-Source": "s"})  # fmt: skip
    assert broken.status_code == 400 and "JSON" in broken.json()["message"]
    big = b'{"name": "' + b"x" * (api.settings.webhook_max_body_bytes + 1) + b'"}'
    oversize = await api.http.post(path, content=big, headers={
        "Content-Type": "application/json", "X-Source": "s"})  # fmt: skip
    assert oversize.status_code == 413, oversize.text
    array = await api.http.post(path, json=[1, 2], headers={"X-Source": "s"})
    assert array.status_code == 400 and "name" in array.json()["message"]
    head = await api.http.head(path, headers={"X-Source": "s"})
    assert head.status_code == 405
    assert _runs(api, app_id) == 0
    unknown = await api.http.post("/triggers/webhook/nope", json={})
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"


async def test_republishing_keeps_the_url_and_a_start_root_disables_it(api: Api) -> None:
    app_id, path = await _publish(api, JSON_HOOK, JSON_OUTPUTS)
    start_graph = {
        "nodes": [
            {"id": "start", "data": {"type": "start", "variables": []}},
            {"id": "end", "data": {"type": "end", "outputs": []}},
        ],
        "edges": [{"id": "e1", "source": "start", "target": "end"}],
    }
    hook_graph = _graph(JSON_HOOK, JSON_OUTPUTS)
    publish = f"/console/api/apps/{app_id}/workflows/publish"
    draft = f"/console/api/apps/{app_id}/workflows/draft"
    for graph, expected in ((start_graph, 404), (hook_graph, 200)):
        saved = await api.http.post(draft, json={"graph": graph}, headers=api.console)
        assert saved.status_code == 200, saved.text
        published = await api.http.post(publish, headers=api.console)
        assert published.status_code == 201, published.text
        response = await api.http.post(path, json={"name": "A", "count": 1},
                                       headers={"X-Source": "s"})  # fmt: skip
        assert response.status_code == expected, response.text
    info = await api.http.get(f"/console/api/apps/{app_id}/triggers/webhook", headers=api.console)
    assert path.endswith(info.json()["webhook_id"]) and info.json()["enabled"] is True


async def test_multipart_file_chunked_oversize_and_app_delete(api: Api) -> None:
    hook = {
        "content_type": "multipart/form-data",
        "response_mode": "sync",
        "body": [
            {"name": "doc", "type": "file", "required": True},
            {"name": "note", "type": "string", "required": False},
        ],
    }
    app_id, path = await _publish(api, hook, ["doc", "note"])
    response = await api.http.post(
        path, files={"doc": ("a.txt", b"hello file", "text/plain")}, data={"note": "n"}
    )
    assert response.status_code == 200, response.text
    outputs = response.json()["data"]["outputs"]
    assert outputs["note"] == "n"
    assert outputs["doc"]["filename"] == "a.txt" and outputs["doc"]["size"] == 10

    limit = api.settings.webhook_max_body_bytes

    async def chunks() -> AsyncIterator[
        bytes
    ]:  # no Content-Length: the limit is found while reading
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    streamed = await api.http.post(
        path, content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert streamed.status_code == 413, streamed.text

    deleted = await api.http.delete(f"/console/api/apps/{app_id}", headers=api.console)
    assert deleted.status_code == 204, deleted.text
    gone = await api.http.post(path, files={"doc": ("a.txt", b"x", "text/plain")})
    assert gone.status_code == 404


def test_node_config_problems_name_the_field() -> None:
    from tideflow.workflows.nodes import NODE_SPECS

    spec = NODE_SPECS["trigger-webhook"]
    problems = spec.validate(
        {
            "method": "trace",
            "content_type": "text/plain",
            "body": [{"name": "f", "type": "file"}, {"type": "string"}],
            "params": [{"name": "q", "type": "number", "required": "yes"}],
            "status_code": 500,
        }
    )
    fields = [field for field, _message in problems]
    assert fields == [
        "method",
        "params[0].required",
        "body[0].type",
        "body[1].name",
        "status_code",
    ]
    assert spec.outputs({"headers": [{"name": "X-Sig"}], "params": [{"name": "q"}]}) == {
        "X_Sig",
        "q",
        "_webhook_raw",
    }
