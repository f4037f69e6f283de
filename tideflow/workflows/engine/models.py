"""The run's input, result, node records and events (pydantic: they cross Temporal)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tideflow.workflows.graph.plan import ExecutionPlan

RunStatus = Literal["running", "paused", "succeeded", "failed", "partial-succeeded", "stopped"]
NodeStatus = Literal["running", "succeeded", "failed", "exception", "skipped", "stopped"]


class GraphRunInput(BaseModel):
    """One run of an app: the plan plus everything the caller supplies."""

    plan: ExecutionPlan
    inputs: dict[str, Any] = Field(default_factory=dict[str, Any])
    query: str | None = None
    files: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    user: str = ""
    conversation_id: str | None = None
    # Current values of the conversation's variables (None: the plan's initial values).
    conversation_variables: dict[str, Any] | None = None
    # {node_id: outputs}: run the node as if it returned these; {"__error__": msg} fails it.
    pins: dict[str, dict[str, Any]] = Field(default_factory=dict[str, dict[str, Any]])
    # Pin every external node (NodeSpec.external) that is not pinned with its mock outputs.
    mock_external: bool = False
    app_id: str = ""
    # The app's tenant: model calls use its provider credentials (looked up by the activity).
    tenant_id: str = ""
    workflow_id: str = ""
    dialogue_count: int = 0
    # Chatflows: the conversation's earlier turns, oldest first, as ``{"query", "answer"}``
    # (bounded by the API: the largest memory window the plan's nodes ask for). LLM-type nodes
    # with ``memory`` take their window of it.
    history: list[dict[str, str]] = Field(default_factory=list[dict[str, str]])
    # The run's id (sys.workflow_run_id); empty: a fresh replay-safe uuid.
    run_id: str = ""
    # How many workflow-tool calls deep this run is (0: started directly); a workflow tool
    # refuses to start a child past WORKFLOW_CALL_MAX_DEPTH.
    call_depth: int = 0
    # sys.timestamp (epoch seconds); None: when the run starts. A scheduled run's is the time
    # its schedule fired for.
    timestamp: int | None = None
    # Worker pool -> task queue of this run's activities (tideflow.workflows.task_queues), set
    # by whoever starts the run from the settings; empty: every activity on the run's own queue.
    activity_queues: dict[str, str] = Field(default_factory=dict[str, str])


class NodeRun(BaseModel):
    """One execution of one node (a node in a container runs once per item or round)."""

    id: str
    node_id: str
    node_type: str
    title: str = ""
    status: NodeStatus = "running"
    inputs: dict[str, Any] = Field(default_factory=dict[str, Any])
    outputs: dict[str, Any] = Field(default_factory=dict[str, Any])
    process_data: dict[str, Any] = Field(default_factory=dict[str, Any])
    # The value was over the record's size budget and is a preview (Dify's ``*_truncated``).
    inputs_truncated: bool = False
    outputs_truncated: bool = False
    process_data_truncated: bool = False
    error: str | None = None
    error_type: str | None = None
    elapsed: float = 0.0
    # Attempts made: engine retries plus Temporal's activity retries (the succeeding attempt, or
    # all of them on failure; a non-retryable activity failure counts as one, see interpreter).
    attempts: int = 1
    pinned: bool = False
    # Dify's execution_metadata: model usage (``total_tokens``, ``total_price``, ``currency``)
    # and, for an LLM node reading knowledge, its ``retriever_resources``.
    execution_metadata: dict[str, Any] = Field(default_factory=dict[str, Any])
    # Container the node ran in and the item index / round (None at the top level).
    container_id: str | None = None
    container_index: int | None = None
    # Execution order in the run (from 1) and the node whose edge started it.
    index: int = 0
    predecessor_node_id: str | None = None
    # Epoch seconds (executor clock) when the node started and finished.
    created_at: int = 0
    finished_at: int = 0


class RunEvent(BaseModel):
    """One event of the run in order (the SSE stream is built from these).

    ``created_at`` is when the event was recorded, in whole epoch seconds of the executor's clock
    (``workflow.now()`` under Temporal), like Dify's ``created_at``. Events about something that
    ended (``node_finished``, ``*_completed``, ``workflow_finished``) also carry ``started_at``
    and ``finished_at`` (epoch seconds) and ``elapsed`` (float seconds) in ``data``.
    """

    index: int
    event: str
    node_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict[str, Any])
    created_at: int = 0


class GraphRunResult(BaseModel):
    """How a run ended."""

    status: RunStatus
    run_id: str = ""
    outputs: dict[str, Any] = Field(default_factory=dict[str, Any])
    # Chatflows: the concatenated text of the Answer nodes in streaming order.
    answer: str = ""
    error: str | None = None
    node_runs: list[NodeRun] = Field(default_factory=list[NodeRun])
    conversation_variables: dict[str, Any] = Field(default_factory=dict[str, Any])
    exceptions_count: int = 0
    total_steps: int = 0
    # Tokens the run's model calls used (Dify's ``total_tokens``) and their sum as Dify's
    # LLMUsage fields (``prompt_tokens``, ``completion_tokens``, ``total_price``, ``currency``...;
    # see ``RunRecorder.usage``). Empty when no model was called.
    total_tokens: int = 0
    usage: dict[str, Any] = Field(default_factory=dict[str, Any])
    elapsed: float = 0.0


# The GraphWorkflow update that delivers a human-input form's submission.
SUBMIT_HUMAN_INPUT = "submit_human_input"


class HumanInputSubmission(BaseModel):
    """A checked submission of the form ``key`` (the node execution that opened it)."""

    key: str
    action: str
    inputs: dict[str, Any] = Field(default_factory=dict[str, Any])
