"""Conversations (list, rename, delete, variables), feedbacks, uploads, and every chat
endpoint answering 404 to another tenant's key."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_chat import chat, import_text, remembering_chatflow

EXTRACT_APP = """
app: {name: extract, mode: workflow}
kind: app
version: 0.3.1
workflow:
  graph:
    nodes:
      - id: start
        data:
          type: start
          title: Start
          variables: [{variable: doc, label: doc, type: file, required: true}]
      - id: ex
        data: {type: document-extractor, title: Extract, variable_selector: [start, doc]}
      - id: end
        data:
          type: end
          title: End
          outputs: [{variable: text, value_selector: [ex, text]}]
    edges:
      - {source: start, target: ex}
      - {source: ex, target: end}
"""


async def test_list_rename_delete_conversations(api: Api) -> None:
    key = await api.app_key(await import_text(api, remembering_chatflow()))
    ids = [(await chat(api, key, f"topic {n}")).json()["conversation_id"] for n in range(3)]
    bob = (
        await api.http.post(
            "/v1/chat-messages",
            json={"query": "bob's", "inputs": {}, "user": "bob"},
            headers=key,
        )
    ).json()["conversation_id"]
    listed = (
        await api.http.get("/v1/conversations", params={"user": "alice", "limit": 2}, headers=key)
    ).json()
    assert [c["id"] for c in listed["data"]] == ids[::-1][:2] and listed["has_more"] is True
    assert listed["data"][0]["name"] == "topic 2"
    assert {"inputs", "status", "introduction", "created_at", "updated_at"} <= set(
        listed["data"][0]
    )
    rest = (
        await api.http.get(
            "/v1/conversations",
            params={"user": "alice", "last_id": listed["data"][-1]["id"]},
            headers=key,
        )
    ).json()
    assert [c["id"] for c in rest["data"]] == [ids[0]] and rest["has_more"] is False
    oldest_first = (
        await api.http.get(
            "/v1/conversations", params={"user": "alice", "sort_by": "created_at"}, headers=key
        )
    ).json()
    assert [c["id"] for c in oldest_first["data"]] == ids and bob not in ids
    renamed = await api.http.post(
        f"/v1/conversations/{ids[0]}/name", json={"name": "Renamed", "user": "alice"}, headers=key
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    auto = await api.http.post(
        f"/v1/conversations/{ids[1]}/name",
        json={"auto_generate": True, "user": "alice"},
        headers=key,
    )
    assert auto.json()["name"] == "topic 1"
    foreign = await api.http.post(
        f"/v1/conversations/{bob}/name", json={"name": "x", "user": "alice"}, headers=key
    )
    assert foreign.status_code == 404
    deleted = await api.http.request(
        "DELETE", f"/v1/conversations/{ids[0]}", json={"user": "alice"}, headers=key
    )
    assert deleted.status_code == 204
    again = await api.http.request(
        "DELETE", f"/v1/conversations/{ids[0]}", json={"user": "alice"}, headers=key
    )
    assert again.status_code == 404
    assert (await chat(api, key, "more", ids[0])).status_code == 404


async def test_conversation_variables_read_and_update_with_type_check(api: Api) -> None:
    key = await api.app_key(await import_text(api, remembering_chatflow()))
    conversation_id = (await chat(api, key, "first")).json()["conversation_id"]
    base = f"/v1/conversations/{conversation_id}/variables"
    (var,) = (await api.http.get(base, params={"user": "alice"}, headers=key)).json()["data"]
    assert var["value"] == "first"
    assert var["id"] == "e208ec58-4503-48a9-baf8-17aae67e5fa0"
    put = await api.http.put(
        f"{base}/{var['id']}", json={"value": "edited", "user": "alice"}, headers=key
    )
    assert put.status_code == 200 and put.json()["value"] == "edited"
    wrong = await api.http.put(
        f"{base}/{var['id']}", json={"value": 42, "user": "alice"}, headers=key
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_param"
    assert "'str'" in wrong.json()["message"] and "string" in wrong.json()["message"]
    missing = await api.http.put(f"{base}/nope", json={"value": "x"}, headers=key)
    assert missing.status_code == 404
    # The next turn starts from the edited value.
    turn = await chat(api, key, "second", conversation_id)
    assert turn.json()["answer"] == "before=edited;second"


async def test_feedbacks(api: Api) -> None:
    key = await api.app_key(await import_text(api, remembering_chatflow()))
    message_id = (await chat(api, key, "rate me")).json()["message_id"]
    url = f"/v1/messages/{message_id}/feedbacks"
    liked = await api.http.post(url, json={"rating": "like", "user": "alice"}, headers=key)
    assert liked.status_code == 200 and liked.json() == {"result": "success"}
    disliked = await api.http.post(
        url, json={"rating": "dislike", "user": "alice", "content": "meh"}, headers=key
    )
    assert disliked.status_code == 200
    listed = (await api.http.get("/v1/app/feedbacks", headers=key)).json()
    (item,) = listed["data"]
    assert item["rating"] == "dislike" and item["content"] == "meh"
    assert item["message_id"] == message_id and item["from_source"] == "api"
    bad = await api.http.post(url, json={"rating": "love", "user": "alice"}, headers=key)
    assert bad.status_code == 400
    foreign = await api.http.post(url, json={"rating": "like", "user": "bob"}, headers=key)
    assert foreign.status_code == 404
    revoked = await api.http.post(url, json={"rating": None, "user": "alice"}, headers=key)
    assert revoked.status_code == 200
    assert (await api.http.get("/v1/app/feedbacks", headers=key)).json()["data"] == []


async def test_upload_limits_and_an_upload_as_a_file_input(api: Api) -> None:
    key = await api.app_key(await import_text(api, EXTRACT_APP))
    upload = await api.http.post(
        "/v1/files/upload",
        files={"file": ("notes.txt", b"hello from a file", "text/plain")},
        data={"user": "alice"},
        headers=key,
    )
    assert upload.status_code == 201, upload.text
    body = upload.json()
    assert body["name"] == "notes.txt" and body["size"] == 17 and body["extension"] == "txt"
    assert body["mime_type"] == "text/plain" and body["created_by"]
    assert {"id", "created_at", "preview_url", "source_url", "tenant_id", "file_key"} <= set(body)
    doc = {"transfer_method": "local_file", "upload_file_id": body["id"], "type": "document"}
    run = await api.http.post(
        "/v1/workflows/run", json={"inputs": {"doc": doc}, "user": "alice"}, headers=key
    )
    assert run.status_code == 200, run.text
    assert run.json()["data"]["outputs"] == {"text": "hello from a file"}
    unknown = {**doc, "upload_file_id": "nope"}
    refused = await api.http.post(
        "/v1/workflows/run", json={"inputs": {"doc": unknown}, "user": "alice"}, headers=key
    )
    assert refused.status_code == 400 and "inputs.doc" in refused.json()["message"]
    exe = await api.http.post(
        "/v1/files/upload",
        files={"file": ("x.exe", b"MZ", "application/octet-stream")},
        headers=key,
    )
    assert exe.status_code == 415 and exe.json()["code"] == "unsupported_file_type"
    api.settings.upload_max_bytes = 8
    big = await api.http.post(
        "/v1/files/upload", files={"file": ("big.txt", b"123456789", "text/plain")}, headers=key
    )
    assert big.status_code == 413 and big.json()["code"] == "file_too_large"


async def test_another_tenants_key_gets_404_on_every_chat_endpoint(api: Api) -> None:
    key = await api.app_key(await import_text(api, remembering_chatflow()))
    turn = (await chat(api, key, "private")).json()
    conversation_id, message_id, task_id = (
        turn["conversation_id"],
        turn["message_id"],
        turn["task_id"],
    )
    upload = await api.http.post(
        "/v1/files/upload", files={"file": ("a.txt", b"a", "text/plain")}, headers=key
    )
    other_console = await api.other_tenant()
    api_other = Api(http=api.http, console=other_console, settings=api.settings)
    other = await api_other.app_key(await import_text(api_other, remembering_chatflow()))
    user = {"user": "alice"}
    calls = [
        (
            "POST",
            "/v1/chat-messages",
            {"query": "x", "inputs": {}, "conversation_id": conversation_id, **user},
        ),
        ("POST", f"/v1/chat-messages/{task_id}/stop", user),
        ("GET", f"/v1/messages?conversation_id={conversation_id}&user=alice", None),
        ("POST", f"/v1/conversations/{conversation_id}/name", {"name": "x", **user}),
        ("DELETE", f"/v1/conversations/{conversation_id}", user),
        ("GET", f"/v1/conversations/{conversation_id}/variables?user=alice", None),
        ("PUT", f"/v1/conversations/{conversation_id}/variables/x", {"value": "v", **user}),
        ("POST", f"/v1/messages/{message_id}/feedbacks", {"rating": "like", **user}),
        ("GET", f"/v1/workflows/run/{task_id}", None),
        ("POST", f"/v1/workflows/run/{task_id}/rerun", {"from_node": "answer"}),
    ]
    for method, url, payload in calls:
        response = await api.http.request(method, url, json=payload, headers=other)
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["code"] == "not_found"
    listed = (await api.http.get("/v1/conversations", params=user, headers=other)).json()
    assert listed["data"] == []
    assert (await api.http.get("/v1/app/feedbacks", headers=other)).json()["data"] == []
    doc = {"transfer_method": "local_file", "upload_file_id": upload.json()["id"]}
    used = await api.http.post(
        "/v1/chat-messages",
        json={"query": "x", "inputs": {}, "files": [doc], **user},
        headers=other,
    )
    assert used.status_code == 400 and "files[0]" in used.json()["message"]
