"""A Chatbot app with a knowledge base (``dataset_configs``), end to end: the document is indexed
by the worker, the chat turn retrieves from it before the model, and the answer carries the
chunk as a retriever resource, as Dify's chatbot does."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import yaml

from tests.api.conftest import Api, sse_events
from tests.api.dataset_helpers import V1, add_text, dataset_key, new_dataset
from tests.api.test_chat import import_text
from tests.fakes.openai_server import FakeLLMServer
from tests.graph.test_model_config_import import CHATBOT

GUIDE = (
    "The Fourviere basilica overlooks Lyon from its hill.\n\n"
    "The traboules are hidden passages through the buildings of Vieux Lyon."
)


async def _indexed(api: Api, key: dict[str, str], dataset_id: str, batch: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        status = await api.http.get(
            f"{V1}/datasets/{dataset_id}/documents/{batch}/indexing-status", headers=key
        )
        states = {d["indexing_status"] for d in status.json()["data"]}
        if states == {"completed"}:
            return
        assert "error" not in states and time.monotonic() < deadline, status.text
        await asyncio.sleep(0.1)


async def test_chatbot_answers_from_its_knowledge_base_and_cites_it(
    api: Api, gateway: FakeLLMServer
) -> None:
    key = await dataset_key(api)
    dataset = await new_dataset(api, key, name="lyon")
    rule = {"mode": "custom", "rules": {"segmentation": {"separator": "\n\n", "max_tokens": 100}}}
    created = await add_text(api, key, dataset["id"], "guide", GUIDE, process_rule=rule)
    await _indexed(api, key, dataset["id"], created["batch"])

    doc: dict[str, Any] = yaml.safe_load(CHATBOT)
    doc["model_config"]["dataset_configs"]["datasets"]["datasets"] = [
        {"dataset": {"enabled": True, "id": dataset["id"]}}
    ]
    app_key = await api.app_key(await import_text(api, yaml.safe_dump(doc)))
    answer = await api.http.post(
        "/v1/chat-messages",
        json={
            "query": "where are the traboules hidden passages",
            "inputs": {"city": "Lyon", "language": "English"},
            "user": "alice",
            "response_mode": "blocking",
        },
        headers=app_key,
    )
    assert answer.status_code == 200, answer.text

    cited = answer.json()["metadata"]["retriever_resources"]
    resource = cited[0]  # the best chunk first
    assert resource["dataset_id"] == dataset["id"] and resource["dataset_name"] == "lyon"
    assert resource["document_name"] == "guide"
    assert resource["content"].startswith("The traboules are hidden passages")
    # /v1/messages lists the same citation.
    listed = await api.http.get(
        "/v1/messages",
        params={"conversation_id": answer.json()["conversation_id"], "user": "alice"},
        headers=app_key,
    )
    assert listed.json()["data"][0]["retriever_resources"] == cited
    # The chunk was in the system prompt's context, inside Dify's <context> tags.
    [request] = gateway.chat_requests()
    system = str(request.json["messages"][0]["content"])
    # A streamed turn's message_end carries them too.
    streamed = await api.http.post(
        "/v1/chat-messages",
        json={
            "query": "the traboules passages",
            "inputs": {"city": "Lyon", "language": "English"},
            "user": "alice",
            "response_mode": "streaming",
        },
        headers=app_key,
    )
    [end] = [
        p
        for _, p in sse_events(streamed.text)
        if isinstance(p, dict) and p["event"] == "message_end"
    ]
    assert end["metadata"]["retriever_resources"][0]["content"].startswith("The traboules")
    assert "<context>" in system and "The traboules are hidden passages" in system
