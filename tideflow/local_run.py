"""Run one app file through Temporal from this process: ``tideflow run``, the conformance tests
and the benchmarks share it.

When no Temporal address is configured an ephemeral in-memory dev server is started; either way
the run gets a private task queue served by an in-process worker, so it never depends on (or
steals from) another deployment's workers.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tideflow.platform.settings import Settings
from tideflow.platform.telemetry import temporal_interceptors
from tideflow.platform.temporal import DATA_CONVERTER, TideflowTemporal
from tideflow.temporal_server import dev_server_extra_args, temporal_binary
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult
from tideflow.workflows.graph import DSLError, Problem, compile_plan, load_app, validate_app
from tideflow.workflows.graph.plan import ExecutionPlan


def check_app(
    source: Path | Mapping[str, Any], *, pinned: tuple[str, ...] = (), mock_external: bool = False
) -> tuple[ExecutionPlan | None, list[Problem]]:
    """Import, validate and compile a DSL file (or parsed DSL); the plan is None on problems."""
    try:
        app = load_app(source)
    except DSLError as exc:
        return None, exc.problems
    problems = validate_app(app, pinned=pinned, mock_external=mock_external)
    if problems:
        return None, problems
    return compile_plan(app), []


def _placeholder_file(settings: Settings) -> dict[str, Any]:
    from tideflow.activities.files import save_file

    return save_file(
        b"Placeholder document filled in by --fill-inputs.\n",
        filename="placeholder.txt",
        mime_type="text/plain",
        settings=settings,
        # A local run has no workspace: its runs and files share the empty tenant id.
        tenant_id="",
        transfer_method="local_file",
    )


def _placeholder(variable: Mapping[str, Any], settings: Settings) -> Any:
    kind = str(variable.get("type", "text-input"))
    options: list[Any] = variable.get("options") or []
    if kind == "select" and options:
        return options[0]
    if kind == "number":
        return 1
    if kind == "checkbox":
        return True
    if kind == "json_object":
        return {}
    if kind == "file":
        return _placeholder_file(settings)
    if kind == "file-list":
        return [_placeholder_file(settings)]
    max_length = variable.get("max_length")
    text = f"sample {variable.get('variable', 'input')}"
    return text[:max_length] if isinstance(max_length, int) and max_length > 0 else text


def fill_inputs(plan: ExecutionPlan, inputs: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``inputs`` plus a type-correct placeholder for each missing required start variable."""
    variables: list[dict[str, Any]] = plan.nodes[plan.root_id].data.get("variables") or []
    filled = dict(inputs)
    for variable in variables:
        name = str(variable.get("variable", ""))
        if name and variable.get("required") and filled.get(name) in (None, ""):
            filled[name] = _placeholder(variable, settings)
    return filled


def graph_worker(client: Client, settings: Settings, task_queue: str, **options: Any) -> Worker:
    """A worker with every workflow and activity of the worker process."""
    from tideflow.worker import registered_activities, registered_workflows

    worker: Worker = TideflowTemporal(settings).worker(
        client,
        workflows=registered_workflows(),
        activities=registered_activities(),
        task_queue=task_queue,
        **options,
    )
    return worker


@asynccontextmanager
async def temporal_client(settings: Settings) -> AsyncGenerator[Client]:
    """The configured Temporal server, or an ephemeral in-memory dev server."""
    if settings.temporal_address is not None:
        yield await TideflowTemporal(settings).connect()
        return
    async with embedded_dev_server() as client:
        yield client


@asynccontextmanager
async def embedded_dev_server(db_file: Path | None = None) -> AsyncGenerator[Client]:
    """A dev server of this process: in memory, or persisting to ``db_file`` (WAL)."""
    extra = dev_server_extra_args(persistent=db_file is not None)
    # The dev server prints a banner on its stdout, which it inherits from us: point our fd 1
    # at stderr while it starts, so `tideflow run` keeps stdout for its JSON.
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        env = await WorkflowEnvironment.start_local(  # pyright: ignore[reportUnknownMemberType]
            dev_server_existing_path=temporal_binary(),
            dev_server_database_filename=str(db_file) if db_file is not None else None,
            data_converter=DATA_CONVERTER,
            interceptors=temporal_interceptors(),  # tracing, as TideflowTemporal.connect has
            dev_server_extra_args=extra,
            dev_server_log_level="error",
            ui=False,
        )
    finally:
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
    try:
        yield env.client
    finally:
        await env.shutdown()


async def execute_graph(
    client: Client, task_queue: str, run_input: GraphRunInput, workflow_id: str | None = None
) -> GraphRunResult:
    """Run ``GraphWorkflow`` to its end and return its result."""
    return await client.execute_workflow(
        "GraphWorkflow",
        run_input,
        id=workflow_id or f"run-{uuid.uuid4()}",
        task_queue=task_queue,
        result_type=GraphRunResult,
    )


async def run_once(settings: Settings, run_input: GraphRunInput) -> GraphRunResult:
    """Start a server if needed, serve a private task queue, run, and tear down."""
    from tideflow.activities.code_pool import sandbox_pool

    task_queue = f"run-{uuid.uuid4().hex[:12]}"
    # Exits right to left: the worker drains before the pre-started sandboxes are closed.
    async with (
        temporal_client(settings) as client,
        sandbox_pool(settings),
        graph_worker(client, settings, task_queue),
    ):
        return await execute_graph(client, task_queue, run_input)
