"""Pure helpers of activity modules that workflow code calls, imported passed-through.

The activity modules themselves are imported lazily (and passed through the workflow sandbox),
so the engine loads (and unit tests run) without them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from temporalio import workflow

from tideflow.workflows.engine.errors import NodeError


def build_http_request(
    node_id: str,
    data: dict[str, Any],
    render: Callable[[str], str],
    resolve: Callable[[list[str]], Any],
) -> Any:
    """``tideflow.activities.http.build_http_request``: the activity's input model."""
    try:
        with workflow.unsafe.imports_passed_through():
            module = importlib.import_module("tideflow.activities.http")
    except ImportError as err:
        raise NodeError(
            f"HTTP request support is not installed: {err}", "HttpRequestNodeError"
        ) from err
    builder: Callable[..., Any] = module.build_http_request
    try:
        return builder(node_id, data, render, resolve)
    except (ValueError, KeyError, TypeError) as err:
        raise NodeError(str(err), "HttpRequestNodeError") from err
