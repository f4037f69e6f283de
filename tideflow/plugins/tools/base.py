"""What a tool plugin provides, and how Tideflow finds and calls it.

A plugin package declares a ``ToolProvider`` object as an entry point of group
``tideflow.tools``; the tool node (through activity ``tool_invoke``) finds a tool by Dify's
``provider_id`` and ``tool_name``, checks and coerces the parameters against the tool's
``parameters`` and awaits ``invoke``. Tideflow's built-in providers register the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, cast

from tideflow.platform.settings import Settings

log = logging.getLogger("tideflow.plugins.tools")

GROUP = "tideflow.tools"
PARAMETER_TYPES = frozenset(
    {"string", "number", "boolean", "select", "file", "files", "object", "array"}
)
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})


@dataclasses.dataclass(frozen=True)
class ToolParameter:
    """One parameter of a tool, as Dify's tool YAML declares it.

    ``form``: "llm" parameters come from the node's ``tool_parameters``, "form" ones from its
    ``tool_configurations`` (both are accepted from either place). ``options`` restricts a
    "select" parameter; ``default`` fills a missing value.
    """

    name: str
    type: str
    required: bool = False
    form: str = "llm"
    description: str = ""
    options: tuple[str, ...] = ()
    default: Any = None


@dataclasses.dataclass
class ToolResult:
    """What a tool produced: the node's ``text``, ``json`` and ``files`` outputs, plus extra
    output ``variables`` (Dify's variable messages)."""

    text: str = ""
    json: list[dict[str, Any]] = dataclasses.field(default_factory=list[dict[str, Any]])
    files: list[dict[str, Any]] = dataclasses.field(default_factory=list[dict[str, Any]])
    variables: dict[str, Any] = dataclasses.field(default_factory=dict[str, Any])


@dataclasses.dataclass(frozen=True)
class ToolContext:
    """Where a tool runs: the process settings (limits, SSRF policy), the app's tenant and the
    node calling it."""

    settings: Settings
    tenant_id: str
    node_id: str


class Tool(Protocol):
    """A callable tool. ``invoke`` gets parameters already checked by ``check_parameters``."""

    @property
    def name(self) -> str:
        """The tool's name inside its provider (Dify's ``tool_name``)."""
        ...

    @property
    def label(self) -> str:
        """A human name."""
        ...

    @property
    def description(self) -> str:
        """What the tool does (shown to people and, in agents, to the model)."""
        ...

    @property
    def parameters(self) -> Sequence[ToolParameter]:
        """The parameters the tool takes."""
        ...

    async def invoke(self, params: dict[str, Any], context: ToolContext) -> ToolResult:
        """Run the tool; raise ToolError for a failure the user should see."""
        ...


@dataclasses.dataclass(frozen=True)
class ToolProvider:
    """A set of tools under one Dify provider id (``org/plugin/provider`` or a built-in name);
    ``aliases`` are other ids DSL files use for the same provider."""

    id: str
    name: str
    label: str
    tools: Mapping[str, Tool]
    aliases: tuple[str, ...] = ()


class ToolError(Exception):
    """A tool's own failure: the message is shown, the node fails (its retry_config and error
    strategy apply)."""


@dataclasses.dataclass(frozen=True)
class FunctionTool:
    """A Tool made of its description and one async function (how the built-ins are written)."""

    name: str
    label: str
    description: str
    parameters: Sequence[ToolParameter]
    run: Callable[[dict[str, Any], ToolContext], Awaitable[ToolResult]]

    async def invoke(self, params: dict[str, Any], context: ToolContext) -> ToolResult:
        """Call ``run`` on a thread of its own: a tool's CPU work (a long computation, a big
        document) must not stop the worker's event loop, which heartbeats and runs every
        other activity."""
        return await asyncio.to_thread(_run_sync, self.run, params, context)


def _run_sync(
    run: Callable[[dict[str, Any], ToolContext], Awaitable[ToolResult]],
    params: dict[str, Any],
    context: ToolContext,
) -> ToolResult:
    async def main() -> ToolResult:
        return await run(params, context)

    return asyncio.run(main())


def tool_providers() -> dict[str, ToolProvider]:
    """Installed providers indexed by id and by each alias.

    They come from ``plugins("tideflow.tools")``, where the built-ins register too; an entry
    point whose object is not a ToolProvider is logged and left out. The built-ins come first
    and stay there even when their entry points are not installed (a checkout whose metadata
    predates them); a plugin cannot replace one (it is logged and left out).
    """
    from tideflow.plugins.registry import plugins
    from tideflow.plugins.tools.builtin import BUILTIN_PROVIDERS

    found: list[ToolProvider] = []
    for entry_name, obj in plugins(GROUP).items():
        if isinstance(obj, ToolProvider):
            found.append(obj)
        else:
            kind = type(cast(object, obj)).__name__
            log.error("tool plugin %s is a %s, not a ToolProvider: skipped", entry_name, kind)
    builtin_keys = {key for p in BUILTIN_PROVIDERS for key in (p.id, *p.aliases)}
    ordered = list(BUILTIN_PROVIDERS)
    for provider in found:
        if provider in BUILTIN_PROVIDERS:
            continue
        clash = builtin_keys & {provider.id, *provider.aliases}
        if clash:
            log.error(
                "tool plugin %s would replace built-in %s: skipped", provider.id, sorted(clash)
            )
            continue
        ordered.append(provider)
    index: dict[str, ToolProvider] = {}
    for provider in ordered:
        for key in (provider.id, *provider.aliases):
            index.setdefault(key, provider)
    return index


def find_tool(provider_id: str, tool_name: str) -> Tool | None:
    """The tool ``tool_name`` of provider ``provider_id`` (or an alias), None when absent."""
    provider = tool_providers().get(provider_id)
    return None if provider is None else provider.tools.get(tool_name)


def plugin_name(provider_id: str, plugin_unique_identifier: str | None = None) -> str:
    """The marketplace plugin a provider comes from, for messages: ``org/name`` of its unique
    identifier (``org/name:version@hash``) or of an ``org/name/provider`` id, else the id."""
    if plugin_unique_identifier:
        return plugin_unique_identifier.split(":", 1)[0].split("@", 1)[0]
    parts = provider_id.split("/")
    return "/".join(parts[:2]) if len(parts) == 3 else provider_id


def check_parameters(tool: Tool, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` checked against ``tool.parameters``: each coerced to its declared type,
    defaults filled, unknown names dropped. Raises ToolError naming the parameter at fault.

    An empty string counts as missing for every type but "string" (a ``mixed`` template whose
    variable was empty renders as "").
    """
    checked: dict[str, Any] = {}
    for parameter in tool.parameters:
        value = params.get(parameter.name)
        if value is None or (value == "" and parameter.type != "string"):
            value = parameter.default
        if value is None:
            if parameter.required:
                raise ToolError(f"tool {tool.name}: parameter {parameter.name!r} is required")
            continue
        checked[parameter.name] = _coerce(tool.name, parameter, value)
    return checked


def _coerce(tool_name: str, parameter: ToolParameter, value: Any) -> Any:
    def bad(expected: str) -> ToolError:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        return ToolError(
            f"tool {tool_name}: parameter {parameter.name!r} must be {expected} (got {shown})"
        )

    kind = parameter.type
    if kind == "string":
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False)
        return str(value).lower() if isinstance(value, bool) else str(value)
    if kind == "number":
        return _number(value, bad)
    if kind == "boolean":
        return _boolean(value, bad)
    if kind == "select":
        text = str(value)
        if parameter.options and text not in parameter.options:
            raise bad(f"one of {', '.join(parameter.options)}")
        return text
    if kind in ("object", "array"):
        return _structured(kind, value, bad)
    if kind == "file":
        if isinstance(value, list) and len(cast(list[Any], value)) == 1:
            value = cast(list[Any], value)[0]
        if not isinstance(value, dict):
            raise bad("a file")
        return cast(dict[str, Any], value)
    if kind == "files":
        items: list[Any] = cast(list[Any], value) if isinstance(value, list) else [value]
        if not all(isinstance(item, dict) for item in items):
            raise bad("a list of files")
        return items
    raise ToolError(f"tool {tool_name}: parameter {parameter.name!r} has unknown type {kind!r}")


def _number(value: Any, bad: Callable[[str], ToolError]) -> int | float:
    if isinstance(value, bool):
        raise bad("a number")
    if isinstance(value, int | float):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise bad("a number") from None


def _boolean(value: Any, bad: Callable[[str], ToolError]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise bad("true or false")


def _structured(kind: str, value: Any, bad: Callable[[str], ToolError]) -> Any:
    expected = dict if kind == "object" else list
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise bad(f"JSON {'an object' if kind == 'object' else 'an array'}") from None
    if not isinstance(value, expected):
        raise bad("an object" if kind == "object" else "an array")
    return cast(Any, value)
