"""The agent node on the Temporal dev server, with the fake model server through litellm and a
real built-in tool (the web scraper, reading a local page that counts its visits).

Function calling and ReAct each take a tool round and then answer; a worker killed after a
tool call finished is replaced by one that replays it from history: the page is read once.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.activities import support
from tests.activities.support import apply_settings, running_server
from tests.fakes.openai_server import FakeLLMServer, Reply
from tests.runtime.graphs import chain, end, node
from tests.runtime.support import plan_from_graph
from tests.runtime.worker_process import kill_tree, worker_process
from tideflow.local_run import graph_worker
from tideflow.platform.settings import Settings, get_settings
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult
from tideflow.workflows.interpreter import GraphWorkflow

pytestmark = pytest.mark.slow


@pytest.fixture
def page() -> Iterator[str]:
    with running_server() as url:
        support.seen.clear()
        yield f"{url}/echo"


@pytest.fixture
def settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_llm: FakeLLMServer
) -> Iterator[Settings]:
    yield apply_settings(
        monkeypatch, tmp_path, model_gateway_url=fake_llm.base_url, allow_private_network="true"
    )
    monkeypatch.undo()
    get_settings.cache_clear()


def _agent_graph(strategy: str, *more_tools: dict[str, Any]) -> GraphRunInput:
    scraper = {
        "provider_name": "langgenius/webscraper/webscraper",
        "provider_type": "builtin",
        "tool_name": "webscraper",
        "enabled": True,
        "parameters": {},
    }
    parameters = {
        "model": {
            "type": "constant",
            "value": {"provider": "openai", "model": "gpt-4o-mini", "mode": "chat"},
        },
        "tools": {"type": "constant", "value": [scraper, *more_tools]},
        "instruction": {"type": "mixed", "value": "Read pages when asked."},
        "query": {"type": "mixed", "value": "{{#start.q#}}"},
        "maximum_iterations": {"type": "constant", "value": 3},
    }
    nodes = [
        node("start", "start", variables=[{"variable": "q", "type": "text-input", "label": "q"}]),
        node(
            "agent",
            "agent",
            agent_strategy_provider_name="langgenius/agent/agent",
            agent_strategy_name=strategy,
            agent_parameters=parameters,
        ),
        end(("text", ["agent", "text"]), ("log", ["agent", "json"])),
    ]
    plan = plan_from_graph("workflow", nodes, chain("start", "agent", "end"))
    return GraphRunInput(plan=plan, inputs={"q": "what does the page say?"})


def _tool_call(url: str) -> Reply:
    arguments = json.dumps({"url": url})
    return Reply(
        tool_calls=[{"id": "call-1", "function": {"name": "webscraper", "arguments": arguments}}]
    )


def _in_order(fake_llm: FakeLLMServer, *replies: Reply) -> None:
    """Answer the next model calls with ``replies`` in this order (later scripts win)."""
    for reply in reversed(replies):
        fake_llm.script(reply, times=1)


async def _run(client: Client, task_queue: str, run_input: GraphRunInput) -> GraphRunResult:
    return await client.execute_workflow(
        GraphWorkflow.run, run_input, id=f"agent-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )


def _page_visits() -> int:
    return sum(1 for path, _host in support.seen if path == "/echo")


async def test_function_calling_agent_calls_the_tool_then_answers(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    settings: Settings,
    fake_llm: FakeLLMServer,
    page: str,
) -> None:
    _in_order(fake_llm, _tool_call(page), Reply(text="The page echoes the request."))
    async with graph_worker(temporal_env.client, settings, task_queue):
        result = await _run(temporal_env.client, task_queue, _agent_graph("function_calling"))
    assert result.status == "succeeded", result.error
    assert result.outputs["text"] == "The page echoes the request."
    assert _page_visits() == 1
    labels = [entry["label"] for entry in result.outputs["log"]]
    assert labels == ["ROUND 1", "CALL webscraper", "ROUND 2"]
    first, second = fake_llm.chat_requests()
    assert [t["function"]["name"] for t in first.json["tools"]] == ["webscraper"]
    tool_message = second.json["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call-1"
    assert '"method": "GET"' in tool_message["content"] or "GET" in tool_message["content"]


async def test_react_agent_reads_actions_from_text(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    settings: Settings,
    fake_llm: FakeLLMServer,
    page: str,
) -> None:
    action = json.dumps({"action": "webscraper", "action_input": {"url": page}})
    final = json.dumps({"action": "Final Answer", "action_input": "It echoes."})
    _in_order(
        fake_llm,
        Reply(text=f"Thought: read it\nAction:\n```\n{action}\n```"),
        Reply(text=f"Thought: done\nAction:\n```\n{final}\n```"),
    )
    async with graph_worker(temporal_env.client, settings, task_queue):
        result = await _run(temporal_env.client, task_queue, _agent_graph("ReAct"))
    assert result.status == "succeeded", result.error
    assert result.outputs["text"] == "It echoes."
    assert _page_visits() == 1
    first, second = fake_llm.chat_requests()
    assert "tools" not in first.json  # ReAct describes the tools in its prompt
    assert "webscraper" in first.json["messages"][0]["content"]
    assert second.json["messages"][-1]["content"].startswith("Observation: ")


async def test_an_unavailable_strategy_is_refused_naming_it(
    temporal_env: WorkflowEnvironment, task_queue: str, settings: Settings
) -> None:
    run_input = _agent_graph("TOD")
    async with graph_worker(temporal_env.client, settings, task_queue):
        result = await _run(temporal_env.client, task_queue, run_input)
    assert result.status == "failed"
    assert "agent strategy TOD" in (result.error or "")


async def test_a_killed_agent_resumes_without_repeating_its_tool_call(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    settings: Settings,
    fake_llm: FakeLLMServer,
    page: str,
) -> None:
    client = temporal_env.client
    # The second model step stalls: worker A dies while it waits for it.
    _in_order(
        fake_llm,
        _tool_call(page),
        Reply(text="late", stall_after=0),
        Reply(text="Answered after the restart."),
    )
    target = client.service_client.config.target_host
    with worker_process(target, task_queue) as worker_a:
        handle = await client.start_workflow(
            GraphWorkflow.run,
            _agent_graph("function_calling"),
            id=f"agent-kill-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        for _ in range(600):  # the tool call finished and the next model step started
            if _page_visits() == 1 and len(fake_llm.chat_requests()) == 2:
                break
            await asyncio.sleep(0.1)
        assert _page_visits() == 1 and len(fake_llm.chat_requests()) == 2
        kill_tree(worker_a)
    async with graph_worker(client, settings, task_queue):
        result: Any = await asyncio.wait_for(handle.result(), 120)
    assert result.status == "succeeded", result.error
    assert result.outputs["text"] == "Answered after the restart."
    assert _page_visits() == 1  # the finished tool call came back from history


async def test_tool_errors_go_back_to_the_model_and_settings_are_unwrapped(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    settings: Settings,
    fake_llm: FakeLLMServer,
    page: str,
) -> None:
    missing = page.replace("/echo", "/status/404")
    clock = {
        "provider_name": "langgenius/time/time",
        "provider_type": "builtin",
        "tool_name": "current_time",
        # As Dify exports write tool settings.
        "settings": {"timezone": {"value": "Asia/Tokyo"}, "format": {"value": "%Z"}},
    }
    run_input = _agent_graph("function_calling", clock)
    calls = [
        {"id": "c1", "function": {"name": "webscraper", "arguments": json.dumps({"url": missing})}},
        {"id": "c2", "function": {"name": "current_time", "arguments": "{}"}},
        {"id": "c3", "function": {"name": "webscraper", "arguments": "not json"}},
    ]
    _in_order(fake_llm, Reply(tool_calls=calls), Reply(text="Recovered."))
    async with graph_worker(temporal_env.client, settings, task_queue):
        result = await _run(temporal_env.client, task_queue, run_input)
    assert result.status == "succeeded", result.error
    assert result.outputs["text"] == "Recovered."
    outputs = [e["data"]["output"] for e in result.outputs["log"] if e["parent_id"]]
    assert outputs[0].startswith("tool invoke error:") and "404" in outputs[0]
    assert outputs[1] == "JST"  # the time zone setting reached the tool as a value
    assert "not a JSON object" in outputs[2]
    second = fake_llm.chat_requests()[1].json["messages"]
    assert [m["role"] for m in second[-3:]] == ["tool", "tool", "tool"]
