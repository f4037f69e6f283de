"""Tool provider ``example``: one tool, ``shout``, written against the ``Tool`` protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tideflow.plugins.tools.base import ToolContext, ToolParameter, ToolProvider, ToolResult


class Shout:
    """``shout``: the ``text`` parameter uppercased, with an exclamation mark."""

    name = "shout"
    label = "Shout"
    description = "Repeat the text in capitals, with an exclamation mark."
    parameters: Sequence[ToolParameter] = (
        ToolParameter("text", "string", required=True, description="What to shout"),
    )

    async def invoke(self, params: dict[str, Any], context: ToolContext) -> ToolResult:
        """``params`` were checked against ``parameters`` by Tideflow: ``text`` is a string."""
        del context  # shouting needs no settings or tenant
        return ToolResult(text=params["text"].upper() + "!")


PROVIDER = ToolProvider(
    id="example",
    name="example",
    label="Example plugin",
    tools={"shout": Shout()},
)
