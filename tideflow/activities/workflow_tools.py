"""Workflow-as-tool: the database step before a published workflow app runs as a tool.

A ``tool`` node (or an agent's tool call) whose ``provider_type`` is ``workflow`` runs the
provider's app as a child ``GraphWorkflow``: ``open_workflow_tool_run`` finds the tenant's
workflow tool provider, the app's newest published version, checks the parameters against
its Start form and records the child's ``WorkflowRun`` (``triggered_from="tool"``), returning
the run's input. Its run id comes from the calling node execution, so a retried attempt
finds the row it wrote. How the child ended is recorded by ``finish_scheduled_run`` (the
same projection a scheduled run's end uses).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session
from temporalio import activity

from tideflow.activities.llm.route import bad_request
from tideflow.platform import tool_providers
from tideflow.platform.db.crud import apps, envvars
from tideflow.platform.db.crud import runs as crud
from tideflow.platform.db.models import App
from tideflow.platform.db.session import get_engine
from tideflow.platform.drafts import runnable_plan, start_variables
from tideflow.platform.runs.launch import new_run
from tideflow.platform.settings import Settings, get_settings
from tideflow.workflows.engine.errors import RunInputError
from tideflow.workflows.engine.inputs import validate_start_inputs
from tideflow.workflows.engine.models import GraphRunInput
from tideflow.workflows.graph.plan import ExecutionPlan

OPEN_WORKFLOW_TOOL_RUN = "open_workflow_tool_run"
# Dify's WORKFLOW_CALL_MAX_DEPTH: how deep workflow tools may call workflow tools.
WORKFLOW_CALL_MAX_DEPTH = 5


class OpenWorkflowToolRun(BaseModel):
    """Which workflow tool a node calls, with which parameters, from which run."""

    tenant_id: str
    node_id: str
    provider_id: str
    provider_name: str = ""
    tool_name: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict[str, Any])
    configurations: dict[str, Any] = Field(default_factory=dict[str, Any])
    # The calling run's id and a key unique within it (the node execution id, and in an
    # agent the tool call's id): together the child run's idempotency key.
    parent_run_id: str
    call_key: str
    # The calling run's nesting (0: started directly).
    call_depth: int = 0
    user: str = ""


class OpenedWorkflowToolRun(BaseModel):
    """The child run to start, or (``ended``) the outputs of the run an earlier attempt made."""

    run_id: str
    workflow_id: str
    tool_name: str
    run_input: GraphRunInput | None = None
    ended: bool = False
    status: str = ""
    outputs: dict[str, Any] = Field(default_factory=dict[str, Any])
    error: str | None = None


def _open(settings: Settings, req: OpenWorkflowToolRun) -> OpenedWorkflowToolRun:
    where = f"tool node {req.node_id}"
    if req.call_depth >= WORKFLOW_CALL_MAX_DEPTH:
        raise bad_request(
            f"{where}: workflow tool {req.tool_name or req.provider_id}: workflow tools are "
            f"nested more than {WORKFLOW_CALL_MAX_DEPTH} deep (does the app call itself?)",
            "WorkflowCallDepthExceeded",
        )
    with Session(get_engine(settings.db_url)) as session:
        record = tool_providers.find_record(
            session, req.tenant_id, "workflow", req.provider_id, req.provider_name or req.tool_name
        )
        if record is None:
            raise bad_request(
                f"{where}: workflow tool {req.tool_name or req.provider_id} is not in this "
                "workspace (add the published workflow as a tool first)",
                "ToolNotFound",
            )
        app = session.get(App, str(record.config.get("app_id") or ""))
        if app is None or app.tenant_id != req.tenant_id:
            raise bad_request(
                f"{where}: the app of workflow tool {record.name} no longer exists",
                "ToolNotFound",
            )
        if app.mode != "workflow":
            raise bad_request(
                f"{where}: app {app.name} of workflow tool {record.name} is a {app.mode} app; "
                "only workflow apps run as tools",
                "ToolNotFound",
            )
        version = apps.latest_version(session, app)
        if version is None:
            raise bad_request(
                f"{where}: app {app.name} of workflow tool {record.name} has no published version",
                "ToolNotFound",
            )
        published = ExecutionPlan.model_validate(version.plan)
        waits = human_input_nodes(published)
        if waits:
            raise bad_request(
                f"{where}: app {app.name} of workflow tool {record.name} waits for human input "
                f"(node {waits[0]}); a tool cannot pause its caller",
                "ToolNotFound",
            )
        plan = runnable_plan(
            published,
            envvars.list_env(session, app),
            settings.secret_key,
        )
        merged = {
            **req.parameters,
            **{k: v for k, v in req.configurations.items() if v is not None},
        }
        try:
            inputs = validate_start_inputs(start_variables(plan), merged)
        except RunInputError as err:
            raise bad_request(
                f"{where}: workflow tool {record.name}: {err}", "ToolParameterError"
            ) from None
        start = new_run(
            app,
            plan,
            version,
            inputs,
            user=req.user or "tool",
            idempotency_key=f"tool:{req.parent_run_id}:{req.call_key}",
            triggered_from="tool",
        )
        row, _created = crud.claim_run(session, start.row)
        opened = OpenedWorkflowToolRun(
            run_id=row.id, workflow_id=row.temporal_workflow_id, tool_name=record.name
        )
        if row.finished_at is not None:  # an earlier attempt's child already ran to its end
            opened.ended, opened.status, opened.error = True, row.status, row.error
            opened.outputs = dict(row.outputs or {})
            return opened
        opened.run_input = start.run_input.model_copy(update={"call_depth": req.call_depth + 1})
        return opened


def human_input_nodes(plan: ExecutionPlan) -> list[str]:
    """The plan's human-input nodes (a workflow tool must not have any)."""
    return [node_id for node_id, node in plan.nodes.items() if node.type == "human-input"]


@activity.defn(name=OPEN_WORKFLOW_TOOL_RUN)
async def open_workflow_tool_run(req: OpenWorkflowToolRun) -> OpenedWorkflowToolRun:
    """Record the child run of a workflow tool call (idempotent); see the module doc."""
    return await asyncio.to_thread(_open, get_settings(), req)
