"""What a node sees while it runs (NodeContext) and what it hands back (NodeResult)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.engine.executor import ActivityCallError, ActivityRetry, Executor
from tideflow.workflows.engine.models import NodeRun
from tideflow.workflows.engine.pool import VariablePool
from tideflow.workflows.engine.recorder import RunRecorder, epoch
from tideflow.workflows.engine.template import render_template
from tideflow.workflows.graph.plan import ExecutionPlan, PlanNode

T = TypeVar("T")

# Node types whose retry_config Dify honours (graphon: llm, code, http-request, tool).
# Result type of activities whose results travel as plain JSON objects.
JSON_OBJECT: type[dict[str, Any]] = dict

RETRY_NODE_TYPES = frozenset({"llm", "code", "http-request", "tool", "agent"})
# Heartbeat timeout of activities that heartbeat (tideflow.activities.heartbeat beats every
# second; the SDK sends at most every 0.8 times this, which bounds how late a cancellation lands).
HEARTBEAT_TIMEOUT_SECONDS = 10.0
# Attempts Temporal allows an activity that limits its own failures to the node's retry_config
# (``limits_own_attempts``): the rest are for attempts lost with their worker (heartbeat or
# start-to-close timeouts). Bounded, not unlimited, so an input that kills every worker it
# lands on (a crash in a parser, say) still fails the run instead of retrying forever.
INFRA_MAX_ATTEMPTS = 10


@dataclasses.dataclass(frozen=True)
class Scope:
    """The container frame a node runs in: an iteration item or a loop round."""

    container_id: str
    index: int


@dataclasses.dataclass
class SubgraphOutcome:
    """How a container's subgraph ended."""

    error: NodeError | None = None
    failed_node_id: str | None = None
    loop_end_reached: bool = False


@dataclasses.dataclass
class NodeResult:
    """A node's outputs plus what the engine needs to continue."""

    outputs: dict[str, Any] = dataclasses.field(default_factory=dict[str, Any])
    inputs: dict[str, Any] = dataclasses.field(default_factory=dict[str, Any])
    process_data: dict[str, Any] = dataclasses.field(default_factory=dict[str, Any])
    # Source handles to follow (None: the default "source" handle).
    handles: list[str] | None = None
    # A loop-end node was reached: the enclosing loop stops after this round.
    loop_end: bool = False


SubgraphRunner = Callable[[str, VariablePool, Scope], Awaitable[SubgraphOutcome]]


@dataclasses.dataclass
class RunState:
    """Run-wide state shared by every node of a run."""

    plan: ExecutionPlan
    executor: Executor
    recorder: RunRecorder
    pins: dict[str, dict[str, Any]]
    start_inputs: dict[str, Any]
    run_subgraph: SubgraphRunner
    # The app's tenant (model calls use its credentials) and, in chatflows, the conversation's
    # earlier turns as ``{"query", "answer"}``, oldest first (memory of LLM-type nodes).
    tenant_id: str = ""
    history: list[dict[str, str]] = dataclasses.field(default_factory=list[dict[str, str]])
    # Workflow-tool nesting of this run (GraphRunInput.call_depth).
    call_depth: int = 0


def retry_settings(data: dict[str, Any]) -> tuple[int, float]:
    """(max_retries, interval seconds) from a node's retry_config; (0, 0) when disabled."""
    raw: Any = data.get("retry_config") or {}
    config: dict[str, Any] = raw if isinstance(raw, dict) else {}  # pyright: ignore[reportUnknownVariableType]
    enabled = bool(config.get("retry_enabled", config.get("enabled", False)))
    if not enabled:
        return 0, 0.0
    retries = max(0, int(config.get("max_retries") or 0))
    return retries, max(0.0, float(config.get("retry_interval") or 0) / 1000.0)


@dataclasses.dataclass
class NodeContext:
    """One node's view of the run: its config, its variable frame, the executor and its record."""

    node: PlanNode
    pool: VariablePool
    state: RunState
    run: NodeRun
    scope: Scope | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The node's normalised Dify ``data``."""
        return self.node.data

    def render(self, template: str, *, markdown: bool = False) -> str:
        """Render ``{{#node.var#}}`` references against the node's frame."""
        return render_template(template, self.pool, markdown=markdown)

    def resolve(self, selector: Sequence[str]) -> Any:
        """The value at ``selector``; fails the node when it does not exist."""
        found, value = self.pool.find(selector)
        if not found:
            raise NodeError(f"Variable {'.'.join(selector)} not found", "VariableNotFoundError")
        return value

    def find(self, selector: Sequence[str]) -> tuple[bool, Any]:
        """(found, value) without failing."""
        return self.pool.find(selector)

    def container_event(self, event: str, **data: Any) -> None:
        """An ``iteration_*`` / ``loop_*`` event of this container node, with its run id."""
        self.state.recorder.emit(
            event,
            self.node.id,
            run_id=self.run.id,
            node_type=self.node.type,
            title=self.node.title,
            **data,
        )

    def container_completed(self, event: str, started: datetime, **data: Any) -> None:
        """The container's ``*_completed`` event: Dify's fields plus timing since ``started``."""
        ended = self.state.executor.now()
        self.container_event(
            event,
            elapsed=(ended - started).total_seconds(),
            started_at=epoch(started),
            finished_at=epoch(ended),
            **data,
        )

    @property
    def max_attempts(self) -> int:
        """The attempts the node's retry_config allows its own failures (retries + 1; 1 for
        node types Dify does not retry). Activities that take it in their input enforce it."""
        if self.node.type not in RETRY_NODE_TYPES:
            return 1
        return retry_settings(self.data)[0] + 1

    def record_usage(self, usage: dict[str, Any]) -> None:
        """A model call's usage (Dify's LLMUsage fields): added to the node's
        execution_metadata and the run's sums (an attempt that fails after its call still
        spent the tokens)."""
        self.state.recorder.add_usage(self.run, usage)

    def add_metadata(self, **items: Any) -> None:
        """Set entries of the node's execution_metadata (``retriever_resources``...)."""
        self.run.execution_metadata.update(items)

    def record_retry(self, error: str | None = None, error_type: str | None = None) -> None:
        """The current attempt failed and another follows: a ``node_retry`` event, one more
        attempt on the record. ``error`` is that attempt's error, None when it is not known."""
        self.state.recorder.node_retry(self.node.id, self.run.attempts, error, error_type)
        self.run.attempts += 1

    async def call_activity(
        self,
        name: str,
        arg: Any,
        result_type: type[T],
        *,
        timeout_seconds: float = 120.0,
        heartbeats: bool = False,
        limits_own_attempts: bool = False,
    ) -> T:
        """Run an activity with this node's retry policy and its title as the summary.

        Temporal's retries are counted on the node's record afterwards: the activity reports the
        attempt that succeeded (an ``attempt`` field in its result), the executor how many
        failed. ``heartbeats``: the activity heartbeats, so it gets a heartbeat timeout.

        ``limits_own_attempts``: ``arg`` carries ``max_attempts`` (``self.max_attempts``) and the
        activity raises its own failures non-retryable from that attempt on
        (``tideflow.activities.heartbeat.node_attempts``), so Temporal may allow more attempts
        (INFRA_MAX_ATTEMPTS): a worker dying mid-attempt must not fail the node. Otherwise the
        policy allows exactly the retry_config's attempts.
        """
        retries, interval = (0, 0.0)
        if self.node.type in RETRY_NODE_TYPES:
            retries, interval = retry_settings(self.data)
        retry = ActivityRetry(
            maximum_attempts=retries + 1,
            infrastructure_attempts=INFRA_MAX_ATTEMPTS if limits_own_attempts else None,
            interval_seconds=interval or 1.0,
            heartbeat_seconds=HEARTBEAT_TIMEOUT_SECONDS if heartbeats else None,
        )
        try:
            result = await self.state.executor.call_activity(
                name,
                arg,
                result_type=result_type,
                summary=self.node.title or self.node.id,
                retry=retry,
                timeout_seconds=timeout_seconds,
            )
        except ActivityCallError as err:
            self._record_activity_retries(err.attempts or 1)
            raise NodeError(err.message, err.error_type, retried=True) from err
        self._record_activity_retries(_reported_attempt(result))
        return result

    def _record_activity_retries(self, attempts: int) -> None:
        # Temporal does not tell the workflow why the earlier attempts failed.
        for _ in range(attempts - 1):
            self.record_retry()


def _reported_attempt(result: Any) -> int:
    """The ``attempt`` an activity result reports (1 when it reports none)."""
    if isinstance(result, dict):
        raw: Any = cast(dict[str, Any], result).get("attempt")
    else:
        raw = getattr(result, "attempt", None)
    return raw if isinstance(raw, int) and raw >= 1 else 1
