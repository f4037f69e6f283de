"""A document's lifecycle through the knowledge API with a running worker: pause and resume
while it is being embedded, an embedding provider that refuses the key (error, with the
provider's message), then retry once it works."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.dataset_helpers import V1, add_text, dataset_key, new_dataset
from tests.fakes.openai_server import FakeLLMServer, unauthorized
from tideflow.activities.knowledge.vector_store import close_vector_stores
from tideflow.platform.settings import get_settings

pytestmark = pytest.mark.slow

TEXT = "\n".join(f"Line {i} is about the durable subject number {i} and more." for i in range(80))
RULE = {
    "mode": "custom",
    "rules": {"segmentation": {"separator": "\n", "max_tokens": 50, "chunk_overlap": 0}},
}


@pytest.fixture(autouse=True)
def _close_vector_store() -> Iterator[None]:
    yield
    close_vector_stores()


async def _status(api: Api, key: dict[str, str], dataset_id: str, batch: str) -> dict[str, Any]:
    response = await api.http.get(
        f"{V1}/datasets/{dataset_id}/documents/{batch}/indexing-status", headers=key
    )
    assert response.status_code == 200, response.text
    [status] = response.json()["data"]
    return status


async def _until(
    api: Api, key: dict[str, str], dataset_id: str, batch: str, ready: Any, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = await _status(api, key, dataset_id, batch)
        if ready(status):
            return status
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.05)


async def _hq_dataset(api: Api, key: dict[str, str]) -> dict[str, Any]:
    return await new_dataset(
        api,
        key,
        indexing_technique="high_quality",
        embedding_model="text-embedding-3-small",
        embedding_model_provider="openai",
    )


async def test_pause_and_resume_while_embedding(
    api: Api, gateway: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway.embedding_delay_s = 0.15
    monkeypatch.setenv("TIDEFLOW_EMBEDDING_BATCH_SIZE", "4")
    get_settings.cache_clear()  # the worker (in this process) reads the settings afresh
    key = await dataset_key(api)
    dataset = await _hq_dataset(api, key)
    created = await add_text(api, key, dataset["id"], "lines", TEXT, process_rule=RULE)
    batch, document_id = created["batch"], created["document"]["id"]
    await _until(api, key, dataset["id"], batch, lambda s: s["completed_segments"] >= 8)
    processing = f"{V1}/datasets/{dataset['id']}/documents/{document_id}/processing"
    assert (await api.http.patch(f"{processing}/pause", headers=key)).status_code == 204
    paused = await _until(
        api, key, dataset["id"], batch, lambda s: s["indexing_status"] == "paused"
    )
    assert paused["paused_at"] is not None
    await asyncio.sleep(0.6)  # the batch in flight lands, then nothing moves
    held = await _status(api, key, dataset["id"], batch)
    await asyncio.sleep(0.6)
    assert (
        (await _status(api, key, dataset["id"], batch))["completed_segments"]
        == held["completed_segments"]
        < held["total_segments"]
    )
    listed = await api.http.get(f"{V1}/datasets/{dataset['id']}/documents", headers=key)
    assert listed.json()["data"][0]["display_status"] == "paused"
    assert (await api.http.patch(f"{processing}/resume", headers=key)).status_code == 204
    done = await _until(
        api, key, dataset["id"], batch, lambda s: s["indexing_status"] == "completed"
    )
    assert done["completed_segments"] == done["total_segments"]
    assert done["total_segments"] <= gateway.embedded_texts <= done["total_segments"] + 4


async def test_a_refused_key_is_an_error_and_retry_completes(
    api: Api, gateway: FakeLLMServer
) -> None:
    gateway.fail(unauthorized(), times=1, model="text-embedding-3-small")
    key = await dataset_key(api)
    dataset = await _hq_dataset(api, key)
    created = await add_text(api, key, dataset["id"], "lines", TEXT, process_rule=RULE)
    batch, document_id = created["batch"], created["document"]["id"]
    failed = await _until(api, key, dataset["id"], batch, lambda s: s["indexing_status"] == "error")
    assert "text-embedding-3-small" in failed["error"]  # the provider's refusal, named
    assert len([r for r in gateway.requests if r.path.endswith("/embeddings")]) == 1  # no retries
    retried = await api.http.post(
        f"{V1}/datasets/{dataset['id']}/retry", json={"document_ids": [document_id]}, headers=key
    )
    assert retried.status_code == 204, retried.text
    done = await _until(
        api, key, dataset["id"], batch, lambda s: s["indexing_status"] == "completed"
    )
    assert done["error"] is None and done["completed_segments"] == done["total_segments"]
