"""Shared by the payload-encryption tests: settings with encryption on, a graph that carries a
secret environment value into a workflow and an activity, and a scan of the stored history."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.runtime.graphs import chain, end, node
from tests.runtime.support import plan_from_graph
from tideflow.activities.code_pool import shutdown_code_pool
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.payload_codec import ENCODING
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.worker import registered_activities, registered_workflows
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult

SECRET = "sk-live-" + "Q7x9Lm2Pz4" * 3
UI_ORIGIN = "http://127.0.0.1:18233"
OWNER = ("owner@example.com", "pw-owner")
OK_CODE = "def main(token: str) -> dict:\n    return {'n': len(token)}\n"
# A node error quoting its input: the failure's message must be sealed too.
FAILING_CODE = "def main(token: str) -> dict:\n    raise ValueError('bad token ' + token)\n"


def encrypted_settings(
    temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, mp: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Body of an ``encrypting_settings`` fixture: one test's settings against the session's
    dev server, payload encryption on, the owner known, the Temporal UI at UI_ORIGIN."""
    mp.setenv("TIDEFLOW_TEMPORAL_ADDRESS", temporal_env.client.service_client.config.target_host)
    mp.setenv("TIDEFLOW_TASK_QUEUE", task_queue)
    mp.setenv("TIDEFLOW_DATA_DIR", str(tmp_path))
    mp.setenv("TIDEFLOW_ENCRYPT_PAYLOADS", "true")
    mp.setenv("TIDEFLOW_SECRET_KEY", "payload-codec-test-key")
    mp.setenv("TIDEFLOW_OWNER_EMAIL", OWNER[0])
    mp.setenv("TIDEFLOW_OWNER_PASSWORD", OWNER[1])
    mp.setenv("TIDEFLOW_TEMPORAL_UI_URL", UI_ORIGIN)
    get_settings.cache_clear()
    settings = get_settings()
    upgrade_database(settings.db_url)
    yield settings
    get_settings.cache_clear()


def secret_graph(code_text: str) -> GraphRunInput:
    """start -> code (an activity given the secret env var) -> template -> end."""
    code = node(
        "code",
        "code",
        code=code_text,
        code_language="python3",
        variables=[{"variable": "token", "value_selector": ["env", "API_TOKEN"]}],
        outputs={"n": {"type": "number"}},
    )
    tpl = node(
        "tpl",
        "template-transform",
        template="{{ t[:7] }} has {{ n }} characters",
        variables=[
            {"variable": "t", "value_selector": ["env", "API_TOKEN"]},
            {"variable": "n", "value_selector": ["code", "n"]},
        ],
    )
    nodes = [node("start", "start", variables=[]), code, tpl, end(("r", ["tpl", "output"]))]
    environment = [{"name": "API_TOKEN", "value_type": "secret", "value": SECRET}]
    plan = plan_from_graph(
        "workflow", nodes, chain("start", "code", "tpl", "end"), environment=environment
    )
    return GraphRunInput(plan=plan)


async def run_secret_graph(
    settings: Settings, code_text: str = OK_CODE
) -> tuple[Client, str, GraphRunResult]:
    """Run the secret graph on a worker of ``settings``: its client, workflow id, result."""
    temporal = TideflowTemporal(settings, serve_metrics=False)
    client = await temporal.connect()
    worker = temporal.worker(
        client, workflows=registered_workflows(), activities=registered_activities()
    )
    workflow_id = f"codec-{uuid.uuid4().hex[:8]}"
    async with worker:
        result = await client.execute_workflow(
            "GraphWorkflow",
            secret_graph(code_text),
            id=workflow_id,
            task_queue=settings.task_queue,
            result_type=GraphRunResult,
        )
    await shutdown_code_pool()  # the code node's pre-started sandboxes, reaped in this loop
    return client, workflow_id, result


async def sealed_history(raw: Client, workflow_id: str) -> list[HistoryEvent]:
    """The run's stored events, each checked: no secret bytes, every payload sealed."""
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    for event in history.events:
        assert SECRET.encode() not in event.SerializeToString(), event
        for payload in payloads_of(event):
            assert payload.metadata["encoding"] == ENCODING, event
    return list(history.events)


def payloads_of(message: Message) -> Iterator[Payload]:
    """Every ``Payload`` anywhere inside a protobuf message (repeated and map fields too)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        items: list[Any]
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        elif field.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Message):
                yield from payloads_of(item)


def clear_payload(text: str) -> Payload:
    """A JSON payload as the pydantic converter writes one, with a second metadata key."""
    return Payload(metadata={"encoding": b"json/plain", "note": b"meta"}, data=text.encode())
