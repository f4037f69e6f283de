"""An agent whose tool is on a real MCP server process: its worker is SIGKILLed after the tool
call finished, and the worker that takes over replays the call from history. The MCP server
counts the calls it served: one."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from tests.activities.support import apply_settings
from tests.fakes.openai_server import FakeLLMServer, Reply
from tests.plugins.test_mcp_client import TOKEN, HttpServer, calls
from tests.runtime.graphs import chain, end, node
from tests.runtime.support import plan_from_graph
from tests.runtime.worker_process import kill_tree, worker_process
from tideflow.local_run import graph_worker
from tideflow.platform.db.crud.accounts import create_tenant_with_owner
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.session import get_engine
from tideflow.platform.db.tool_models import ToolProviderRecord
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.tool_providers import seal_credentials
from tideflow.workflows.engine.models import GraphRunInput
from tideflow.workflows.interpreter import GraphWorkflow

pytestmark = pytest.mark.slow


@pytest.fixture
def mcp_server(tmp_path: Path) -> Iterator[HttpServer]:
    server = HttpServer("streamable-http", tmp_path / "calls.jsonl")
    try:
        yield server
    finally:
        kill_tree(server.proc)


@pytest.fixture
def settings(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_llm: FakeLLMServer,
    mcp_server: HttpServer,
) -> Iterator[Settings]:
    yield apply_settings(
        monkeypatch,
        tmp_path,
        model_gateway_url=fake_llm.base_url,
        ssrf_allowed_hosts=json.dumps([f"127.0.0.1:{mcp_server.port}"]),
    )
    monkeypatch.undo()
    get_settings.cache_clear()


def _tenant_with_mcp(settings: Settings, server: HttpServer) -> str:
    """A tenant whose MCP provider ``calc`` is the fake server (as the console adds it)."""
    upgrade_database(settings.db_url)
    with Session(get_engine(settings.db_url)) as session:
        tenant, _ = create_tenant_with_owner(
            session, tenant_name="t", email=f"{uuid.uuid4().hex[:6]}@example.com", password="pw"
        )
        session.add(
            ToolProviderRecord(
                tenant_id=tenant.id,
                kind="mcp",
                name="Calculator",
                server_identifier="calc",
                config={"transport": "streamable_http", "url": server.url},
                tools=[
                    {
                        "name": "add",
                        "description": "Add two numbers",
                        "input_schema": {
                            "type": "object",
                            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                            "required": ["a", "b"],
                        },
                    }
                ],
                encrypted_credentials=seal_credentials(
                    {"headers": {"Authorization": TOKEN}}, settings.secret_key
                ),
            )
        )
        session.commit()
        return tenant.id


def _agent_graph(tenant_id: str) -> GraphRunInput:
    calc = {
        "provider_name": "calc",
        "provider_type": "mcp",
        "tool_name": "add",
        "enabled": True,
        "parameters": {},
    }
    parameters = {
        "model": {
            "type": "constant",
            "value": {"provider": "openai", "model": "gpt-4o-mini", "mode": "chat"},
        },
        "tools": {"type": "constant", "value": [calc]},
        "query": {"type": "mixed", "value": "What is 2 + 40?"},
        "maximum_iterations": {"type": "constant", "value": 3},
    }
    nodes = [
        node("start", "start", variables=[]),
        node(
            "agent",
            "agent",
            agent_strategy_provider_name="langgenius/agent/agent",
            agent_strategy_name="function_calling",
            agent_parameters=parameters,
        ),
        end(("text", ["agent", "text"])),
    ]
    plan = plan_from_graph("workflow", nodes, chain("start", "agent", "end"))
    return GraphRunInput(plan=plan, tenant_id=tenant_id)


async def test_a_killed_agent_does_not_call_its_mcp_tool_again(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    settings: Settings,
    fake_llm: FakeLLMServer,
    mcp_server: HttpServer,
) -> None:
    client = temporal_env.client
    tenant_id = _tenant_with_mcp(settings, mcp_server)
    call = {"id": "call-1", "function": {"name": "add", "arguments": '{"a": 2, "b": 40}'}}
    # Later scripts win: the last reply is scripted first. The second model step stalls, so
    # worker A dies waiting for it, after the tool call finished.
    fake_llm.script(Reply(text="It is 42."), times=1)
    fake_llm.script(Reply(text="late", stall_after=0), times=1)
    fake_llm.script(Reply(tool_calls=[call]), times=1)
    target = client.service_client.config.target_host
    with worker_process(target, task_queue) as worker_a:
        handle = await client.start_workflow(
            GraphWorkflow.run,
            _agent_graph(tenant_id),
            id=f"agent-mcp-kill-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        for _ in range(600):
            if len(calls(mcp_server.calls_file)) == 1 and len(fake_llm.chat_requests()) == 2:
                break
            await asyncio.sleep(0.1)
        assert len(calls(mcp_server.calls_file)) == 1 and len(fake_llm.chat_requests()) == 2
        kill_tree(worker_a)
    async with graph_worker(client, settings, task_queue):
        result: Any = await asyncio.wait_for(handle.result(), 120)
    assert result.status == "succeeded", result.error
    assert result.outputs["text"] == "It is 42."
    served = calls(mcp_server.calls_file)
    assert [(c["tool"], c["arguments"], c["authorization"]) for c in served] == [
        ("add", {"a": 2, "b": 40}, TOKEN)
    ]
    third = fake_llm.chat_requests()[-1].json["messages"][-1]
    assert (third["role"], third["content"]) == ("tool", "42")
