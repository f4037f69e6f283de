"""Service API: stop, logs, versions, app info, bad keys, bad input, other tenants, modes."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.conftest import Api
from tests.api.test_service_runs import _run, _wait_status

SLOW_APP = """
app: {name: slow, mode: workflow}
kind: app
version: 0.3.1
workflow:
  graph:
    nodes:
      - id: start
        data: {type: start, title: Start, variables: []}
      - id: nap
        data:
          type: code
          title: Nap
          code_language: python3
          code: |
            import time
            def main() -> dict:
                time.sleep(8)
                return {"done": "yes"}
          variables: []
          outputs: {done: {type: string}}
      - id: end
        data:
          type: end
          title: End
          outputs: [{variable: done, value_selector: [nap, done]}]
    edges:
      - {source: start, target: nap}
      - {source: nap, target: end}
"""


async def _import_text(api: Api, text: str) -> str:
    response = await api.http.post(
        "/console/api/apps/imports", json={"yaml_content": text}, headers=api.console
    )
    assert response.status_code == 201, response.text
    app_id: str = response.json()["app_id"]
    published = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/publish", headers=api.console
    )
    assert published.status_code == 201, published.text
    return app_id


async def test_stop_cancels_the_run(api: Api) -> None:
    app_id = await _import_text(api, SLOW_APP)
    key = await api.app_key(app_id)
    started = await _run(api, key, {}, "async")
    run_id = started.json()["task_id"]
    await asyncio.sleep(1.0)
    stop = await api.http.post(
        f"/v1/workflows/tasks/{run_id}/stop", json={"user": "alice"}, headers=key
    )
    assert stop.status_code == 200 and stop.json() == {"result": "success"}
    body = await _wait_status(api, key, run_id)
    assert body["status"] == "stopped"
    missing = await api.http.post("/v1/workflows/tasks/nope/stop", json={}, headers=key)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_logs_filter_and_page(api: Api) -> None:
    app_id = await api.import_app("simple_passthrough_workflow.yml")
    key = await api.app_key(app_id)
    for word in ("apple", "banana", "cherry"):
        assert (await _run(api, key, {"query": word}, "blocking")).status_code == 200
    logs = (await api.http.get("/v1/workflows/logs", params={"limit": 2}, headers=key)).json()
    assert logs["total"] == 3 and logs["has_more"] is True and len(logs["data"]) == 2
    entry = logs["data"][0]
    assert entry["workflow_run"]["status"] == "succeeded"
    assert entry["created_by_end_user"]["session_id"] == "alice"
    found = await api.http.get("/v1/workflows/logs", params={"keyword": "banana"}, headers=key)
    assert found.json()["total"] == 1
    failed = await api.http.get("/v1/workflows/logs", params={"status": "failed"}, headers=key)
    assert failed.json()["total"] == 0
    before = await api.http.get(
        "/v1/workflows/logs", params={"created_at__before": "2000-01-01T00:00:00Z"}, headers=key
    )
    assert before.json()["total"] == 0
    after = await api.http.get(
        "/v1/workflows/logs", params={"created_at__after": "2000-01-01T00:00:00Z"}, headers=key
    )
    assert after.json()["total"] == 3
    bad = await api.http.get("/v1/workflows/logs", params={"status": "weird"}, headers=key)
    assert bad.status_code == 400 and "status" in bad.json()["message"]


async def test_run_a_given_version(api: Api) -> None:
    app_id = await api.import_app("simple_passthrough_workflow.yml")
    key = await api.app_key(app_id)
    versions = (
        await api.http.get(f"/console/api/apps/{app_id}/workflows", headers=api.console)
    ).json()["data"]
    version_id = versions[0]["id"]
    body = {"inputs": {"query": "v1"}, "user": "bob"}
    ran = await api.http.post(f"/v1/workflows/{version_id}/run", json=body, headers=key)
    assert ran.status_code == 200 and ran.json()["data"]["workflow_id"] == version_id
    unknown = await api.http.post("/v1/workflows/nope/run", json=body, headers=key)
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    draft = await api.http.post("/v1/workflows/draft/run", json=body, headers=key)
    assert draft.status_code == 400


async def test_parameters_info_meta(api: Api) -> None:
    app_id = await api.import_app("simple_passthrough_workflow.yml")
    key = await api.app_key(app_id)
    params = (await api.http.get("/v1/parameters", headers=key)).json()
    form = params["user_input_form"]
    assert (
        form
        == [
            {
                "text-input": {
                    "label": "query",
                    "variable": "query",
                    "required": True,
                    "default": "",
                    "max_length": None,
                    "options": [],
                }
            }
        ]
        or form[0]["text-input"]["variable"] == "query"
    )
    assert params["retriever_resource"] == {"enabled": True}
    assert "system_parameters" in params
    info = (await api.http.get("/v1/info", headers=key)).json()
    assert info["name"] == "echo" and info["mode"] == "workflow"
    assert (await api.http.get("/v1/meta", headers=key)).json() == {"tool_icons": {}}


async def test_unpublished_app_and_bad_input(api: Api) -> None:
    app_id = await api.import_app("simple_passthrough_workflow.yml", publish=False)
    key = await api.app_key(app_id)
    response = await _run(api, key, {"query": "x"}, "blocking")
    assert response.status_code == 400 and response.json()["code"] == "app_unavailable"
    await api.http.post(f"/console/api/apps/{app_id}/workflows/publish", headers=api.console)
    missing = await _run(api, key, {}, "blocking")
    assert missing.status_code == 400
    assert missing.json() == {
        "code": "invalid_param",
        "message": "query is required in input form",
        "status": 400,
    }
    typed = await _run(api, key, {"query": 5}, "streaming")
    assert typed.status_code == 400 and "query" in typed.json()["message"]
    bad_mode = await _run(api, key, {"query": "x"}, "sometimes")
    assert bad_mode.status_code == 400 and "response_mode" in bad_mode.json()["message"]
    not_json = await api.http.post("/v1/workflows/run", content=b"{", headers=key)
    assert not_json.status_code == 400 and not_json.json()["code"] == "invalid_param"


async def test_bad_and_revoked_keys_get_401(api: Api) -> None:
    app_id = await api.import_app("simple_passthrough_workflow.yml")
    key = await api.app_key(app_id)
    for headers in ({}, {"Authorization": "Bearer app-wrong"}, {"Authorization": "Basic x"}):
        response = await api.http.get("/v1/info", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "unauthorized"
    keys = await api.http.get(f"/console/api/apps/{app_id}/api-keys", headers=api.console)
    key_id = keys.json()["data"][0]["id"]
    assert keys.json()["data"][0]["token"].endswith("...")
    revoked = await api.http.delete(
        f"/console/api/apps/{app_id}/api-keys/{key_id}", headers=api.console
    )
    assert revoked.status_code == 204
    assert (await api.http.get("/v1/info", headers=key)).status_code == 401


async def test_chatflow_key_on_workflow_endpoints_is_not_workflow_app(api: Api) -> None:
    app_id = await api.import_app("basic_chatflow.yml", publish=False)
    key = await api.app_key(app_id)
    response = await _run(api, key, {}, "blocking")
    assert response.status_code == 400 and response.json()["code"] == "not_workflow_app"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/workflows/run/{run_id}"),
        ("POST", "/v1/workflows/tasks/{run_id}/stop"),
        ("GET", "/v1/workflow/{run_id}/events"),
        ("POST", "/v1/workflows/{version_id}/run"),
    ],
)
async def test_another_tenants_key_gets_404(api: Api, method: str, path: str) -> None:
    app_id = await api.import_app("simple_passthrough_workflow.yml")
    key = await api.app_key(app_id)
    ran = await _run(api, key, {"query": "mine"}, "blocking")
    run_id, version_id = ran.json()["workflow_run_id"], ran.json()["data"]["workflow_id"]
    other = await api.other_tenant()
    imported = await api.http.post(
        "/console/api/apps/imports",
        files={"file": ("a.yml", SLOW_APP.encode(), "text/yaml")},
        headers=other,
    )
    other_app = imported.json()["app_id"]
    other_key = await api.http.post(f"/console/api/apps/{other_app}/api-keys", headers=other)
    headers = {"Authorization": f"Bearer {other_key.json()['token']}"}
    url = path.format(run_id=run_id, version_id=version_id)
    body = {"inputs": {}, "user": "eve"} if method == "POST" else None
    response = await api.http.request(method, url, json=body, headers=headers)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
    logs = await api.http.get("/v1/workflows/logs", headers=headers)
    assert logs.json()["total"] == 0
