"""example-reverse: the string at ``variable_selector``, reversed by an activity, as ``text``.

Shows a plugin node with a side effect: the runner (workflow code) calls the plugin's own
activity by name, and ``ACTIVITIES`` tells the worker to register it.
"""

from __future__ import annotations

import os
from typing import Any

from temporalio import activity

from tideflow.workflows.engine.context import JSON_OBJECT, NodeContext, NodeResult
from tideflow.workflows.nodes.spec import NodeSpec
from tideflow_example_plugin._selector import selected_text, selector_problems

ACTIVITY_NAME = "example_reverse"


@activity.defn(name=ACTIVITY_NAME)
async def example_reverse(request: dict[str, Any]) -> dict[str, Any]:
    """Reverse ``request["text"]``; ``pid`` says which worker process did it."""
    return {"text": str(request["text"])[::-1], "pid": os.getpid()}


def outputs(_data: dict[str, Any]) -> set[str] | None:
    """The node writes ``text`` and the activity's ``pid``."""
    return {"text", "pid"}


async def run(ctx: NodeContext) -> NodeResult:
    """Hand the selected string to the activity."""
    text = selected_text(ctx)
    result = await ctx.call_activity(ACTIVITY_NAME, {"text": text}, JSON_OBJECT)
    return NodeResult(outputs=result, inputs={"text": text})


SPECS = [NodeSpec(type="example-reverse", validate=selector_problems, outputs=outputs)]
RUNNERS = {"example-reverse": run}
ACTIVITIES = [example_reverse]
