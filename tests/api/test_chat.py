"""``/v1/chat-messages`` for chatflow apps: blocking and streaming turns, conversations
continued with their variables, stop, and the messages of a conversation."""

from __future__ import annotations

import asyncio
from typing import Any

import yaml

from tests.api.conftest import FIXTURES, Api, sse_events

CONV_VARS = "test_streaming_conversation_variables.yml"


def remembering_chatflow() -> str:
    """Dify's conversation-variable fixture with one more Answer node *before* its assigner,
    so each turn shows what the previous turn stored: ``before=<str>;`` then the query."""
    doc = yaml.safe_load((FIXTURES / CONV_VARS).read_text())
    graph = doc["workflow"]["graph"]
    start = "1755316734941"
    graph["nodes"].append(
        {
            "id": "before",
            "data": {
                "type": "answer",
                "title": "Before",
                "answer": "before={{#conversation.str#}};",
            },
        }
    )
    for edge in graph["edges"]:
        if edge["source"] == start:
            edge["source"] = "before"
    graph["edges"].append({"id": "s-before", "source": start, "target": "before"})
    return yaml.safe_dump(doc)


async def import_text(api: Api, text: str) -> str:
    """Import DSL text and publish it; the app id."""
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


async def chat(
    api: Api, key: dict[str, str], query: str, conversation_id: str = "", **extra: Any
) -> Any:
    """One blocking turn; the response."""
    body = {"query": query, "inputs": {}, "user": "alice", "conversation_id": conversation_id}
    return await api.http.post("/v1/chat-messages", json={**body, **extra}, headers=key)


async def test_two_turns_keep_the_conversation_variable(api: Api) -> None:
    key = await api.app_key(await import_text(api, remembering_chatflow()))
    first = await chat(api, key, "one")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["event"] == "message" and body["mode"] == "advanced-chat"
    assert body["answer"] == "before=default;one"
    assert {"task_id", "id", "message_id", "conversation_id", "metadata", "created_at"} <= set(body)
    assert body["metadata"]["usage"]["total_tokens"] == 0
    conversation_id = body["conversation_id"]
    second = await chat(api, key, "two", conversation_id)
    assert second.status_code == 200, second.text
    assert second.json()["answer"] == "before=one;two"
    assert second.json()["conversation_id"] == conversation_id
    fresh = await chat(api, key, "three")
    assert fresh.json()["answer"] == "before=default;three"
    assert fresh.json()["conversation_id"] != conversation_id
    variables = await api.http.get(
        f"/v1/conversations/{conversation_id}/variables", params={"user": "alice"}, headers=key
    )
    assert variables.status_code == 200, variables.text
    (var,) = variables.json()["data"]
    assert var["name"] == "str" and var["value"] == "two" and var["value_type"] == "string"


async def test_dialogue_count_increments(api: Api) -> None:
    doc = yaml.safe_load(remembering_chatflow())
    for node in doc["workflow"]["graph"]["nodes"]:
        if node["id"] == "answer":
            node["data"]["answer"] = "n={{#sys.dialogue_count#}}"
    key = await api.app_key(await import_text(api, yaml.safe_dump(doc)))
    first = (await chat(api, key, "a")).json()
    second = (await chat(api, key, "b", first["conversation_id"])).json()
    assert first["answer"].endswith("n=1") and second["answer"].endswith("n=2")


async def test_streaming_turn_follows_difys_chatflow_order(api: Api) -> None:
    key = await api.app_key(await import_text(api, remembering_chatflow()))
    response = await chat(api, key, "hello", response_mode="streaming")
    assert response.status_code == 200
    events = [p for _, p in sse_events(response.text) if isinstance(p, dict)]
    names = [p["event"] for p in events]
    # Dify's chatflow order: workflow_started → node events and message chunks →
    # message_end → workflow_finished.
    assert names[0] == "workflow_started"
    assert names[-2:] == ["message_end", "workflow_finished"]
    middle = set(names[1:-2])
    assert middle == {"node_started", "node_finished", "message"}
    answers = [p["answer"] for p in events if p["event"] == "message"]
    assert "".join(answers) == "before=default;hello"
    first_message = names.index("message")
    assert names.index("node_started") < first_message
    message = events[first_message]
    assert message["conversation_id"] and message["message_id"] == message["id"]
    # Each chunk names where its text came from (Dify's from_variable_selector).
    selectors = [p["from_variable_selector"] for p in events if p["event"] == "message"]
    assert ["conversation", "str"] in selectors and all(isinstance(s, list) for s in selectors)
    assert events[-1]["data"]["status"] == "succeeded"
    end = events[-2]
    assert end["message_id"] == message["message_id"] and "usage" in end["metadata"]
    listed = await api.http.get(
        "/v1/messages",
        params={"conversation_id": message["conversation_id"], "user": "alice"},
        headers=key,
    )
    assert listed.json()["data"][0]["answer"] == "before=default;hello"


async def test_messages_newest_first_and_paged(api: Api) -> None:
    key = await api.app_key(await import_text(api, remembering_chatflow()))
    conversation_id = (await chat(api, key, "q1")).json()["conversation_id"]
    for query in ("q2", "q3"):
        assert (await chat(api, key, query, conversation_id)).status_code == 200
    params = {"conversation_id": conversation_id, "user": "alice", "limit": 2}
    page = (await api.http.get("/v1/messages", params=params, headers=key)).json()
    assert [m["query"] for m in page["data"]] == ["q3", "q2"] and page["has_more"] is True
    item = page["data"][0]
    assert item["answer"] == "before=q2;q3" and item["status"] == "normal"
    assert {"inputs", "feedback", "message_files", "created_at", "total_tokens"} <= set(item)
    older = (
        await api.http.get(
            "/v1/messages", params={**params, "first_id": page["data"][-1]["id"]}, headers=key
        )
    ).json()
    assert [m["query"] for m in older["data"]] == ["q1"] and older["has_more"] is False
    other_user = await api.http.get("/v1/messages", params={**params, "user": "bob"}, headers=key)
    assert other_user.status_code == 404


async def test_unknown_or_foreign_conversation_is_404(api: Api) -> None:
    key = await api.app_key(await import_text(api, remembering_chatflow()))
    missing = await chat(api, key, "x", "00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    conversation_id = (await chat(api, key, "mine")).json()["conversation_id"]
    bob = await api.http.post(
        "/v1/chat-messages",
        json={"query": "x", "inputs": {}, "user": "bob", "conversation_id": conversation_id},
        headers=key,
    )
    assert bob.status_code == 404
    other_app = await api.app_key(await import_text(api, remembering_chatflow()))
    assert (await chat(api, other_app, "x", conversation_id)).status_code == 404


async def test_chat_endpoints_refuse_workflow_apps_and_vice_versa(api: Api) -> None:
    workflow_key = await api.app_key(await api.import_app("simple_passthrough_workflow.yml"))
    refused = await chat(api, workflow_key, "hi")
    assert refused.status_code == 400 and refused.json()["code"] == "not_chat_app"
    for path in ("/v1/conversations", "/v1/messages?conversation_id=x"):
        response = await api.http.get(path, headers=workflow_key)
        assert response.json()["code"] == "not_chat_app", path
    chat_key = await api.app_key(await import_text(api, remembering_chatflow()))
    run = await api.http.post(
        "/v1/workflows/run", json={"inputs": {}, "user": "a"}, headers=chat_key
    )
    assert run.status_code == 400 and run.json()["code"] == "not_workflow_app"


async def test_stop_a_turn(api: Api) -> None:
    doc = yaml.safe_load(remembering_chatflow())
    graph = doc["workflow"]["graph"]
    graph["nodes"].append(
        {
            "id": "nap",
            "data": {
                "type": "code",
                "title": "Nap",
                "code_language": "python3",
                "code": "import time\ndef main() -> dict:\n    time.sleep(8)\n    return {}\n",
                "variables": [],
                "outputs": {},
            },
        }
    )
    for edge in graph["edges"]:
        if edge["target"] == "answer":
            edge["target"] = "nap"
    graph["edges"].append({"id": "nap-answer", "source": "nap", "target": "answer"})
    key = await api.app_key(await import_text(api, yaml.safe_dump(doc)))
    turn = asyncio.create_task(chat(api, key, "slow"))
    await asyncio.sleep(1.5)
    logs = (await api.http.get("/v1/workflows/logs", headers=key)).json()
    task_id = logs["data"][0]["id"]
    ignored = await api.http.post(
        f"/v1/chat-messages/{task_id}/stop", json={"user": "mallory"}, headers=key
    )
    assert ignored.json() == {"result": "success"}
    stop = await api.http.post(
        f"/v1/chat-messages/{task_id}/stop", json={"user": "alice"}, headers=key
    )
    assert stop.status_code == 200 and stop.json() == {"result": "success"}
    response = await turn
    assert response.status_code == 200, response.text
    assert response.json()["answer"] == "before=default;"  # what was answered before the stop
    listed = await api.http.get(
        "/v1/messages",
        params={"conversation_id": response.json()["conversation_id"], "user": "alice"},
        headers=key,
    )
    assert listed.json()["data"][0]["status"] == "stopped"


async def test_fixture_stream_order_and_a_failed_turn(api: Api) -> None:
    key = await api.app_key(await import_text(api, (FIXTURES / CONV_VARS).read_text()))
    ok = await chat(api, key, "plain", response_mode="streaming")
    names = [p["event"] for _, p in sse_events(ok.text) if isinstance(p, dict)]
    # Dify's documented chatflow order: workflow_started → node events and message chunks
    # (a message may arrive as soon as its text is known, before its Answer node starts) →
    # message_end → workflow_finished.
    assert names[0] == "workflow_started"
    assert names[-2:] == ["message_end", "workflow_finished"]
    assert set(names[1:-2]) == {"node_started", "node_finished", "message"}
    assert names.count("node_started") == names.count("node_finished") == 3
    events = [p for _, p in sse_events(ok.text) if isinstance(p, dict)]
    assert [e["answer"] for e in events if e["event"] == "message"] == ["plain"]
    doc = yaml.safe_load((FIXTURES / CONV_VARS).read_text())
    for node in doc["workflow"]["graph"]["nodes"]:
        if node["data"]["type"] == "assigner":
            node["data"] = {
                "type": "code",
                "title": "Boom",
                "code_language": "python3",
                "code": "def main() -> dict:\n    raise ValueError('boom')\n",
                "variables": [],
                "outputs": {},
            }
    broken = await api.app_key(await import_text(api, yaml.safe_dump(doc)))
    failed = await chat(api, broken, "x", response_mode="streaming")
    events = [p for _, p in sse_events(failed.text) if isinstance(p, dict)]
    # On failure Dify ends a chatflow stream with workflow_finished(failed) then error.
    assert [e["event"] for e in events[-2:]] == ["workflow_finished", "error"]
    assert events[-2]["data"]["status"] == "failed" and "message_end" not in str(events)
    assert "boom" in events[-1]["message"]
    blocking = await chat(api, broken, "x")
    assert blocking.status_code == 400 and blocking.json()["code"] == "completion_request_error"
