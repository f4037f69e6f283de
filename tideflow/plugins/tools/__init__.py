"""Tool plugins: the interface a provider implements and the lookup the tool node uses.

Write a plugin against these names (``tideflow.plugins.tools.base`` holds them)::

    from tideflow.plugins.tools import FunctionTool, ToolParameter, ToolProvider, ToolResult

and declare its ToolProvider as an entry point of group ``tideflow.tools``.
"""

from tideflow.plugins.tools.base import (
    FunctionTool,
    Tool,
    ToolContext,
    ToolError,
    ToolParameter,
    ToolProvider,
    ToolResult,
    check_parameters,
    find_tool,
    plugin_name,
    tool_providers,
)

__all__ = [
    "FunctionTool",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolParameter",
    "ToolProvider",
    "ToolResult",
    "check_parameters",
    "find_tool",
    "plugin_name",
    "tool_providers",
]
