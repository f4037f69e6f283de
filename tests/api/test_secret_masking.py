"""Secrets stay out of what clients and logs see: a secret env var sent by an HTTP node
reaches the server it calls, never the SSE events, run details, node records or env listing;
log records lose keys and settings secrets; a key mix-up is a named error, not a bare 500."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from sqlmodel import Session, col, select

from tests.api.conftest import Api, sse_events
from tideflow.platform.db.models import NodeExecution
from tideflow.platform.db.session import get_engine
from tideflow.platform.redaction import MASK, SecretRedactor, install_redaction
from tideflow.platform.settings import get_settings

SECRET = "env-S3CRET-value-42"


class _Recorder(BaseHTTPRequestHandler):
    """Echoes the Authorization header it got (so the node's output carries the secret)."""

    seen: list[str] = []  # noqa: RUF012  (one list per test: reset by the fixture)

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        _Recorder.seen.append(auth)
        body = json.dumps({"you_sent": auth}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture
def echo_server(monkeypatch: pytest.MonkeyPatch, api: Api) -> Iterator[str]:
    """A loopback server the HTTP node may reach (TIDEFLOW_ALLOW_PRIVATE_NETWORK)."""
    del api  # the API's settings first, then the override on top of them
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("TIDEFLOW_ALLOW_PRIVATE_NETWORK", "true")
    get_settings.cache_clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def redaction() -> Iterator[None]:
    """install_redaction for one test; the process's record factory restored after it."""
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


def _dsl(url: str) -> str:
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "start", "title": "Start", "variables": []},
        {
            "id": "http",
            "type": "http-request",
            "title": "Call",
            "method": "get",
            "url": f"{url}/echo",
            "authorization": {"type": "no-auth"},
            "headers": "Authorization:Bearer {{#env.token#}}",
            "params": "",
            "body": {"type": "none", "data": []},
        },
        {
            "id": "end",
            "type": "end",
            "title": "End",
            "outputs": [{"variable": "body", "value_selector": ["http", "body"]}],
        },
    ]
    return yaml.safe_dump(
        {
            "kind": "app",
            "version": "0.6.0",
            "app": {"name": "secret header", "mode": "workflow"},
            "workflow": {
                "environment_variables": [
                    {"id": "v1", "name": "token", "value_type": "secret", "value": SECRET}
                ],
                "graph": {
                    "nodes": [{"id": n["id"], "type": "custom", "data": n} for n in nodes],
                    "edges": [
                        {"id": "e1", "source": "start", "target": "http"},
                        {"id": "e2", "source": "http", "target": "end"},
                    ],
                },
            },
        }
    )


async def _app_with_secret(api: Api, url: str) -> str:
    imported = await api.http.post(
        "/console/api/apps/imports",
        files={"file": ("app.yml", _dsl(url).encode(), "application/x-yaml")},
        headers=api.console,
    )
    assert imported.status_code == 201, imported.text
    app_id: str = imported.json()["app_id"]
    published = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/publish", headers=api.console
    )
    assert published.status_code == 201, published.text
    return app_id


async def test_a_secret_header_reaches_the_server_but_no_client_view(
    api: Api, echo_server: str, redaction: None, caplog: pytest.LogCaptureFixture
) -> None:
    del redaction
    install_redaction()  # as every CLI process does
    caplog.set_level(logging.DEBUG)  # even Temporal's payload dumps
    app_id = await _app_with_secret(api, echo_server)
    key = await api.app_key(app_id)
    response = await api.http.post(
        "/v1/workflows/run",
        json={"inputs": {}, "user": "alice", "response_mode": "streaming"},
        headers=key,
    )
    assert response.status_code == 200, response.text
    assert _Recorder.seen == [f"Bearer {SECRET}"]  # the request did carry it

    events = [p for _, p in sse_events(response.text) if isinstance(p, dict)]
    finished = events[-1]
    assert finished["event"] == "workflow_finished", finished
    assert finished["data"]["status"] == "succeeded", finished
    assert json.loads(finished["data"]["outputs"]["body"]) == {"you_sent": f"Bearer {MASK}"}
    assert any(e["event"] == "node_finished" and e["data"]["node_id"] == "http" for e in events)
    assert SECRET not in response.text

    run_id = finished["workflow_run_id"]
    detail = await api.http.get(f"/v1/workflows/run/{run_id}", headers=key)
    assert detail.status_code == 200 and SECRET not in detail.text
    nodes = await api.http.get(
        f"/console/api/apps/{app_id}/workflow-runs/{run_id}/node-executions",
        headers=api.console,
    )
    assert nodes.status_code == 200, nodes.text
    assert "http" in nodes.text and SECRET not in nodes.text
    listed = await api.http.get(
        f"/console/api/apps/{app_id}/environment-variables", headers=api.console
    )
    assert listed.status_code == 200 and SECRET not in listed.text
    exported = await api.http.get(f"/console/api/apps/{app_id}/export", headers=api.console)
    assert exported.status_code == 200 and SECRET not in exported.text

    # The stored node records themselves (what any later reader gets) hold no clear secret.
    with Session(get_engine(api.settings.db_url)) as session:
        rows = session.exec(select(NodeExecution).where(col(NodeExecution.run_id) == run_id))
        stored = [r.model_dump_json() for r in rows]
    assert stored and not any(SECRET in r for r in stored)
    assert SECRET not in caplog.text


def test_log_records_lose_keys_and_settings_secrets(
    redaction: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    del redaction
    monkeypatch.setenv("TIDEFLOW_MODEL_GATEWAY_KEY", "gateway-key-abcdef")
    monkeypatch.setenv("TIDEFLOW_SECRET_KEY", "the-process-secret-key")
    get_settings.cache_clear()
    try:
        install_redaction()
    finally:
        get_settings.cache_clear()
    caplog.set_level(logging.INFO)
    log = logging.getLogger("tideflow.test.redaction")
    log.info("calling with Authorization: Bearer %s", "abcdefghijklmnop1234")
    log.info("url https://x.test/v1?api_key=QWERTY123456&q=1 and key sk-proj-0123456789abcdefXYZ")
    log.info("settings: %s / %s", "gateway-key-abcdef", "the-process-secret-key")
    log.info("db postgresql+psycopg://me:pa55word@db:5432/app, app-%s", "a" * 24)
    try:
        raise RuntimeError("upstream said: password=hunter2hunter2")
    except RuntimeError:
        log.exception("failed")
    log.info("plain text with total_tokens=42 stays")
    text = caplog.text
    for secret in (
        "abcdefghijklmnop1234",
        "QWERTY123456",
        "sk-proj-0123456789abcdefXYZ",
        "gateway-key-abcdef",
        "the-process-secret-key",
        "pa55word",
        "a" * 24,
        "hunter2hunter2",
    ):
        assert secret not in text, secret
    assert f"Authorization: Bearer {MASK}" in text
    assert f"api_key={MASK}&q=1" in text
    assert "total_tokens=42 stays" in text


def test_a_filter_masks_extra_fields_a_formatter_adds() -> None:
    redactor = SecretRedactor(["my-known-secret"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m %s", ("my-known-secret",), None)
    record.__dict__["request_header"] = "Authorization: Bearer zzzzzzzzzzzz"  # an ``extra``
    assert redactor.filter(record)
    assert record.getMessage() == f"m {MASK}"
    assert record.__dict__["request_header"] == f"Authorization: Bearer {MASK}"


async def test_a_changed_key_is_a_named_error_until_the_old_one_is_previous(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_id = await api.import_app("simple_passthrough_workflow.yml", publish=False)
    path = f"/console/api/apps/{app_id}/environment-variables"
    added = await api.http.post(
        path, json={"name": "t", "value_type": "secret", "value": SECRET}, headers=api.console
    )
    assert added.status_code == 201, added.text
    old_key = api.settings.secret_key

    # Mid-rotation: new key current, old key previous. The old session and secrets still work.
    monkeypatch.setenv("TIDEFLOW_SECRET_KEY", "a-brand-new-key-for-this-test")
    monkeypatch.setenv("TIDEFLOW_SECRET_KEY_PREVIOUS", old_key)
    get_settings.cache_clear()
    listed = await api.http.get(path, headers=api.console)
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"][0]["value"] == "[__HIDDEN__]"
    fresh = await api.login("owner@example.com", "correct horse battery staple")

    # The old key dropped before rotate-secrets ran: sessions it signed are refused, and a
    # secret it encrypted is a named server error, not a bare 500.
    monkeypatch.delenv("TIDEFLOW_SECRET_KEY_PREVIOUS")
    get_settings.cache_clear()
    assert (await api.http.get(path, headers=api.console)).status_code == 401
    broken = await api.http.get(path, headers=fresh)
    assert broken.status_code == 500
    assert broken.json()["code"] == "secret_key_mismatch"
    assert "TIDEFLOW_SECRET_KEY_PREVIOUS" in broken.json()["message"]


def test_arguments_stay_arguments_when_masking_them_is_enough() -> None:
    # uvicorn's access formatter unpacks record.args: a masked query string must keep them.
    redactor = SecretRedactor()
    args = ("127.0.0.1:5000", "GET", "/v1/x?api_key=QWERTY123456", "1.1", 200)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None
    )
    redactor.redact_record(record)
    assert isinstance(record.args, tuple) and len(record.args) == 5
    assert record.getMessage() == f'127.0.0.1:5000 - "GET /v1/x?api_key={MASK} HTTP/1.1" 200'
    untouched = logging.LogRecord("x", logging.INFO, __file__, 1, "n=%d", (3,), None)
    redactor.redact_record(untouched)
    assert untouched.msg == "n=%d" and untouched.args == (3,)
