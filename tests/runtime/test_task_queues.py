"""Worker pools on separate task queues, on the real Temporal dev server.

A graph with a code and an llm node runs with the main, llm and code pools each served by its
own worker (the code pool by a real ``tideflow worker --pool code`` process): the run succeeds
and its history shows each activity scheduled on its pool's queue. Without routing, everything
stays on the run's own queue, as before pools existed. Document ingestion started by the API's
starter goes to the ingestion pool the same way.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, ScheduleActionStartWorkflow, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from tests.activities.support import apply_settings
from tests.fakes.openai_server import FakeLLMServer
from tests.runtime.graphs import chain, end, node
from tests.runtime.knowledge_support import gateway_settings, make_document
from tests.runtime.support import plan_from_graph
from tests.runtime.worker_process import kill_tree
from tideflow.activities.knowledge.models import ingestion_workflow_id
from tideflow.platform import schedules
from tideflow.platform.db.models import App
from tideflow.platform.knowledge import start_ingestion
from tideflow.platform.settings import Settings, get_settings
from tideflow.platform.task_queues import activity_queues
from tideflow.platform.temporal import TideflowTemporal
from tideflow.worker import registered_activities, registered_workflows
from tideflow.worker_pools import queue_workers
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult
from tideflow.workflows.interpreter import GraphWorkflow
from tideflow.workflows.scheduled import ScheduledRunRequest
from tideflow.workflows.task_queues import Pool

pytestmark = pytest.mark.slow


def _queues(prefix: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {pool: f"{prefix}-{pool}-{tag}" for pool in ("main", "llm", "code", "ingestion")}


@pytest.fixture
def queues() -> dict[str, str]:
    return _queues("pools")


@pytest.fixture
def pooled(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_llm: FakeLLMServer,
    queues: dict[str, str],
) -> Iterator[Settings]:
    """Settings with the llm and code pools on queues of their own, models at the fake."""
    yield apply_settings(
        monkeypatch,
        tmp_path,
        model_gateway_url=fake_llm.base_url,
        task_queue=queues["main"],
        llm_task_queue=queues["llm"],
        code_task_queue=queues["code"],
        code_pool_size="0",
        worker_health_file=str(tmp_path / "worker.alive"),
    )
    monkeypatch.undo()
    get_settings.cache_clear()


def _graph_input(settings: Settings) -> GraphRunInput:
    """start -> code (doubles x) -> llm (the fake echoes the prompt) -> end."""
    nodes = [
        node("start", "start", variables=[{"variable": "x", "type": "number", "label": "x"}]),
        node(
            "code",
            "code",
            code="def main(x: int) -> dict:\n    return {'r': x * 2}\n",
            code_language="python3",
            variables=[{"variable": "x", "value_selector": ["start", "x"]}],
            outputs={"r": {"type": "number"}},
        ),
        node(
            "llm",
            "llm",
            model={"provider": "openai", "name": "gpt-4o-mini", "mode": "chat"},
            prompt_template=[{"role": "user", "text": "double is {{#code.r#}}"}],
        ),
        end(("r", ["code", "r"]), ("text", ["llm", "text"])),
    ]
    plan = plan_from_graph("workflow", nodes, chain("start", "code", "llm", "end"))
    # What the API's RunService does when it starts a run.
    return GraphRunInput(plan=plan, inputs={"x": 21}, activity_queues=activity_queues(settings))


@asynccontextmanager
async def _pool_workers(
    client: Client, settings: Settings, *pools: Pool
) -> AsyncIterator[list[str]]:
    """A worker per pool, each as ``tideflow worker --pool <pool>`` plans it; their queues."""
    temporal = TideflowTemporal(settings)
    async with AsyncExitStack() as stack:
        served: list[str] = []
        for pool in pools:
            [planned] = queue_workers(
                settings, [pool], registered_workflows(), registered_activities()
            )
            worker = temporal.worker(
                client,
                workflows=planned.workflows,
                activities=planned.activities,
                task_queue=planned.task_queue,
            )
            await stack.enter_async_context(worker)
            served.append(planned.task_queue)
        yield served


def _scheduled_queues(history: WorkflowHistory) -> list[tuple[str, str]]:
    """(activity, task queue) of every ActivityTaskScheduled event, in order."""
    events: Sequence[HistoryEvent] = history.events
    return [
        (
            e.activity_task_scheduled_event_attributes.activity_type.name,
            e.activity_task_scheduled_event_attributes.task_queue.name,
        )
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


def _worker_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "tideflow.cli", "worker", *args]


def _worker_env(settings: Settings, client: Client) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TIDEFLOW_TEMPORAL_ADDRESS=client.service_client.config.target_host,
        TIDEFLOW_DATA_DIR=str(settings.data_dir),
        TIDEFLOW_TASK_QUEUE=settings.task_queue,
        TIDEFLOW_LLM_TASK_QUEUE=settings.llm_task_queue or "",
        TIDEFLOW_CODE_TASK_QUEUE=settings.code_task_queue or "",
        TIDEFLOW_CODE_POOL_SIZE="0",
        TIDEFLOW_WORKER_HEALTH_FILE=str(settings.worker_health_file),
    )
    return env


def _check(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """The compose healthcheck (``python -m tideflow.worker_health``), or ``argv``."""
    return subprocess.run(
        list(argv) or [sys.executable, "-m", "tideflow.worker_health"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=env["TIDEFLOW_DATA_DIR"],
    )


@contextmanager
def _code_worker_process(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``tideflow worker --pool code``; healthy (``--check`` exits 0) before the body runs."""
    proc = subprocess.Popen(_worker_argv("--pool", "code"), env=env, cwd=env["TIDEFLOW_DATA_DIR"])
    try:
        deadline = time.monotonic() + 120  # a hang bound: the worker imports and connects
        while _check(env).returncode != 0:
            assert proc.poll() is None, f"the code worker exited with {proc.returncode}"
            assert time.monotonic() < deadline, "the code worker never became healthy"
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            kill_tree(proc)


async def test_code_and_llm_activities_run_on_their_pools_queues(
    temporal_env: WorkflowEnvironment, pooled: Settings, fake_llm: FakeLLMServer
) -> None:
    client = temporal_env.client
    env = _worker_env(pooled, client)
    not_yet = _check(env)
    assert not_yet.returncode == 1 and "does not exist" in not_yet.stderr
    run_input = _graph_input(pooled)
    assert run_input.activity_queues == {
        "llm": pooled.llm_task_queue,
        "code": pooled.code_task_queue,
    }
    with _code_worker_process(env) as code_worker:
        checked = _check(env, *_worker_argv("--check"))
        assert checked.returncode == 0 and "worker is running" in checked.stdout
        async with _pool_workers(client, pooled, "main", "llm") as served:
            assert served == [pooled.task_queue, pooled.llm_task_queue]
            handle = await client.start_workflow(
                GraphWorkflow.run,
                run_input,
                id=f"pools-{uuid.uuid4().hex[:8]}",
                task_queue=pooled.task_queue,
            )
            result: GraphRunResult = await asyncio.wait_for(handle.result(), 180)
            history = await handle.fetch_history()
        code_worker.send_signal(signal.SIGTERM)
        assert code_worker.wait(timeout=30) == 0
    assert result.status == "succeeded", result.error
    assert result.outputs["r"] == 42
    assert "double is 42" in result.outputs["text"]
    assert [c.headers.get("x-tideflow-node") for c in fake_llm.chat_requests()] == ["llm"]
    assert _scheduled_queues(history) == [
        ("run_code", pooled.code_task_queue),
        ("llm_invoke", pooled.llm_task_queue),
    ]
    # A stopped worker removes its health file: the check fails again.
    assert _check(env).returncode == 1


async def test_without_routing_every_activity_stays_on_the_run_queue(
    temporal_env: WorkflowEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_llm: FakeLLMServer,
    task_queue: str,
) -> None:
    settings = apply_settings(
        monkeypatch,
        tmp_path,
        model_gateway_url=fake_llm.base_url,
        task_queue=task_queue,
        code_pool_size="0",
    )
    try:
        run_input = _graph_input(settings)
        assert run_input.activity_queues == {}
        # The default (every pool) is one worker on the main queue with everything, as before.
        [planned] = queue_workers(
            settings,
            ("main", "llm", "code", "ingestion"),
            registered_workflows(),
            registered_activities(),
        )
        assert planned.task_queue == task_queue
        assert len(planned.activities) == len(registered_activities())
        async with _pool_workers(temporal_env.client, settings, "main"):
            handle = await temporal_env.client.start_workflow(
                GraphWorkflow.run,
                run_input,
                id=f"nopool-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
            )
            result: GraphRunResult = await asyncio.wait_for(handle.result(), 180)
            history = await handle.fetch_history()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.status == "succeeded", result.error
    assert _scheduled_queues(history) == [("run_code", task_queue), ("llm_invoke", task_queue)]


async def test_ingestion_stages_run_on_the_ingestion_pool(
    temporal_env: WorkflowEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_llm: FakeLLMServer,
) -> None:
    names = _queues("ingest")
    client = temporal_env.client
    with gateway_settings(
        monkeypatch,
        tmp_path,
        fake_llm,
        task_queue=names["main"],
        ingestion_task_queue=names["ingestion"],
    ) as settings:
        text = "\n".join(f"Line {i} about pooled ingestion." for i in range(20))
        rule = {"mode": "custom", "rules": {"segmentation": {"separator": "\n", "max_tokens": 60}}}
        document = make_document(settings, text.encode(), process_rule=rule)
        async with _pool_workers(client, settings, "main", "ingestion"):
            await start_ingestion(client, settings, [document])  # the API's starter
            handle = client.get_workflow_handle(ingestion_workflow_id(document.id), result_type=str)
            assert await asyncio.wait_for(handle.result(), 180) == "completed"
            history = await handle.fetch_history()
    assert fake_llm.embedded_texts > 0
    scheduled = _scheduled_queues(history)
    stages = [(name, queue) for name, queue in scheduled if name != "set_dataset_document_status"]
    assert stages == [
        ("parse_dataset_document", names["ingestion"]),
        ("split_dataset_document", names["ingestion"]),
        ("index_dataset_document", names["ingestion"]),
    ]
    statuses = {queue for name, queue in scheduled if name == "set_dataset_document_status"}
    assert statuses == {names["main"]}


async def test_a_schedule_carries_the_routing_to_its_firings(
    temporal_env: WorkflowEnvironment, pooled: Settings, queues: dict[str, str]
) -> None:
    """The schedule's action (what each firing's ScheduledRunWorkflow gets) holds the pools'
    queues, which that workflow copies into its child run's input."""
    client = temporal_env.client
    app = App(tenant_id="t-pools", name="Pooled", mode="workflow")
    await schedules.put_schedule(client, pooled, app, schedules.cron_spec("0 3 * * *", "UTC"))
    try:
        described = await schedules.handle(client, app).describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        [request] = await client.data_converter.decode(action.args, [ScheduledRunRequest])
    finally:
        await schedules.handle(client, app).delete()
    assert request == ScheduledRunRequest(
        app_id=app.id,
        activity_queues={"llm": queues["llm"], "code": queues["code"]},
    )
