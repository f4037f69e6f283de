"""Per-key request limits (TIDEFLOW_API_RATE_LIMIT_PER_MINUTE): the key over its limit gets
Dify's 429 with Retry-After; other keys, of the same app or another, are not affected."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tideflow.platform.rate_limit import RequestWindow
from tideflow.platform.settings import get_settings

LIMIT = 5


@pytest.fixture
def limited(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    """The API with a limit of five requests a minute per key."""
    monkeypatch.setenv("TIDEFLOW_API_RATE_LIMIT_PER_MINUTE", str(LIMIT))
    get_settings.cache_clear()
    return api


async def test_the_sixth_request_of_a_key_is_refused_with_retry_after(limited: Api) -> None:
    api = limited
    app_id = await api.import_app("simple_passthrough_workflow.yml")
    other_app = await api.import_app("simple_passthrough_workflow.yml")
    key_x, key_y, key_other = (
        await api.app_key(app_id),
        await api.app_key(app_id),
        await api.app_key(other_app),
    )
    for _ in range(LIMIT):
        response = await api.http.get("/v1/parameters", headers=key_x)
        assert response.status_code == 200, response.text
    refused = await api.http.get("/v1/parameters", headers=key_x)
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "too_many_requests" and body["status"] == 429
    assert body["message"].startswith("Too many requests. Please try again later.")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Any endpoint counts against the same key.
    run = await api.http.post(
        "/v1/workflows/run",
        json={"inputs": {"query": "hi"}, "user": "u", "response_mode": "blocking"},
        headers=key_x,
    )
    assert run.status_code == 429

    # Another key of the same app, and a key of another app, still work.
    assert (await api.http.get("/v1/parameters", headers=key_y)).status_code == 200
    assert (await api.http.get("/v1/parameters", headers=key_other)).status_code == 200
    # A bad key is still a 401, never counted as the key's requests.
    bad = await api.http.get("/v1/parameters", headers={"Authorization": "Bearer app-nope"})
    assert bad.status_code == 401


async def test_dataset_keys_are_limited_too_and_zero_turns_it_off(
    limited: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = limited
    created = await api.http.post("/console/api/datasets/api-keys", headers=api.console)
    assert created.status_code == 201, created.text
    key = {"Authorization": f"Bearer {created.json()['token']}"}
    for _ in range(LIMIT):
        assert (await api.http.get("/v1/datasets", headers=key)).status_code == 200
    refused = await api.http.get("/v1/datasets", headers=key)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert refused.json()["code"] == "too_many_requests"

    monkeypatch.setenv("TIDEFLOW_API_RATE_LIMIT_PER_MINUTE", "0")
    get_settings.cache_clear()
    for _ in range(LIMIT + 2):
        assert (await api.http.get("/v1/datasets", headers=key)).status_code == 200


def test_the_window_slides_one_minute() -> None:
    now = [1000.0]
    window = RequestWindow(clock=lambda: now[0])
    assert window.admit("k", 2) is None
    now[0] = 1020
    assert window.admit("k", 2) is None
    now[0] = 1030
    assert window.admit("k", 2) == pytest.approx(30.0)  # the first frees its slot at 1060
    now[0] = 1060
    assert window.admit("k", 2) is None  # the first has left the window
    assert window.admit("k", 2) == pytest.approx(20.0)  # now the one at 1020 decides
    assert window.admit("other", 2) is None
    assert window.admit("k", 0) is None  # 0: no limit
