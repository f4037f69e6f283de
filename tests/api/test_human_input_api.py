"""A workflow that pauses on a human-input form: the SSE pause, the paused run, the form API,
the console inbox, and the run finishing along the submitted action's branch."""

from __future__ import annotations

import asyncio
from typing import Any

import yaml

from tests.api.conftest import Api, sse_events
from tests.api.test_chat import import_text
from tests.runtime.test_human_input import FORM as RUNTIME_FORM
from tideflow.platform.runs.sse import DifyEventTranslator
from tideflow.workflows.engine.models import RunEvent

# The runtime tests' review form, with a 1-day timeout.
FORM: dict[str, Any] = {**RUNTIME_FORM, "timeout": 1}


def _dsl(form: dict[str, Any] = FORM) -> str:
    def end(node_id: str, name: str, selector: list[str]) -> dict[str, Any]:
        outputs = [{"variable": name, "value_selector": selector, "value_type": "string"}]
        return {"id": node_id, "data": {"type": "end", "title": node_id, "outputs": outputs}}

    topic = {"variable": "topic", "label": "topic", "type": "text-input", "required": True}
    nodes = [
        {"id": "start", "data": {"type": "start", "title": "Start", "variables": [topic]}},
        {"id": "human", "data": {"type": "human-input", "title": "Review", **form}},
        end("ok", "comment", ["human", "comment"]),
        end("no", "action", ["human", "__action_id"]),
    ]
    edges = [
        {"id": "e1", "source": "start", "target": "human", "sourceHandle": "source"},
        {"id": "e2", "source": "human", "target": "ok", "sourceHandle": "approve"},
        {"id": "e3", "source": "human", "target": "no", "sourceHandle": "reject"},
    ]
    doc = {
        "app": {"mode": "workflow", "name": "review"},
        "kind": "app",
        "version": "0.3.0",
        "workflow": {"graph": {"nodes": nodes, "edges": edges}, "features": {}},
    }
    return yaml.safe_dump(doc)


def _payloads(body: str) -> list[dict[str, Any]]:
    return [p for _, p in sse_events(body) if isinstance(p, dict)]


async def _run_status(api: Api, key: dict[str, str], run_id: str, want: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for _ in range(200):
        response = await api.http.get(f"/v1/workflows/run/{run_id}", headers=key)
        seen = response.json()
        if seen["status"] == want:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never became {want}: {seen}")


async def test_pause_submit_and_finish(api: Api) -> None:
    app_id = await import_text(api, _dsl())
    key = await api.app_key(app_id)
    body = {"inputs": {"topic": "the plan"}, "user": "alice", "response_mode": "streaming"}
    streamed = await api.http.post("/v1/workflows/run", json=body, headers=key)
    assert streamed.status_code == 200, streamed.text
    payloads = _payloads(streamed.text)
    names = [p["event"] for p in payloads]
    # Dify closes the stream after workflow_paused.
    assert names[-2:] == ["human_input_required", "workflow_paused"], names
    required = payloads[-2]["data"]
    run_id = payloads[-1]["workflow_run_id"]
    token = required["form_token"]
    assert required["form_content"] == "Review the plan.\nComment: {{#$output.comment#}}"
    assert [a["id"] for a in required["actions"]] == ["approve", "reject"]
    assert required["node_id"] == "human" and required["node_title"] == "Review"
    assert payloads[-1]["data"]["paused_nodes"] == ["human"]
    await _run_status(api, key, run_id, "paused")

    form = await api.http.get(f"/v1/form/human_input/{token}", headers=key)
    assert form.status_code == 200, form.text
    assert form.json()["user_actions"][0]["id"] == "approve"
    unknown = await api.http.get("/v1/form/human_input/not-a-token", headers=key)
    assert unknown.status_code == 404

    url = f"/v1/form/human_input/{token}"
    bad = await api.http.post(
        url, json={"inputs": {"comment": "x", "level": "low"}, "action": "maybe"}, headers=key
    )
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_form_data"
    assert "action" in bad.json()["message"] and "maybe" in bad.json()["message"]
    missing = await api.http.post(url, json={"inputs": {}, "action": "approve"}, headers=key)
    assert missing.status_code == 400 and "inputs.comment" in missing.json()["message"]

    # The console inbox lists the waiting form; another workspace sees nothing of it.
    inbox = await api.http.get(
        "/console/api/human-input/forms", params={"app_id": app_id}, headers=api.console
    )
    assert [f["workflow_run_id"] for f in inbox.json()["data"]] == [run_id]
    form_id = inbox.json()["data"][0]["id"]
    other = await api.other_tenant()
    theirs = await api.http.get("/console/api/human-input/forms", headers=other)
    assert theirs.json()["data"] == []
    foreign = await api.http.get(f"/console/api/human-input/forms/{form_id}", headers=other)
    assert foreign.status_code == 404

    answer = {"inputs": {"comment": "looks good", "level": "high"}, "action": "approve"}
    submitted = await api.http.post(url, json={**answer, "user": "alice"}, headers=key)
    assert submitted.status_code == 200, submitted.text
    again = await api.http.post(url, json=answer, headers=key)
    assert again.status_code == 412 and again.json()["code"] == "human_input_form_submitted"

    follow = await api.http.get(
        f"/v1/workflow/{run_id}/events", params={"continue_on_pause": "true"}, headers=key
    )
    events = _payloads(follow.text)
    names = [p["event"] for p in events]
    resumed = names.index("human_input_form_filled") - 1
    assert events[resumed]["event"] == "workflow_started"
    assert events[resumed]["data"]["reason"] == "resumption"
    assert names[0] == "workflow_started" and events[0]["data"]["reason"] == "initial"
    filled = next(p for p in events if p["event"] == "human_input_form_filled")["data"]
    assert filled["action_id"] == "approve" and filled["action_text"] == "Approve"
    assert filled["rendered_content"] == "Review the plan.\nComment: looks good"
    finished = events[-1]
    assert finished["event"] == "workflow_finished"
    assert finished["data"]["outputs"] == {"comment": "looks good"}
    run = await _run_status(api, key, run_id, "succeeded")
    assert run["outputs"] == {"comment": "looks good"}
    closed = await api.http.get(
        "/console/api/human-input/forms", params={"status": "submitted"}, headers=api.console
    )
    assert closed.json()["data"][0]["submitted_data"] == answer["inputs"]


async def test_console_submit_takes_the_other_branch(api: Api) -> None:
    app_id = await import_text(api, _dsl())
    key = await api.app_key(app_id)
    body = {"inputs": {"topic": "t"}, "user": "bob", "response_mode": "async"}
    started = await api.http.post("/v1/workflows/run", json=body, headers=key)
    run_id = started.json()["workflow_run_id"]
    await _run_status(api, key, run_id, "paused")
    inbox = await api.http.get("/console/api/human-input/forms", headers=api.console)
    form_id = inbox.json()["data"][0]["id"]
    other = await api.other_tenant()
    answer = {"inputs": {"comment": "no", "level": "low"}, "action": "reject"}
    refused = await api.http.post(
        f"/console/api/human-input/forms/{form_id}/submit", json=answer, headers=other
    )
    assert refused.status_code == 404
    submitted = await api.http.post(
        f"/console/api/human-input/forms/{form_id}/submit", json=answer, headers=api.console
    )
    assert submitted.status_code == 200, submitted.text
    run = await _run_status(api, key, run_id, "succeeded")
    assert run["outputs"] == {"action": "reject"}


async def test_stopping_a_paused_run_closes_its_form(api: Api) -> None:
    app_id = await import_text(api, _dsl())
    key = await api.app_key(app_id)
    body = {"inputs": {"topic": "t"}, "user": "carol", "response_mode": "streaming"}
    streamed = await api.http.post("/v1/workflows/run", json=body, headers=key)
    payloads = _payloads(streamed.text)
    run_id, token = payloads[-1]["workflow_run_id"], payloads[-2]["data"]["form_token"]
    assert payloads[-1]["data"]["reasons"][0]["type"] == "hitl_required"
    await _run_status(api, key, run_id, "paused")
    stopped = await api.http.post(
        f"/v1/workflows/tasks/{run_id}/stop", json={"user": "carol"}, headers=key
    )
    assert stopped.status_code == 200
    await _run_status(api, key, run_id, "stopped")
    answer = {"inputs": {"comment": "late", "level": "low"}, "action": "approve"}
    late = await api.http.post(f"/v1/form/human_input/{token}", json=answer, headers=key)
    assert late.status_code == 412 and late.json()["code"] == "human_input_form_expired"
    assert "stopped" in late.json()["message"]
    # The app goes with its runs and their forms.
    deleted = await api.http.delete(f"/console/api/apps/{app_id}", headers=api.console)
    assert deleted.status_code == 204, deleted.text
    gone = await api.http.post(f"/v1/form/human_input/{token}", json=answer, headers=key)
    assert gone.status_code in (401, 404)


async def test_blocking_request_answers_when_the_run_pauses(api: Api) -> None:
    app_id = await import_text(api, _dsl())
    key = await api.app_key(app_id)
    body = {"inputs": {"topic": "t"}, "user": "dan", "response_mode": "blocking"}
    blocking = await api.http.post("/v1/workflows/run", json=body, headers=key)
    assert blocking.status_code == 200, blocking.text
    assert blocking.json()["data"]["status"] == "paused"


def test_timeout_event_as_dify_sends_it() -> None:
    translator = DifyEventTranslator("run-1", "v1", None)
    data = {"node_title": "Review", "expiration_time": 1700000000}
    event = RunEvent(index=5, event="human_input_form_timeout", node_id="human", data=data)
    assert translator.translate(event) == {
        "event": "human_input_form_timeout",
        "task_id": "run-1",
        "workflow_run_id": "run-1",
        "data": {"node_id": "human", "node_title": "Review", "expiration_time": 1700000000},
    }


async def test_paused_runs_hold_no_long_poll_and_are_followed_again(api: Api) -> None:
    """Temporal allows ~1,200 long polls per namespace: a paused run must not keep one."""
    key = await api.app_key(await import_text(api, _dsl()))
    body = {"inputs": {"topic": "t"}, "user": "dora", "response_mode": "streaming"}
    tokens: dict[str, str] = {}
    for _ in range(3):
        payloads = _payloads(
            (await api.http.post("/v1/workflows/run", json=body, headers=key)).text
        )
        tokens[payloads[-1]["workflow_run_id"]] = payloads[-2]["data"]["form_token"]
    runs = api.asgi.state.runs
    for run_id in tokens:
        await _run_status(api, key, run_id, "paused")
        assert run_id in runs._watchers  # pyright: ignore[reportPrivateUsage]  # still followed
    for _ in range(100):  # the status poll (1 s) releases the long polls
        if runs.long_polls == 0:
            break
        await asyncio.sleep(0.05)
    assert runs.long_polls == 0
    answer = {"inputs": {"comment": "ok", "level": "low"}, "action": "approve", "user": "dora"}
    for token in tokens.values():
        submitted = await api.http.post(f"/v1/form/human_input/{token}", json=answer, headers=key)
        assert submitted.status_code == 200, submitted.text
    for run_id in tokens:  # followed again, to the end, and projected
        done = await _run_status(api, key, run_id, "succeeded")
        assert done["outputs"] == {"comment": "ok"}


async def test_file_inputs_are_resolved_and_checked(api: Api) -> None:
    attachment = {
        "type": "file",
        "output_variable_name": "doc",
        "allowed_file_types": ["document"],
        "allowed_file_upload_methods": ["local_file"],
    }
    form = {**FORM, "inputs": [FORM["inputs"][0], attachment], "form_content": "Attach it."}
    key = await api.app_key(await import_text(api, _dsl(form)))
    body = {"inputs": {"topic": "t"}, "user": "erin", "response_mode": "streaming"}
    payloads = _payloads((await api.http.post("/v1/workflows/run", json=body, headers=key)).text)
    token = payloads[-2]["data"]["form_token"]
    url = f"/v1/form/human_input/{token}"

    async def upload(name: str, content: bytes, mime: str) -> dict[str, str]:
        uploaded = await api.http.post(
            "/v1/files/upload",
            files={"file": (name, content, mime)},
            data={"user": "erin"},
            headers=key,
        )
        assert uploaded.status_code == 201, uploaded.text
        return {"transfer_method": "local_file", "upload_file_id": uploaded.json()["id"]}

    picture = await upload("cat.png", b"\x89PNG\r\n\x1a\n", "image/png")
    refused = await api.http.post(
        url,
        json={"inputs": {"comment": "c", "doc": picture}, "action": "approve", "user": "erin"},
        headers=key,
    )
    assert refused.status_code == 400, refused.text
    assert "inputs.doc" in refused.json()["message"] and "image" in refused.json()["message"]
    remote = {
        "transfer_method": "remote_url",
        "url": "https://example.com/r.pdf",
        "type": "document",
    }
    refused = await api.http.post(
        url,
        json={"inputs": {"comment": "c", "doc": remote}, "action": "approve", "user": "erin"},
        headers=key,
    )
    assert refused.status_code == 400 and "remote_url" in refused.json()["message"]
    unknown = {"transfer_method": "local_file", "upload_file_id": "no-such-upload"}
    refused = await api.http.post(
        url,
        json={"inputs": {"comment": "c", "doc": unknown}, "action": "approve", "user": "erin"},
        headers=key,
    )
    assert refused.status_code == 400 and "inputs.doc" in refused.json()["message"]
    report = await upload("report.txt", b"all good", "text/plain")
    accepted = await api.http.post(
        url,
        json={"inputs": {"comment": "c", "doc": report}, "action": "approve", "user": "erin"},
        headers=key,
    )
    assert accepted.status_code == 200, accepted.text
    done = await _run_status(api, key, payloads[-1]["workflow_run_id"], "succeeded")
    assert done["outputs"] == {"comment": "c"}
