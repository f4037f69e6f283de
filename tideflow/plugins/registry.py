"""Plugins found through entry points: the built-ins register the same way as third parties.

A plugin is an installed distribution that declares entry points in one of ``GROUPS``, e.g. in
its ``pyproject.toml``::

    [project.entry-points."tideflow.tools"]
    shout = "tideflow_example_plugin.tools:PROVIDER"

All five groups are read, each by the module that knows what its objects are:

- ``tideflow.nodes``: a node module (``SPECS``, ``RUNNERS``, ``ACTIVITIES``), see
  ``tideflow.workflows.nodes``;
- ``tideflow.tools``: a ``ToolProvider`` (``tideflow.plugins.tools.base.tool_providers``);
- ``tideflow.model_providers``: a ``ProviderSpec`` or a sequence of them
  (``tideflow.plugins.model_providers.provider_spec``);
- ``tideflow.parsers``: a ``Parser`` for some file extensions (``tideflow.plugins.parsers``);
- ``tideflow.vector_stores``: a factory ``(settings) -> VectorStoreBackend``, chosen by the
  setting ``vector_store`` (``tideflow.activities.knowledge.vector_store``).

Tideflow's built-ins (tools, model providers, parsers, the ``qdrant`` store) are entry points
of the ``tideflow`` distribution too, and a plugin cannot replace one.

``plugins(group)`` loads every entry point of the group, by entry-point name. Tideflow's own
entry points (distribution ``tideflow``) always load; others load only when
``TIDEFLOW_PLUGINS_ALLOW`` lists their distribution name (all its entry points), or
``distribution:entry`` for one of them (``*`` allows every installed plugin). A plugin that
fails to import is left out and logged: one broken package does not stop the worker; of two
entry points of one name, the first loaded keeps it.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("tideflow.plugins")

GROUPS = (
    "tideflow.nodes",
    "tideflow.tools",
    "tideflow.vector_stores",
    "tideflow.parsers",
    "tideflow.model_providers",
)
BUILTIN_DISTRIBUTION = "tideflow"


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def allowed(entry_name: str, distribution: str, allow: Sequence[str]) -> bool:
    """Whether an entry point of ``distribution`` may load under the allow-list: the list names
    the distribution (all its entry points), ``distribution:entry`` (that one), or ``*``."""
    if _normalise(distribution) == BUILTIN_DISTRIBUTION:
        return True
    wanted = {_normalise(item) for item in allow}
    dist = _normalise(distribution)
    return "*" in wanted or dist in wanted or f"{dist}:{_normalise(entry_name)}" in wanted


def plugins(group: str, allow: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The loaded objects of ``group``'s allowed entry points, by entry-point name. ``allow``
    defaults to the settings' allow-list, read on every call (loading is cached per list)."""
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}; expected one of {GROUPS}")
    if allow is None:
        from tideflow.platform.settings import get_settings

        allow = tuple(get_settings().plugins_allow)
    return _load(group, allow)


def clear_cache() -> None:
    """Forget loaded plugins (tests that install or allow other ones)."""
    _load.cache_clear()


@functools.cache
def _load(group: str, allow: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for entry in importlib.metadata.entry_points(group=group):
        distribution = entry.dist.name if entry.dist is not None else ""
        if not allowed(entry.name, distribution, allow):
            log.debug(
                "plugin %s (%s) not in TIDEFLOW_PLUGINS_ALLOW: skipped", entry.name, distribution
            )
            continue
        if entry.name in sources:  # two distributions claim one name: the first keeps it
            log.error(
                "plugin %s of %s skipped: %s already provides %s",
                entry.name,
                distribution,
                sources[entry.name],
                entry.name,
            )
            continue
        try:
            found[entry.name] = entry.load()
        except Exception as exc:  # a broken plugin must not stop the process
            log.error("plugin %s (%s) failed to load: %s", entry.name, distribution, exc)
            continue
        sources[entry.name] = distribution
    return found


def installed(group: str) -> list[tuple[str, str]]:
    """(entry-point name, distribution) of every installed entry point of ``group``, allowed
    or not (for the console's plugin list)."""
    return [
        (entry.name, entry.dist.name if entry.dist is not None else "")
        for entry in importlib.metadata.entry_points(group=group)
    ]
