"""Schemathesis cases generated from ``/openapi.json``, sent to the in-process API with valid
keys: no operation answers a 5xx. Bounded: a few examples per operation, a time limit, and
nothing leaves the process (httpx's ASGI transport)."""

from __future__ import annotations

import time
import warnings
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis.errors import NonInteractiveExampleWarning
from schemathesis.core.result import Ok

from tests.api.conftest import Api
from tests.api.test_chat import chat, import_text, remembering_chatflow

EXAMPLES_PER_OPERATION = 3
TIME_LIMIT_S = 120.0
_REQUEST_KEYS = ("method", "url", "headers", "params", "json", "data", "files", "content")

pytestmark = pytest.mark.slow


def _request_kwargs(case: Any, headers: dict[str, str]) -> dict[str, Any]:
    kwargs: dict[str, Any] = case.as_transport_kwargs(base_url="http://api", headers=headers)
    return {k: v for k, v in kwargs.items() if k in _REQUEST_KEYS and v is not None}


async def test_no_operation_answers_5xx(api: Api) -> None:
    # The app's exceptions become 500 responses (ASGITransport re-raises them by default,
    # which would let a server error pass for a request the client could not send).
    transport = httpx.ASGITransport(app=api.asgi, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=30) as http:
        await _check_all_operations(api, http)


async def _check_all_operations(api: Api, http: httpx.AsyncClient) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec)
    workflow_key = await api.app_key(await api.import_app("simple_passthrough_workflow.yml"))
    chat_key = await api.app_key(await import_text(api, remembering_chatflow()))
    assert (await chat(api, chat_key, "seed")).status_code == 200
    deadline = time.monotonic() + TIME_LIMIT_S
    failures: list[str] = []
    sent = 0
    warnings.simplefilter("ignore", NonInteractiveExampleWarning)
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        path: str = operation.path
        if path.startswith("/console/"):
            keys = [api.console]
        elif path.startswith("/v1/"):
            keys = [workflow_key, chat_key]
        else:
            keys = [{}]
        strategy = operation.as_strategy()
        for index in range(EXAMPLES_PER_OPERATION):
            if time.monotonic() > deadline:
                break
            case = strategy.example()
            headers = keys[index % len(keys)]
            try:  # only building the request may fail: the server's errors answer 500 here
                request = http.build_request(**_request_kwargs(case, headers))
            except (httpx.InvalidURL, UnicodeEncodeError, ValueError, TypeError):
                continue  # a request the client itself cannot send (e.g. a non-ASCII header)
            response = await http.send(request)
            sent += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text[:300]}")
    assert sent > 50, sent
    assert failures == []
