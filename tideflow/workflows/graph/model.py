"""The app document: a Dify DSL app after import and normalisation, before compilation.

It keeps what the compiled plan drops (canvas positions, features, dependencies, the app icon)
so that ``export_dsl`` can write back a file Dify opens as the same app.
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field

from tideflow.workflows.graph.plan import AppMode

CONTAINER_TYPES = frozenset({"iteration", "loop"})
CONTAINER_START_TYPES = {"iteration": "iteration-start", "loop": "loop-start"}
ROOT_TYPES = frozenset({"start", "trigger-webhook", "trigger-schedule", "trigger-plugin"})


def _dict() -> dict[str, Any]:
    return {}


class DocNode(BaseModel):
    """One node: its Dify type, its normalised ``data`` and the container it sits in."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    data: dict[str, Any] = Field(default_factory=_dict)
    parent_id: str | None = None
    # Editor-only keys of the node entry (position, width, zIndex...), kept for export.
    canvas: dict[str, Any] = Field(default_factory=_dict)

    @property
    def title(self) -> str:
        """The node's title as the user named it on the canvas."""
        title = self.data.get("title")
        return title if isinstance(title, str) else ""


class DocEdge(BaseModel):
    """A directed edge; ``source_handle`` picks the branch (``source`` is the default)."""

    model_config = ConfigDict(frozen=True)

    source: str
    target: str
    source_handle: str = "source"
    canvas: dict[str, Any] = Field(default_factory=_dict)

    @property
    def id(self) -> str:
        """A stable id built from the edge's meaning, not from editor-assigned ids."""
        return f"{self.source}-{self.source_handle}-{self.target}"


class AppDocument(BaseModel):
    """A whole imported app: a ``workflow`` or ``advanced-chat`` graph, or a Chatbot, Agent or
    Text Generator whose ``app_model_config`` compiled to ``nodes`` and ``edges``."""

    model_config = ConfigDict(frozen=True)

    mode: AppMode
    name: str = ""
    description: str = ""
    # DSL version of the source file (0.1.0 when the file did not say).
    dsl_version: str = "0.1.0"
    # The rest of the ``app`` block (icon, icon_background, use_icon_as_answer_icon...).
    app_extra: dict[str, Any] = Field(default_factory=_dict)
    nodes: tuple[DocNode, ...] = ()
    edges: tuple[DocEdge, ...] = ()
    environment_variables: tuple[dict[str, Any], ...] = ()
    conversation_variables: tuple[dict[str, Any], ...] = ()
    features: dict[str, Any] = Field(default_factory=_dict)
    dependencies: tuple[dict[str, Any], ...] = ()
    # The rest of the ``workflow`` block and graph (viewport, rag_pipeline_variables...).
    workflow_extra: dict[str, Any] = Field(default_factory=_dict)
    # Graph-less modes: Dify's ``model_config`` as imported (the export writes it back).
    app_model_config: dict[str, Any] | None = None

    def node_map(self) -> dict[str, DocNode]:
        """Nodes by id, in document order."""
        return {n.id: n for n in self.nodes}

    def env_names(self) -> set[str]:
        """Names of the declared environment variables."""
        return {str(v.get("name")) for v in self.environment_variables}

    def conversation_names(self) -> set[str]:
        """Names of the declared conversation variables."""
        return {str(v.get("name")) for v in self.conversation_variables}


def as_dict(value: object) -> dict[str, Any] | None:
    """``value`` as a string-keyed dict, or None when it is not a mapping."""
    return cast(dict[str, Any], value) if isinstance(value, dict) else None


def as_list(value: object) -> list[Any] | None:
    """``value`` as a list, or None when it is not one."""
    return cast(list[Any], value) if isinstance(value, list) else None


def as_selector(value: object) -> tuple[str, ...] | None:
    """A variable selector (a list of at least two strings), or None."""
    items = as_list(value)
    if items is None or len(items) < 2 or not all(isinstance(i, str | int) for i in items):
        return None
    return tuple(str(i) for i in items)
