"""The API's codec server (``/codec/decode``, ``/codec/encode``): owners only, CORS for the
Temporal UI only, and the real ``temporal`` CLI reading an encrypted run through it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import Session, select
from temporalio.api.common.v1 import Payload

from tests.platform.codec_support import (
    OWNER,
    SECRET,
    UI_ORIGIN,
    clear_payload,
    run_secret_graph,
)
from tideflow.platform.app import create_app
from tideflow.platform.db.access_models import Account, TenantMember
from tideflow.platform.db.models import Tenant
from tideflow.platform.db.session import get_engine
from tideflow.platform.payload_codec import ENCODING, EncryptionCodec
from tideflow.platform.security import hash_password
from tideflow.platform.settings import Settings
from tideflow.temporal_server import temporal_binary


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # pytest keeps its own signal handlers


@pytest.fixture
async def codec_api(encrypting_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API (its lifespan creates the owner), served by uvicorn on 127.0.0.1 on the test's
    loop so the ``temporal`` CLI can reach it too; an HTTP client of it."""
    del encrypting_settings  # the API reads them through get_settings()
    app = create_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    async with app.router.lifespan_context(app):
        task = asyncio.create_task(server.serve(sockets=[sock]))
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield http
        server.should_exit = True
        await task


async def _login(http: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await http.post("/console/api/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}


def _add_member(settings: Settings, email: str, password: str, role: str = "editor") -> None:
    """A member (by default an editor: not owner, not admin) of the owner's workspace."""
    with Session(get_engine(settings.db_url)) as session:
        tenant = session.exec(select(Tenant)).one()
        account = Account(email=email, name="editor", password_hash=hash_password(password))
        session.add(account)
        session.flush()
        session.add(TenantMember(tenant_id=tenant.id, account_id=account.id, role=role))
        session.commit()


def _wire(payload: Payload) -> dict[str, object]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


async def test_codec_endpoint_decodes_for_an_owner_only(
    codec_api: httpx.AsyncClient, encrypting_settings: Settings
) -> None:
    sealed = EncryptionCodec.from_settings(encrypting_settings).seal(clear_payload(SECRET))
    body = {"payloads": [_wire(sealed)]}
    headers = {"X-Namespace": "default", "Origin": UI_ORIGIN}

    anonymous = await codec_api.post("/codec/decode", json=body, headers=headers)
    assert anonymous.status_code == 401 and SECRET not in anonymous.text
    # The refusal still carries CORS headers, so the UI can show it.
    assert anonymous.headers["access-control-allow-origin"] == UI_ORIGIN
    forged = {**headers, "Authorization": "Bearer not-a-session"}
    assert (await codec_api.post("/codec/decode", json=body, headers=forged)).status_code == 401
    _add_member(encrypting_settings, "editor@example.com", "pw-editor")
    editor = {**headers, **await _login(codec_api, "editor@example.com", "pw-editor")}
    refused = await codec_api.post("/codec/decode", json=body, headers=editor)
    assert refused.status_code == 403 and SECRET not in refused.text
    # An admin who is not an operator: the key is the server's, not the workspace's.
    _add_member(encrypting_settings, "admin@example.com", "pw-admin", role="admin")
    admin = {**headers, **await _login(codec_api, "admin@example.com", "pw-admin")}
    refused = await codec_api.post("/codec/decode", json=body, headers=admin)
    assert refused.status_code == 403 and "operators" in refused.text

    owner = {**headers, **await _login(codec_api, *OWNER)}
    decoded = await codec_api.post("/codec/decode", json=body, headers=owner)
    assert decoded.status_code == 200, decoded.text
    [clear] = decoded.json()["payloads"]
    assert base64.b64decode(clear["data"]).decode() == SECRET
    assert base64.b64decode(clear["metadata"]["encoding"]) == b"json/plain"

    encoded = await codec_api.post("/codec/encode", json=decoded.json(), headers=owner)
    [again] = encoded.json()["payloads"]
    assert base64.b64decode(again["metadata"]["encoding"]) == ENCODING
    assert SECRET not in base64.b64decode(again["data"]).decode(errors="replace")


async def test_codec_endpoint_names_bad_input(codec_api: httpx.AsyncClient) -> None:
    owner = await _login(codec_api, *OWNER)
    cases: list[tuple[Any, dict[str, str], str]] = [
        ({"payloads": [{"data": 5}]}, {}, "payloads[0]"),
        ({"payloads": "x"}, {}, "payloads"),
        ({"payloads": []}, {"X-Namespace": "other"}, "X-Namespace"),
        (
            {"payloads": [_wire(EncryptionCodec("some-other-key").seal(clear_payload(SECRET)))]},
            {},
            "key id",
        ),
    ]
    for body, extra, named in cases:
        response = await codec_api.post("/codec/decode", json=body, headers={**owner, **extra})
        assert response.status_code == 400 and named in response.json()["message"], body
    # Nested past the JSON parser's depth: a 400 naming the body, not a 500.
    deep = await codec_api.post("/codec/decode", content="[" * 100_000, headers=owner)
    assert deep.status_code == 400 and "body" in deep.json()["message"], deep.text
    not_json = await codec_api.post("/codec/decode", content=b"{", headers=owner)
    assert not_json.status_code == 400 and "body" in not_json.json()["message"]


async def test_codec_preflight_answers_the_temporal_ui_only(codec_api: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    ui = await codec_api.options("/codec/decode", headers={**preflight, "Origin": UI_ORIGIN})
    assert ui.status_code == 204
    assert ui.headers["access-control-allow-origin"] == UI_ORIGIN
    assert "x-namespace" in ui.headers["access-control-allow-headers"]
    other = await codec_api.options(
        "/codec/decode", headers={**preflight, "Origin": "http://evil.example"}
    )
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers


async def test_temporal_cli_reads_a_run_through_the_codec_server(
    codec_api: httpx.AsyncClient, encrypting_settings: Settings
) -> None:
    """The README's command: ``temporal workflow show --codec-endpoint --codec-auth``."""
    _client, workflow_id, result = await run_secret_graph(encrypting_settings)
    assert result.status == "succeeded", result.error
    token = (await _login(codec_api, *OWNER))["Authorization"]
    argv = [temporal_binary(), "workflow", "show", "-w", workflow_id, "-o", "json"]
    argv += ["--address", encrypting_settings.temporal_target]

    async def show(*extra: str) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            *argv, *extra, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 0, err.decode()
        started: dict[str, Any] = json.loads(out)["events"][0]
        return started["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]

    sealed = await show()
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
    endpoint = str(codec_api.base_url).rstrip("/") + "/codec"
    opened = await show("--codec-endpoint", endpoint, "--codec-auth", token)
    assert base64.b64decode(opened["metadata"]["encoding"]) == b"json/plain"
    assert SECRET in base64.b64decode(opened["data"]).decode()
