"""Console API: login, apps, DSL import/export, drafts, versions, variables, keys, test runs."""

from __future__ import annotations

import pytest
import yaml

from tests.api.conftest import FIXTURES, OWNER_EMAIL, Api

ECHO = "simple_passthrough_workflow.yml"


async def test_login_and_profile(api: Api) -> None:
    wrong = await api.http.post(
        "/console/api/login", json={"email": OWNER_EMAIL, "password": "nope"}
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
    profile = await api.http.get("/console/api/account/profile", headers=api.console)
    assert profile.json()["email"] == OWNER_EMAIL
    assert (await api.http.get("/console/api/apps")).status_code == 401
    forged = {"Authorization": api.console["Authorization"][:-3] + "abc"}
    assert (await api.http.get("/console/api/apps", headers=forged)).status_code == 401
    missing = await api.http.post("/console/api/login", json={"email": OWNER_EMAIL})
    assert missing.status_code == 400 and "password" in missing.json()["message"]


async def test_apps_create_list_get_delete(api: Api) -> None:
    created = await api.http.post(
        "/console/api/apps", json={"name": "Blank", "mode": "workflow"}, headers=api.console
    )
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    listed = (await api.http.get("/console/api/apps", headers=api.console)).json()
    assert listed["total"] == 1 and listed["data"][0]["name"] == "Blank"
    got = await api.http.get(f"/console/api/apps/{app_id}", headers=api.console)
    assert got.json()["mode"] == "workflow"
    deleted = await api.http.delete(f"/console/api/apps/{app_id}", headers=api.console)
    assert deleted.status_code == 204
    gone = await api.http.get(f"/console/api/apps/{app_id}", headers=api.console)
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


async def test_import_three_ways_and_export(api: Api) -> None:
    text = (FIXTURES / ECHO).read_text()
    as_json = await api.http.post(
        "/console/api/apps/imports", json={"yaml_content": text}, headers=api.console
    )
    raw = await api.http.post(
        "/console/api/apps/imports",
        content=text.encode(),
        headers={**api.console, "Content-Type": "application/x-yaml"},
    )
    assert as_json.status_code == 201 and raw.status_code == 201
    app_id = await api.import_app(ECHO, publish=False)
    exported = await api.http.get(f"/console/api/apps/{app_id}/export", headers=api.console)
    dsl = yaml.safe_load(exported.json()["data"])
    assert dsl["app"]["name"] == "echo" and dsl["kind"] == "app"
    assert {n["id"] for n in dsl["workflow"]["graph"]["nodes"]} == {
        "1754154032319",
        "1754154034161",
    }


async def test_import_refusal_lists_problems_with_node_ids(api: Api) -> None:
    bad = {
        "kind": "app",
        "version": "0.3.1",
        "app": {"name": "bad", "mode": "workflow"},
        "workflow": {"graph": {"nodes": [{"id": "n1", "data": {"title": "no type"}}], "edges": []}},
    }
    response = await api.http.post(
        "/console/api/apps/imports", json={"yaml_content": yaml.safe_dump(bad)}, headers=api.console
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "invalid_dsl" and body["status"] == 400
    assert any(p["node_id"] == "n1" for p in body["problems"]), body
    url = await api.http.post(
        "/console/api/apps/imports",
        json={"mode": "yaml-url", "yaml_content": ""},
        headers=api.console,
    )
    assert url.status_code == 400
    garbage = await api.http.post(
        "/console/api/apps/imports", json={"yaml_content": "a: [1"}, headers=api.console
    )
    assert garbage.status_code == 400 and garbage.json()["code"] == "invalid_dsl"


async def test_draft_publish_versions_restore(api: Api) -> None:
    app_id = await api.import_app(ECHO, publish=False)
    base = f"/console/api/apps/{app_id}/workflows"
    draft = (await api.http.get(f"{base}/draft", headers=api.console)).json()
    assert draft["problems"] == []
    first = await api.http.post(f"{base}/publish", headers=api.console)
    assert first.status_code == 201 and first.json()["version"]["version"] == 1
    graph = draft["graph"]
    graph["nodes"].append({"id": "ghost_llm", "data": {"type": "llm", "title": "LLM"}})
    saved = await api.http.post(f"{base}/draft", json={"graph": graph}, headers=api.console)
    assert saved.status_code == 200
    assert any(p["node_id"] == "ghost_llm" for p in saved.json()["problems"])
    refused = await api.http.post(f"{base}/publish", headers=api.console)
    assert refused.status_code == 400 and refused.json()["problems"]
    versions = (await api.http.get(base, headers=api.console)).json()["data"]
    assert [v["version"] for v in versions] == [1] and len(versions[0]["plan_hash"]) == 64
    restored = await api.http.post(f"{base}/{versions[0]['id']}/restore", headers=api.console)
    assert restored.status_code == 200
    again = (await api.http.get(f"{base}/draft", headers=api.console)).json()
    assert again["problems"] == [] and len(again["graph"]["nodes"]) == 2
    second = await api.http.post(f"{base}/publish", headers=api.console)
    assert second.json()["version"]["plan_hash"] == versions[0]["plan_hash"]
    assert (await api.http.post(f"{base}/nope/restore", headers=api.console)).status_code == 404


async def test_environment_variables_secret_masked_and_used(api: Api) -> None:
    app_id = await api.import_app(ECHO, publish=False)
    base = f"/console/api/apps/{app_id}/environment-variables"
    secret = await api.http.post(
        base,
        json={"name": "token", "value_type": "secret", "value": "s3cr3t-value"},
        headers=api.console,
    )
    assert secret.status_code == 201 and secret.json()["value"] == "[__HIDDEN__]"
    plain = await api.http.post(base, json={"name": "region", "value": "eu"}, headers=api.console)
    assert plain.json()["value"] == "eu"
    dup = await api.http.post(base, json={"name": "region", "value": "x"}, headers=api.console)
    assert dup.status_code == 409
    listed = (await api.http.get(base, headers=api.console)).json()["data"]
    assert {v["name"]: v["value"] for v in listed} == {"token": "[__HIDDEN__]", "region": "eu"}
    var_id = secret.json()["id"]
    kept = await api.http.patch(
        f"{base}/{var_id}",
        json={"name": "token", "value_type": "secret", "value": "[__HIDDEN__]"},
        headers=api.console,
    )
    assert kept.json()["value"] == "[__HIDDEN__]"
    exported = await api.http.get(
        f"/console/api/apps/{app_id}/export", params={"include_secret": True}, headers=api.console
    )
    assert "s3cr3t-value" in exported.json()["data"]
    blank = await api.http.get(f"/console/api/apps/{app_id}/export", headers=api.console)
    assert "s3cr3t-value" not in blank.text
    draft = await api.http.get(f"/console/api/apps/{app_id}/workflows/draft", headers=api.console)
    assert "s3cr3t-value" not in draft.text
    deleted = await api.http.delete(f"{base}/{plain.json()['id']}", headers=api.console)
    assert deleted.status_code == 204
    bad = await api.http.post(base, json={"name": "1bad"}, headers=api.console)
    assert bad.status_code == 400 and "name" in bad.json()["message"]


async def test_draft_test_run_with_pins(api: Api) -> None:
    app_id = await api.import_app("conditional_parallel_code_execution_workflow.yml", publish=False)
    response = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/draft/run",
        json={"inputs": {"switch": 1}, "pins": {}},
        headers=api.console,
    )
    assert response.status_code == 200, response.text
    unpinned = response.json()["data"]["outputs"]
    draft = (
        await api.http.get(f"/console/api/apps/{app_id}/workflows/draft", headers=api.console)
    ).json()
    code_ids = [n["id"] for n in draft["graph"]["nodes"] if n["data"]["type"] == "code"]
    pins = {node_id: {"result": "pinned"} for node_id in code_ids}
    pinned = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/draft/run",
        json={"inputs": {"switch": 1}, "pins": pins},
        headers=api.console,
    )
    assert pinned.json()["data"]["status"] == "succeeded"
    assert pinned.json()["data"]["outputs"] != unpinned
    assert "pinned" in str(pinned.json()["data"]["outputs"])
    missing = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/draft/run", json={}, headers=api.console
    )
    assert missing.status_code == 400 and "switch" in missing.json()["message"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("DELETE", ""),
        ("GET", "/export"),
        ("GET", "/workflows/draft"),
        ("POST", "/workflows/publish"),
        ("GET", "/workflows"),
        ("POST", "/workflows/draft/run"),
        ("GET", "/environment-variables"),
        ("POST", "/api-keys"),
        ("GET", "/api-keys"),
    ],
)
async def test_another_tenants_app_ids_answer_404(api: Api, method: str, suffix: str) -> None:
    app_id = await api.import_app(ECHO, publish=False)
    other = await api.other_tenant()
    body = {} if method == "POST" else None
    response = await api.http.request(
        method, f"/console/api/apps/{app_id}{suffix}", json=body, headers=other
    )
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
    assert (
        await api.http.get(f"/console/api/apps/{app_id}", headers=api.console)
    ).status_code == 200
