"""Regressions of review findings: ended runs are projected once, caller file objects are
app-scoped, conversations without ``user`` are DEFAULT-USER's, app deletion, console input
validation, and the chat stream of a chatflow run's reattach."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import pytest
from sqlmodel import Session
from temporalio.service import RPCError, RPCStatusCode

from tests.api.conftest import Api, sse_events
from tests.api.test_chat import chat, import_text, remembering_chatflow
from tests.api.test_conversations import EXTRACT_APP
from tideflow.platform.db.models import UploadFile
from tideflow.platform.db.session import get_engine
from tideflow.platform.runs import service as service_module
from tideflow.platform.runs.service import RunService
from tideflow.platform.settings import Settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.platform.temporal_link import TemporalLink

T = TypeVar("T")


async def _variables(api: Api, key: dict[str, str], conversation_id: str) -> Any:
    response = await api.http.get(
        f"/v1/conversations/{conversation_id}/variables", params={"user": "alice"}, headers=key
    )
    assert response.status_code == 200, response.text
    return {v["name"]: v["value"] for v in response.json()["data"]}


async def test_reattaching_an_ended_turn_keeps_later_variables(api: Api) -> None:
    key = await api.app_key(await import_text(api, remembering_chatflow()))
    first = (await chat(api, key, "first")).json()
    conversation_id = first["conversation_id"]
    second = await chat(api, key, "second", conversation_id)
    assert second.status_code == 200, second.text
    assert (await _variables(api, key, conversation_id))["str"] == "second"
    events = await api.http.get(f"/v1/workflow/{first['task_id']}/events", headers=key)
    assert events.status_code == 200, events.text
    assert (await _variables(api, key, conversation_id))["str"] == "second"


async def test_reattaching_a_chatflow_run_streams_chat_events(api: Api) -> None:
    key = await api.app_key(await import_text(api, remembering_chatflow()))
    first = (await chat(api, key, "hello")).json()
    events = await api.http.get(f"/v1/workflow/{first['task_id']}/events", headers=key)
    assert events.status_code == 200, events.text
    payloads = [p for _i, p in sse_events(events.text) if isinstance(p, dict)]
    names = [p["event"] for p in payloads]
    assert "message_end" in names and "workflow_finished" in names
    started = next(p for p in payloads if p["event"] == "workflow_started")
    assert started["conversation_id"] == first["conversation_id"]
    assert started["message_id"] == first["message_id"]


async def test_a_caller_cannot_name_a_stored_file_directly(api: Api) -> None:
    owner = await api.app_key(await import_text(api, EXTRACT_APP))
    upload = await api.http.post(
        "/v1/files/upload",
        files={"file": ("secret.txt", b"top secret", "text/plain")},
        data={"user": "alice"},
        headers=owner,
    )
    assert upload.status_code == 201, upload.text
    with Session(get_engine(api.settings.db_url)) as session:
        stored = session.get(UploadFile, upload.json()["id"])
        assert stored is not None
        store_id = stored.store_id
    other = await api.app_key(await import_text(api, EXTRACT_APP))
    for method in ("tool_file", "datasource_file", None):
        doc = {"transfer_method": method, "related_id": store_id, "type": "document"}
        run = await api.http.post(
            "/v1/workflows/run", json={"inputs": {"doc": doc}, "user": "mallory"}, headers=other
        )
        assert run.status_code == 400, run.text
        assert "inputs.doc" in run.json()["message"]
    # A local_file is looked up among this app's uploads only.
    doc = {"transfer_method": "local_file", "related_id": store_id, "type": "document"}
    run = await api.http.post(
        "/v1/workflows/run", json={"inputs": {"doc": doc}, "user": "mallory"}, headers=other
    )
    assert run.status_code == 400 and "inputs.doc" in run.json()["message"]


async def test_without_user_the_conversations_are_default_users(api: Api) -> None:
    key = await api.app_key(await import_text(api, remembering_chatflow()))
    turn = (await chat(api, key, "private")).json()
    conversation_id = turn["conversation_id"]
    listed = await api.http.get("/v1/conversations", headers=key)
    assert listed.status_code == 200 and listed.json()["data"] == []
    base = f"/v1/conversations/{conversation_id}"
    for method, url, body in [
        ("GET", f"/v1/messages?conversation_id={conversation_id}", None),
        ("GET", f"{base}/variables", None),
        ("POST", f"{base}/name", {"name": "stolen"}),
        ("DELETE", base, None),
    ]:
        response = await api.http.request(method, url, json=body, headers=key)
        assert response.status_code == 404, (method, url, response.text)
    mine = await api.http.get("/v1/conversations", params={"user": "alice"}, headers=key)
    assert [c["id"] for c in mine.json()["data"]] == [conversation_id]
    # DEFAULT-USER's own turn is theirs without ``user``.
    body = {"query": "mine", "inputs": {}, "user": "DEFAULT-USER"}
    own = (await api.http.post("/v1/chat-messages", json=body, headers=key)).json()
    listed = await api.http.get("/v1/conversations", headers=key)
    assert [c["id"] for c in listed.json()["data"]] == [own["conversation_id"]]
    deleted = await api.http.delete(f"/v1/conversations/{own['conversation_id']}", headers=key)
    assert deleted.status_code == 204


async def test_deleting_an_app_with_chat_data_and_uploads(api: Api) -> None:
    app_id = await import_text(api, remembering_chatflow())
    key = await api.app_key(app_id)
    turn = (await chat(api, key, "hello")).json()
    feedback = await api.http.post(
        f"/v1/messages/{turn['message_id']}/feedbacks",
        json={"rating": "like", "user": "alice"},
        headers=key,
    )
    assert feedback.status_code == 200, feedback.text
    upload = await api.http.post(
        "/v1/files/upload",
        files={"file": ("a.txt", b"a", "text/plain")},
        data={"user": "bob"},
        headers=key,
    )
    assert upload.status_code == 201, upload.text
    deleted = await api.http.delete(f"/console/api/apps/{app_id}", headers=api.console)
    assert deleted.status_code == 204, deleted.text
    gone = await api.http.get(f"/console/api/apps/{app_id}", headers=api.console)
    assert gone.status_code == 404


async def test_console_import_refuses_bad_json_bodies(api: Api) -> None:
    url = "/console/api/apps/imports"
    for content, name in [
        (b"[]", "body"),
        (b'{"mode": "nope"}', "mode"),
        (b'{"yaml_content": ', "body"),
        (b'{"yaml_content": 5}', "yaml_content"),
    ]:
        headers = {**api.console, "content-type": "application/json"}
        response = await api.http.post(url, content=content, headers=headers)
        assert response.status_code == 400, (content, response.text)
        assert response.json()["code"] == "invalid_param"
        assert response.json()["message"].startswith(f"{name}:"), response.text


async def test_environment_variables_are_checked(api: Api) -> None:
    app_id = await api.import_app("simple_passthrough_workflow.yml", publish=False)
    base = f"/console/api/apps/{app_id}/environment-variables"
    bad = await api.http.post(
        base, json={"name": "N", "value_type": "number", "value": "abc"}, headers=api.console
    )
    assert bad.status_code == 400 and "N" in bad.json()["message"], bad.text
    first = await api.http.post(
        base, json={"name": "A", "value_type": "number", "value": "1.5"}, headers=api.console
    )
    assert first.status_code == 201, first.text
    second = await api.http.post(base, json={"name": "B", "value": "b"}, headers=api.console)
    assert second.status_code == 201, second.text
    url = f"{base}/{second.json()['id']}"
    renamed = await api.http.patch(url, json={"name": "A", "value": "b"}, headers=api.console)
    assert renamed.status_code == 409, renamed.text
    not_number = await api.http.patch(
        url, json={"name": "B", "value_type": "number", "value": "abc"}, headers=api.console
    )
    assert not_number.status_code == 400 and "B" in not_number.json()["message"]
    kept = await api.http.patch(url, json={"name": "B", "value": "c"}, headers=api.console)
    assert kept.status_code == 200 and kept.json()["value"] == "c"


class _FlakyHandle:
    """A workflow handle whose result fails with UNAVAILABLE ``failures`` times first."""

    def __init__(self, failures: int, status: RPCStatusCode = RPCStatusCode.UNAVAILABLE) -> None:
        self.failures, self.status = failures, status

    async def result(self) -> str:
        if self.failures > 0:
            self.failures -= 1
            raise RPCError("temporarily unavailable", self.status, b"")
        return "the result"


@dataclass
class _FollowService(RunService):
    handle: _FlakyHandle | None = None
    calls: list[tuple[str, tuple[Any, ...]]] = field(
        default_factory=list[tuple[str, tuple[Any, ...]]]
    )

    def _client(self) -> Any:
        handle = self.handle

        class _Client:
            def get_workflow_handle(self, *_args: Any, **_kwargs: Any) -> Any:
                return handle

        return _Client()

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        self.calls.append((fn.__name__, args))
        return cast(T, None)


async def test_follow_retries_transient_rpc_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_module, "_FOLLOW_RETRY_FIRST_S", 0.001)
    settings = Settings()
    link = TemporalLink(TideflowTemporal(settings))
    flaky = _FollowService(settings, link, handle=_FlakyHandle(3))
    await asyncio.wait_for(flaky._follow("run-1", "wf-1"), 5)  # pyright: ignore[reportPrivateUsage]
    writes = [call for call in flaky.calls if call[0] not in STATUS_READS]
    assert writes == [("project_result", ("run-1", "the result"))]
    gone = _FollowService(settings, link, handle=_FlakyHandle(5, RPCStatusCode.NOT_FOUND))
    await asyncio.wait_for(gone._follow("run-2", "wf-2"), 5)  # pyright: ignore[reportPrivateUsage]
    assert [name for name, _args in gone.calls if name not in STATUS_READS] == ["fail_run"]


# What a follower reads to know whether its run is paused (not a projection).
STATUS_READS = ("run_status", "run_statuses")
