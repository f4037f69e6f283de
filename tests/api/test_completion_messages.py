"""Chatbot, Text Generator and Agent apps on the service API: ``/v1/completion-messages``,
``/v1/chat-messages`` with the conversation's history as model memory, ``/v1/parameters``,
against the fake OpenAI-compatible server as the model gateway."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.api.conftest import Api
from tests.api.test_chat import import_text
from tests.fakes.openai_server import FakeLLMServer, Reply
from tests.graph.test_model_config_import import AGENT, CHATBOT, TEXT_GENERATOR

WORKFLOW = "basic_llm_chat_workflow.yml"


async def _key(api: Api, text: str) -> dict[str, str]:
    return await api.app_key(await import_text(api, text))


async def _complete(api: Api, key: dict[str, str], **body: Any) -> Any:
    payload = {"inputs": {"words": 5, "query": "A long text."}, "user": "alice", **body}
    return await api.http.post("/v1/completion-messages", json=payload, headers=key)


def _payloads(body: str) -> list[dict[str, Any]]:
    """The SSE data payloads in order (pings left out)."""
    return [
        json.loads(line[6:])
        for block in body.split("\n\n")
        for line in block.splitlines()
        if line.startswith("data: ")
    ]


def _messages(gateway: FakeLLMServer) -> list[list[tuple[str, str]]]:
    """(role, content) of each model call's messages, in call order."""
    return [
        [(m["role"], str(m["content"])) for m in r.json["messages"]]
        for r in gateway.chat_requests()
    ]


async def test_completion_blocking_answers_with_difys_fields(
    api: Api, gateway: FakeLLMServer
) -> None:
    gateway.script(Reply(text="Short summary."))
    key = await _key(api, TEXT_GENERATOR)
    response = await _complete(api, key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["event"] == "message" and body["mode"] == "completion"
    assert body["answer"] == "Short summary."
    assert body["id"] == body["message_id"] and body["task_id"] and body["created_at"]
    assert {"prompt_tokens", "completion_tokens", "total_tokens"} <= set(body["metadata"]["usage"])
    assert "conversation_id" not in body
    (call,) = _messages(gateway)
    assert call == [
        ("system", "Summarise the text below in 5 words."),
        ("user", "A long text."),
    ]


async def test_completion_streams_message_chunks_then_message_end(
    api: Api, gateway: FakeLLMServer
) -> None:
    gateway.script(Reply(text="Streamed summary text.", chunk_size=5))
    key = await _key(api, TEXT_GENERATOR)
    response = await _complete(api, key, response_mode="streaming")
    assert response.status_code == 200, response.text
    events = _payloads(response.text)
    names = [p["event"] for p in events]
    assert names[-1] == "message_end" and set(names[:-1]) == {"message"}, names
    assert "".join(p["answer"] for p in events[:-1]) == "Streamed summary text."
    end = events[-1]
    assert end["message_id"] == events[0]["message_id"] and "usage" in end["metadata"]
    assert all("conversation_id" not in p and "workflow_run_id" not in p for p in events)


async def test_legacy_query_fills_the_query_input(api: Api, gateway: FakeLLMServer) -> None:
    key = await _key(api, TEXT_GENERATOR)
    response = await _complete(api, key, inputs={"words": 3}, query="Legacy text.")
    assert response.status_code == 200, response.text
    (call,) = _messages(gateway)
    assert call[-1] == ("user", "Legacy text.")
    # The fake server echoes the last user message when nothing is scripted.
    assert response.json()["answer"] == "Legacy text."


async def test_completion_refuses_bad_inputs_and_other_modes(api: Api) -> None:
    key = await _key(api, TEXT_GENERATOR)
    missing = await _complete(api, key, inputs={"query": "x"})
    assert missing.status_code == 400 and missing.json()["code"] == "invalid_param"
    assert "words" in missing.json()["message"]
    chat = await api.http.post(
        "/v1/chat-messages", json={"query": "hi", "inputs": {}, "user": "u"}, headers=key
    )
    assert chat.status_code == 400 and chat.json()["code"] == "not_chat_app"
    workflow_key = await api.app_key(await api.import_app(WORKFLOW))
    wrong = await _complete(api, workflow_key)
    assert wrong.status_code == 400 and wrong.json()["code"] == "app_unavailable"
    unknown = await api.http.post(
        "/v1/completion-messages/no-such-task/stop", json={"user": "alice"}, headers=key
    )
    assert unknown.status_code == 404


async def test_completion_messages_take_feedback(api: Api, gateway: FakeLLMServer) -> None:
    gateway.script(Reply(text="Short summary."))
    key = await _key(api, TEXT_GENERATOR)
    message_id = (await _complete(api, key)).json()["message_id"]
    url = f"/v1/messages/{message_id}/feedbacks"
    liked = await api.http.post(url, json={"rating": "like", "user": "alice"}, headers=key)
    assert liked.status_code == 200, liked.text
    (item,) = (await api.http.get("/v1/app/feedbacks", headers=key)).json()["data"]
    assert item["message_id"] == message_id and item["rating"] == "like"
    workflow_key = await api.app_key(await api.import_app(WORKFLOW))
    refused = await api.http.get("/v1/app/feedbacks", headers=workflow_key)
    assert refused.status_code == 400 and refused.json()["code"] == "not_chat_app"
    assert "the app is workflow" in refused.json()["message"]


async def test_completion_stop_of_a_finished_task_succeeds(
    api: Api, gateway: FakeLLMServer
) -> None:
    key = await _key(api, TEXT_GENERATOR)
    task_id = (await _complete(api, key)).json()["task_id"]
    stopped = await api.http.post(
        f"/v1/completion-messages/{task_id}/stop", json={"user": "alice"}, headers=key
    )
    assert stopped.status_code == 200 and stopped.json() == {"result": "success"}
    assert len(gateway.chat_requests()) == 1


async def _chat(api: Api, key: dict[str, str], query: str, conversation: str = "", **extra: Any):
    body = {
        "query": query,
        "inputs": {"city": "Lyon", "language": "English"},
        "user": "alice",
        "conversation_id": conversation,
        **extra,
    }
    return await api.http.post("/v1/chat-messages", json=body, headers=key)


async def test_chatbot_answers_and_the_second_turn_remembers_the_first(
    api: Api, gateway: FakeLLMServer
) -> None:
    key = await _key(api, CHATBOT)
    gateway.script(Reply(text="Start at Fourvière."), times=1)
    first = await _chat(api, key, "What first?")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["mode"] == "chat" and body["answer"] == "Start at Fourvière."
    conversation = body["conversation_id"]
    gateway.script(Reply(text="Then the old town."), times=1)
    second = await _chat(api, key, "And then?", conversation)
    assert second.status_code == 200, second.text
    assert second.json()["answer"] == "Then the old town."
    first_call, second_call = _messages(gateway)
    system = ("system", "You guide visitors of Lyon. Answer in English.")
    assert first_call == [system, ("user", "What first?")]
    assert second_call == [
        system,
        ("user", "What first?"),
        ("assistant", "Start at Fourvière."),
        ("user", "And then?"),
    ]
    # A new conversation starts without memory.
    await _chat(api, key, "Hello")
    assert _messages(gateway)[-1] == [system, ("user", "Hello")]


async def test_chatbot_streams_only_its_answer(api: Api, gateway: FakeLLMServer) -> None:
    gateway.script(Reply(text="Bonjour et bienvenue.", chunk_size=3))
    key = await _key(api, CHATBOT)
    response = await _chat(api, key, "Hi", response_mode="streaming")
    assert response.status_code == 200, response.text
    events = _payloads(response.text)
    names = [p["event"] for p in events]
    assert names[-1] == "message_end" and set(names[:-1]) == {"message"}, names
    assert "".join(p["answer"] for p in events[:-1]) == "Bonjour et bienvenue."
    assert all(p["conversation_id"] == events[0]["conversation_id"] for p in events)
    messages = await api.http.get(
        "/v1/messages",
        params={"conversation_id": events[0]["conversation_id"], "user": "alice"},
        headers=key,
    )
    assert messages.status_code == 200, messages.text
    (message,) = messages.json()["data"]
    assert message["query"] == "Hi" and message["answer"] == "Bonjour et bienvenue."


async def test_parameters_and_info_of_a_chatbot(api: Api) -> None:
    key = await _key(api, CHATBOT)
    params = (await api.http.get("/v1/parameters", headers=key)).json()
    config = yaml.safe_load(CHATBOT)["model_config"]
    assert params["opening_statement"] == "Hello! Which city?"
    assert params["suggested_questions"] == ["What should I see first?"]
    assert params["user_input_form"] == config["user_input_form"]
    assert params["retriever_resource"] == {"enabled": True}
    assert params["file_upload"] == config["file_upload"]
    info = (await api.http.get("/v1/info", headers=key)).json()
    assert info["mode"] == "chat" and info["name"] == "City guide"


async def test_console_export_and_draft_of_a_chatbot(api: Api) -> None:
    app_id = await import_text(api, CHATBOT)
    exported = await api.http.get(f"/console/api/apps/{app_id}/export", headers=api.console)
    assert exported.status_code == 200, exported.text
    doc = yaml.safe_load(exported.json()["data"])
    assert doc["app"]["mode"] == "chat" and "workflow" not in doc
    assert doc["model_config"] == yaml.safe_load(CHATBOT)["model_config"]
    draft = await api.http.get(f"/console/api/apps/{app_id}/workflows/draft", headers=api.console)
    assert draft.status_code == 200, draft.text
    types = [n["data"]["type"] for n in draft.json()["graph"]["nodes"]]
    assert types == ["start", "llm", "answer"]


async def test_agent_app_publishes_and_answers_when_streamed(
    api: Api, gateway: FakeLLMServer
) -> None:
    response = await api.http.post(
        "/console/api/apps/imports", json={"yaml_content": AGENT}, headers=api.console
    )
    assert response.status_code == 201, response.text
    assert response.json()["app_mode"] == "agent-chat"
    assert response.json()["problems"] == []  # the agent node runs; its tool (time) is built in
    app_id = response.json()["app_id"]
    published = await api.http.post(
        f"/console/api/apps/{app_id}/workflows/publish", headers=api.console
    )
    assert published.status_code == 201, published.text
    key = await api.app_key(app_id)
    blocking = await api.http.post(
        "/v1/chat-messages", json={"query": "hi", "inputs": {}, "user": "u"}, headers=key
    )
    assert blocking.status_code == 400 and "blocking" in blocking.json()["message"]
    action = json.dumps({"action": "current_time", "action_input": {}})
    final = json.dumps({"action": "Final Answer", "action_input": "It is Monday."})
    # Later scripts win: the second reply is scripted first.
    gateway.script(Reply(text=f"Thought: done\nAction:\n```\n{final}\n```"), times=1)
    gateway.script(Reply(text=f"Thought: check the clock\nAction:\n```\n{action}\n```"), times=1)
    streamed = await api.http.post(
        "/v1/chat-messages",
        json={
            "query": "what day is it?",
            "inputs": {"name": "Ada"},
            "user": "u",
            "response_mode": "streaming",
        },
        headers=key,
    )
    assert streamed.status_code == 200, streamed.text
    payloads = _payloads(streamed.text)
    events = [p["event"] for p in payloads]
    # Dify's agent stream: agent_thought / agent_message* then message_end; no workflow events.
    assert set(events) == {"agent_thought", "agent_message", "message_end"}, events
    assert events[-1] == "message_end"
    answer = "".join(p["answer"] for p in payloads if p["event"] == "agent_message")
    assert answer == "It is Monday."
    thoughts = [p for p in payloads if p["event"] == "agent_thought"]
    with_tool = [t for t in thoughts if t["tool"]]
    assert with_tool and with_tool[-1]["tool"] == "current_time"
    assert with_tool[-1]["position"] == 1
    assert json.loads(with_tool[-1]["tool_input"]) == {"current_time": {}}
    observed = json.loads(with_tool[-1]["observation"])["current_time"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", observed), observed  # the app's format
    assert {t["message_id"] for t in thoughts} == {payloads[-1]["message_id"]}
    first, _second = gateway.chat_requests()
    # The app's strategy is ReAct: its tool is described in the system prompt.
    assert "current_time" in str(first.json["messages"][0]["content"])
    listed = await api.http.get(
        "/v1/messages",
        params={"conversation_id": payloads[-1]["conversation_id"], "user": "u"},
        headers=key,
    )
    assert listed.status_code == 200, listed.text
    [message] = listed.json()["data"]
    assert message["answer"] == "It is Monday."
    stored = message["agent_thoughts"]
    assert [(t["position"], t["tool"]) for t in stored] == [(1, "current_time"), (2, "")]
    assert json.loads(stored[0]["observation"]) == {"current_time": observed}
    assert stored[1]["thought"].endswith(final + "\n```")
