"""The Temporal worker process: every workflow and activity Tideflow runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from tideflow.platform.settings import Settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.workflows.task_queues import CODE_ACTIVITY, POOLS, Pool

log = logging.getLogger("tideflow.worker")


def registered_workflows() -> Sequence[type]:
    """Workflow classes this worker serves."""
    from tideflow.workflows.check_credentials import CheckModelCredentialsWorkflow
    from tideflow.workflows.ingestion import DocumentIngestionWorkflow
    from tideflow.workflows.interpreter import GraphWorkflow
    from tideflow.workflows.knowledge import KnowledgeRetrieveWorkflow, KnowledgeVectorOpWorkflow
    from tideflow.workflows.ping import PingWorkflow
    from tideflow.workflows.scheduled import ScheduledRunWorkflow

    return [
        GraphWorkflow,
        PingWorkflow,
        CheckModelCredentialsWorkflow,
        ScheduledRunWorkflow,
        DocumentIngestionWorkflow,
        KnowledgeRetrieveWorkflow,
        KnowledgeVectorOpWorkflow,
    ]


def registered_activities() -> Sequence[Any]:
    """Activity functions this worker serves."""
    from tideflow.activities.agent_tools import describe_agent_tools
    from tideflow.activities.code import run_code
    from tideflow.activities.document import extract_document
    from tideflow.activities.http import http_request
    from tideflow.activities.human_input import close_human_input_form, open_human_input_form
    from tideflow.activities.knowledge.ingest import (
        index_dataset_document,
        parse_dataset_document,
        set_dataset_document_status,
        split_dataset_document,
    )
    from tideflow.activities.knowledge.retrieve import knowledge_retrieve
    from tideflow.activities.knowledge.vector_ops import knowledge_vector_op
    from tideflow.activities.llm.activity import check_model_credentials, llm_invoke
    from tideflow.activities.ping import ping
    from tideflow.activities.scheduled import finish_scheduled_run, open_scheduled_run
    from tideflow.activities.tools import tool_invoke
    from tideflow.activities.workflow_tools import open_workflow_tool_run

    builtin: list[Any] = [
        run_code,
        extract_document,
        http_request,
        llm_invoke,
        check_model_credentials,
        ping,
        open_human_input_form,
        close_human_input_form,
        open_scheduled_run,
        finish_scheduled_run,
        parse_dataset_document,
        split_dataset_document,
        index_dataset_document,
        set_dataset_document_status,
        knowledge_retrieve,
        knowledge_vector_op,
        tool_invoke,
        open_workflow_tool_run,
        describe_agent_tools,
    ]
    return [*builtin, *node_plugin_activities(builtin)]


def node_plugin_activities(taken: Sequence[Any]) -> list[Any]:
    """The ``ACTIVITIES`` of the node plugins in use (``tideflow.workflows.nodes.NODE_PLUGINS``).

    One that is not an ``@activity.defn`` function, or is named like an activity of ``taken``
    or of another plugin, is left out and logged: the worker would refuse to start on it.
    """
    from tideflow.worker_pools import defined_activity_name
    from tideflow.workflows.nodes import NODE_PLUGINS

    names = {defined_activity_name(fn) for fn in taken}
    found: list[Any] = []
    for plugin_name, plugin in NODE_PLUGINS.items():
        for fn in getattr(plugin, "ACTIVITIES", ()):
            name = defined_activity_name(fn)
            if name is None or name in names:
                why = "not a named @activity.defn" if name is None else "its name is taken"
                log.error("node plugin %s: activity %r skipped: %s", plugin_name, fn, why)
                continue
            names.add(name)
            found.append(fn)
    return found


async def connect_with_retry(temporal: TideflowTemporal, timeout_s: float = 60.0) -> Client:
    """Connect to Temporal, retrying while the server is still starting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pause = 0.1  # a server still starting is often up within a few tenths of a second
    while True:
        try:
            return await temporal.connect()
        except RuntimeError as exc:  # the SDK raises RuntimeError when it cannot connect
            if loop.time() > deadline:
                raise
            log.info("waiting for Temporal at %s: %s", temporal.settings.temporal_target, exc)
            await asyncio.sleep(pause)
            pause = min(2 * pause, 0.5)


async def run_worker(settings: Settings, pools: Sequence[Pool] = POOLS) -> None:
    """Serve ``pools`` (default: all) until SIGINT/SIGTERM, then drain and stop.

    One Temporal worker per task queue the pools use (``tideflow.worker_pools``). Code-node
    sandboxes are pre-started for the worker's lifetime when it serves ``run_code``, and
    killed after the drain. A PoolError (a pool without a queue of its own, asked for alone)
    is raised before connecting.
    """
    from tideflow.activities.code_pool import sandbox_pool
    from tideflow.platform.telemetry import WORKER_SERVICE, configure_telemetry, shutdown_telemetry
    from tideflow.worker_pools import activity_name, queue_workers

    configure_telemetry(settings, WORKER_SERVICE)  # before connecting: tracing, metrics, logs
    planned = queue_workers(settings, pools, registered_workflows(), registered_activities())
    temporal = TideflowTemporal(settings)
    client = await connect_with_retry(temporal)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    workers = [
        temporal.worker(
            client,
            workflows=planned_worker.workflows,
            activities=planned_worker.activities,
            task_queue=planned_worker.task_queue,
            max_concurrent_activities=100,
            max_concurrent_workflow_tasks=100,
        )
        for planned_worker in planned
    ]
    served = {activity_name(fn) for w in planned for fn in w.activities}
    # Exits in reverse: the workers drain their activities before the sandbox pool is closed.
    async with contextlib.AsyncExitStack() as stack:
        if CODE_ACTIVITY in served:
            await stack.enter_async_context(sandbox_pool(settings))
        for worker in workers:
            await stack.enter_async_context(worker)
        if served - {CODE_ACTIVITY}:
            from tideflow.activities.llm.activity import warm_up

            warm_up()  # litellm loads while the worker already polls
        for w in planned:
            log.info(
                "worker serving pool(s) %s on task queue %r at %s",
                ",".join(w.pools),
                w.task_queue,
                settings.temporal_target,
            )
        health = asyncio.create_task(_keep_health_file(settings.worker_health_file, workers))
        await stop.wait()
        health.cancel()
    settings.worker_health_file.unlink(missing_ok=True)
    from tideflow.activities.knowledge.vector_store import close_vector_stores

    close_vector_stores()  # Qdrant local mode writes its folder's state on close
    shutdown_telemetry()  # spans still batched are sent
    log.info("worker stopped")


async def _keep_health_file(path: Path, workers: Sequence[Worker]) -> None:
    """Touch the health file while every worker runs (``tideflow worker --check`` reads it)."""
    from tideflow.worker_health import HEALTH_TOUCH_INTERVAL_S, touch_health_file

    while True:
        if all(worker.is_running for worker in workers):
            try:
                touch_health_file(path)
            except OSError as exc:  # a read-only /tmp must not stop the worker
                log.warning("cannot touch the health file %s: %s", path, exc)
        await asyncio.sleep(HEALTH_TOUCH_INTERVAL_S)
