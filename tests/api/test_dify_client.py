"""The PyPI ``dify-client`` (0.1.10, the version the registry serves; it has ``ChatClient``
and ``CompletionClient`` but no workflow client, so workflows go through its ``DifyClient``
request helper) against a live ``tideflow api`` process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from dify_client import ChatClient, DifyClient  # pyright: ignore[reportMissingTypeStubs]
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import FIXTURES
from tests.api.test_chat import remembering_chatflow
from tests.api.test_live import _cli, live_env  # noqa: F401  # pyright: ignore[reportUnusedImport]
from tideflow.platform.settings import Settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.worker import registered_activities, registered_workflows

pytestmark = pytest.mark.slow


def _import(env: dict[str, str], path: Path) -> str:
    done = _cli(env, "import", str(path), "--publish", "--key")
    assert done.returncode == 0, done.stderr
    key: str = json.loads(done.stdout)["api_key"]
    return key


def _client_calls(base: str, workflow_key: str, chat_key: str) -> dict[str, Any]:
    """Everything the client does, synchronously (it uses requests)."""
    out: dict[str, Any] = {}
    workflows = DifyClient(workflow_key)
    workflows.base_url = base
    run = workflows._send_request(  # pyright: ignore[reportPrivateUsage]
        "POST",
        "/workflows/run",
        {"inputs": {"query": "from dify-client"}, "user": "dc", "response_mode": "blocking"},
    )
    out["workflow"] = (run.status_code, run.json())
    chat = ChatClient(chat_key)
    chat.base_url = base
    first = chat.create_chat_message({}, "turn one", "dc")
    out["first"] = (first.status_code, first.json())
    conversation_id = first.json()["conversation_id"]
    second = chat.create_chat_message({}, "turn two", "dc", conversation_id=conversation_id)
    out["second"] = (second.status_code, second.json())
    streamed = chat.create_chat_message({}, "turn three", "dc", "streaming", conversation_id)
    out["stream"] = [line for line in streamed.iter_lines(decode_unicode=True) if line]
    out["messages"] = chat.get_conversation_messages("dc", conversation_id).json()
    out["conversations"] = chat.get_conversations("dc").json()
    out["renamed"] = chat.rename_conversation(conversation_id, "named", "dc").json()
    message_id = first.json()["message_id"]
    out["feedback"] = chat.message_feedback(message_id, "like", "dc").json()
    out["parameters"] = chat.get_application_parameters("dc").json()
    upload = chat.file_upload("dc", {"file": ("a.txt", b"abc", "text/plain")})
    out["upload"] = (upload.status_code, upload.json())
    return out


async def test_dify_client_runs_a_workflow_and_a_two_turn_chat(
    live_env: dict[str, str],  # noqa: F811
    temporal_env: WorkflowEnvironment,
    tmp_path: Path,
) -> None:
    workflow_key = await asyncio.to_thread(
        _import, live_env, FIXTURES / "simple_passthrough_workflow.yml"
    )
    chatflow = tmp_path / "remembering.yml"
    chatflow.write_text(remembering_chatflow())
    chat_key = await asyncio.to_thread(_import, live_env, chatflow)
    base = f"http://127.0.0.1:{live_env['TIDEFLOW_API_PORT']}/v1"
    settings = Settings(task_queue=live_env["TIDEFLOW_TASK_QUEUE"])
    worker = TideflowTemporal(settings).worker(
        temporal_env.client, workflows=registered_workflows(), activities=registered_activities()
    )
    async with worker:
        out = await asyncio.to_thread(_client_calls, base, workflow_key, chat_key)
    status, body = out["workflow"]
    assert status == 200 and body["data"]["outputs"] == {"query": "from dify-client"}
    assert out["first"][0] == 200 and out["first"][1]["answer"] == "before=default;turn one"
    assert out["second"][0] == 200 and out["second"][1]["answer"] == "before=turn one;turn two"
    events = [json.loads(line[6:]) for line in out["stream"] if line.startswith("data: ")]
    names = [e["event"] for e in events]
    assert names[0] == "workflow_started" and names[-2:] == ["message_end", "workflow_finished"]
    assert "".join(e["answer"] for e in events if e["event"] == "message") == (
        "before=turn two;turn three"
    )
    assert [m["query"] for m in out["messages"]["data"]] == ["turn three", "turn two", "turn one"]
    assert len(out["conversations"]["data"]) == 1 and out["renamed"]["name"] == "named"
    assert out["feedback"] == {"result": "success"}
    assert "user_input_form" in out["parameters"]
    assert out["upload"][0] == 201 and out["upload"][1]["name"] == "a.txt"
