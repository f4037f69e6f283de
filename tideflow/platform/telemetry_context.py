"""Which run and node the current code works for, on spans and on log records.

``NodeActivityInterceptor`` reads the node an activity serves from the activity's input (every
node activity's input model carries ``node_id``; the model call's carries its run too) and puts
run, node and workflow ids on the activity's span (``tideflow.run_id``, ``tideflow.node_id``,
``tideflow.node_type``) and in a context variable. ``RunContextFilter`` copies them, with the
current trace and span ids, onto every log record; ``JsonLogFormatter`` writes one JSON object
a line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from opentelemetry import trace
from temporalio import activity
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

# Activities that only ever serve one node type. ``llm_invoke`` is left out: the llm,
# question-classifier, parameter-extractor and agent nodes all call it.
NODE_TYPE_OF_ACTIVITY: Mapping[str, str] = {
    "run_code": "code",
    "http_request": "http-request",
    "extract_document": "document-extractor",
    "knowledge_retrieve": "knowledge-retrieval",
    "tool_invoke": "tool",
    "open_workflow_tool_run": "tool",
    "describe_agent_tools": "agent",
    "open_human_input_form": "human-input",
    "close_human_input_form": "human-input",
}

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# A run's workflow id is ``app-<app_id>-<run_id>`` (tideflow.platform.runs.service).
_RUN_WORKFLOW_ID = re.compile(rf"^app-.+-({_UUID})$")


@dataclass(frozen=True)
class NodeContext:
    """The run and node an activity serves (empty strings where not known)."""

    workflow_id: str
    run_id: str
    node_id: str
    node_type: str
    activity: str


_current: contextvars.ContextVar[NodeContext | None] = contextvars.ContextVar(
    "tideflow_node", default=None
)


def current_node() -> NodeContext | None:
    """The node the running activity serves, None outside node activities."""
    return _current.get()


def _field(arg: object, name: str) -> str:
    if isinstance(arg, Mapping):
        value: object = cast(Mapping[str, object], arg).get(name)
    else:
        value = getattr(arg, name, None)
    return value if isinstance(value, str) else ""


def node_context(activity_type: str, workflow_id: str, args: tuple[Any, ...]) -> NodeContext:
    """What an activity's first argument (its input model) says about its run and node."""
    arg = args[0] if args else None
    stream = getattr(arg, "stream", None)  # a model call's stream target names run and node
    node_id = _field(arg, "node_id") or _field(stream, "node_id")
    run_id = _field(arg, "run_id") or _field(stream, "run_id")
    if not run_id:
        match = _RUN_WORKFLOW_ID.match(workflow_id)
        run_id = match.group(1) if match else ""
    node_type = _field(arg, "node_type") or NODE_TYPE_OF_ACTIVITY.get(activity_type, "")
    return NodeContext(workflow_id, run_id, node_id, node_type if node_id else "", activity_type)


class _NodeActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        node = node_context(info.activity_type, info.workflow_id or "", tuple(input.args))
        # Not reset afterwards on purpose: each activity runs in a task of its own, and the
        # SDK's own "Completing activity as failed" line, logged after this returns, should
        # still name the node.
        _current.set(node)
        span = trace.get_current_span()
        if span.is_recording():
            attributes = {
                "tideflow.workflow_id": node.workflow_id,
                "tideflow.run_id": node.run_id,
                "tideflow.node_id": node.node_id,
                "tideflow.node_type": node.node_type,
            }
            span.set_attributes({k: v for k, v in attributes.items() if v})
        return await super().execute_activity(input)


class NodeActivityInterceptor(ClientInterceptor, Interceptor):
    """Puts the run and node of every activity on its span and its log records.

    A client interceptor too (intercepting nothing there), so it rides on the client and
    workers built from it inherit it. Listed after the tracing interceptor, so the activity's
    span is the current one here.
    """

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap the activity's inbound calls."""
        return _NodeActivityInbound(next)


# Log record attributes the filter sets and the JSON formatter writes, in that order.
CONTEXT_FIELDS = ("run_id", "workflow_id", "node_id", "node_type", "activity", "attempt")
TRACE_FIELDS = ("trace_id", "span_id")


class RunContextFilter(logging.Filter):
    """Adds run, node, trace and span ids to each record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Set the context attributes a record does not have yet; always True."""
        values: dict[str, Any] = {}
        if activity.in_activity():
            info = activity.info()
            values["workflow_id"] = info.workflow_id
            values["activity"] = info.activity_type
            values["attempt"] = info.attempt
        node = _current.get()
        if node is not None:
            values.update(run_id=node.run_id, node_id=node.node_id, node_type=node.node_type)
        workflow = record.__dict__.get("temporal_workflow")  # set by temporalio's workflow.logger
        if isinstance(workflow, Mapping) and "workflow_id" not in values:
            values["workflow_id"] = cast(Mapping[str, Any], workflow).get("workflow_id")
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            values["trace_id"] = trace.format_trace_id(span.trace_id)
            values["span_id"] = trace.format_span_id(span.span_id)
        for name, value in values.items():
            if value not in (None, "") and not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonLogFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, then run/node/trace fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in (*CONTEXT_FIELDS, *TRACE_FIELDS):
            value = getattr(record, name, None)
            if value not in (None, ""):
                line[name] = value
        if record.exc_info or record.exc_text:
            # exc_text first: the redactor stores the masked traceback there.
            line["exception"] = record.exc_text or self.formatException(record.exc_info)  # pyright: ignore[reportArgumentType]
        return json.dumps(line, default=str, ensure_ascii=False)


# Loggers with handlers of their own (uvicorn's do not propagate to the root).
_HANDLER_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


def configure_logging(log_format: str) -> None:
    """Give every handler the context filter, and the JSON formatter when ``log_format`` is
    ``json``. Idempotent; adds a stderr handler to the root if it has none."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for name in _HANDLER_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RunContextFilter) for f in handler.filters):
                handler.addFilter(RunContextFilter())
            if log_format == "json":
                handler.setFormatter(JsonLogFormatter())
