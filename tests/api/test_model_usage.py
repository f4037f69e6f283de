"""Tokens and cost per node and per run: what the fake server reports as usage comes back
priced with litellm's prices in the node's ``execution_metadata``, the run's ``total_tokens``,
the message's ``metadata.usage`` and the stored records."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import litellm
from sqlmodel import Session, select

from tests.api.conftest import Api
from tests.api.test_chat import import_text
from tests.api.test_completion_messages import WORKFLOW, _payloads
from tests.fakes.openai_server import FakeLLMServer, Reply
from tests.graph.test_model_config_import import CHATBOT
from tideflow.platform.db.models import NodeExecution, WorkflowRun
from tideflow.platform.db.session import get_engine


def price(model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """What litellm's price table says the call costs (USD)."""
    cost = litellm.model_cost[model]
    return (
        Decimal(str(cost["input_cost_per_token"])) * prompt_tokens
        + Decimal(str(cost["output_cost_per_token"])) * completion_tokens
    )


async def test_chat_message_usage_is_priced_and_stored(api: Api, gateway: FakeLLMServer) -> None:
    gateway.script(Reply(text="Start at Fourvière.", prompt_tokens=1000, completion_tokens=500))
    key = await api.app_key(await import_text(api, CHATBOT))
    body = {"query": "What first?", "inputs": {"city": "Lyon", "language": "English"}}
    response = await api.http.post("/v1/chat-messages", json={**body, "user": "alice"}, headers=key)
    assert response.status_code == 200, response.text
    usage = response.json()["metadata"]["usage"]
    expected = price("gpt-4o-mini", 1000, 500)
    assert expected > 0
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        1000,
        500,
        1500,
    )
    assert Decimal(usage["total_price"]) == expected and usage["currency"] == "USD"
    assert Decimal(usage["prompt_price"]) + Decimal(usage["completion_price"]) == expected
    conversation = response.json()["conversation_id"]
    messages = await api.http.get(
        "/v1/messages", params={"conversation_id": conversation, "user": "alice"}, headers=key
    )
    assert messages.status_code == 200, messages.text
    (message,) = messages.json()["data"]
    assert (message["message_tokens"], message["answer_tokens"]) == (1000, 500)
    assert message["total_tokens"] == 1500 and Decimal(message["total_price"]) == expected


async def test_workflow_node_and_run_usage(api: Api, gateway: FakeLLMServer) -> None:
    gateway.script(Reply(text="Hi there.", prompt_tokens=200, completion_tokens=40))
    key = await api.app_key(await api.import_app(WORKFLOW))
    response = await api.http.post(
        "/v1/workflows/run",
        json={"inputs": {"query": "hello"}, "user": "alice", "response_mode": "streaming"},
        headers=key,
    )
    assert response.status_code == 200, response.text
    events = _payloads(response.text)
    (llm_finished,) = [
        e["data"]
        for e in events
        if e["event"] == "node_finished" and e["data"]["node_type"] == "llm"
    ]
    metadata: dict[str, Any] = llm_finished["execution_metadata"]
    expected = price("gpt-3.5-turbo", 200, 40)
    assert metadata["total_tokens"] == 240 and metadata["currency"] == "USD"
    assert Decimal(metadata["total_price"]) == expected > 0
    assert llm_finished["outputs"]["usage"]["total_tokens"] == 240
    finished = events[-1]
    assert finished["event"] == "workflow_finished" and finished["data"]["total_tokens"] == 240
    run_id = finished["workflow_run_id"]
    with Session(get_engine(api.settings.db_url)) as session:
        run = session.get(WorkflowRun, run_id)
        assert run is not None and run.total_tokens == 240
        assert run.usage["prompt_tokens"] == 200 and run.usage["completion_tokens"] == 40
        assert Decimal(run.usage["total_price"]) == expected
        rows = session.exec(select(NodeExecution).where(NodeExecution.run_id == run_id)).all()
        (llm_row,) = [row for row in rows if row.node_type == "llm"]
        assert llm_row.execution_metadata["total_tokens"] == 240
        assert all(row.execution_metadata == {} for row in rows if row.node_type != "llm")
