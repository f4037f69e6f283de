"""One app's draft as this session edits it, and the API calls that load, save, publish and
restore it. Each call leaves a notice (and the API's problems, per node) for the page to show."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

import streamlit as st

from tideflow.console.api_client import ConsoleApiError
from tideflow.console.common import api, attempt
from tideflow.console.node_types import Data
from tideflow.console.variables import nodes_by_id


@dataclass
class Editor:
    """One app's draft as edited in this session, and what the canvas was last shown."""

    app_id: str
    mode: str
    draft: Data
    problems: list[Data]
    saved: str
    versions: list[Data] = field(default_factory=list[Data])
    selected: str | None = None
    notice: tuple[str, str] | None = None
    rev: int = 0  # part of every form widget's key: a new value redraws the form from the graph
    ts: int = 0  # the canvas redraws from the graph when this is newer than its last report
    last_report: int = 0
    shown: str = ""
    shown_nodes: set[str] = field(default_factory=set[str])
    shown_edges: set[str] = field(default_factory=set[str])

    @property
    def graph(self) -> Data:
        """The Dify graph being edited."""
        return cast(Data, self.draft["graph"])

    @property
    def base(self) -> str:
        """The app's workflow routes."""
        return f"/console/api/apps/{self.app_id}/workflows"

    def dirty(self) -> bool:
        """Whether the graph differs from the saved draft."""
        return json.dumps(self.graph, sort_keys=True) != self.saved


def load(editor: Editor) -> bool:
    """Fetch the saved draft (and the versions); False after showing the API's refusal."""
    draft = attempt(lambda: api().get(f"{editor.base}/draft"), "load the draft")
    if not isinstance(draft, dict):
        return False
    editor.draft = cast(Data, draft)
    editor.graph.setdefault("nodes", [])
    editor.graph.setdefault("edges", [])
    editor.problems = cast(list[Data], editor.draft.pop("problems", None) or [])
    editor.saved = json.dumps(editor.graph, sort_keys=True)
    editor.rev += 1
    editor.shown = ""  # redraw the canvas from the loaded graph
    if editor.selected not in nodes_by_id(editor.graph):
        editor.selected = None
    load_versions(editor)
    return True


def load_versions(editor: Editor) -> None:
    """Fetch the published versions, newest first."""
    editor.versions = listed(attempt(lambda: api().get(editor.base), "versions"))


def listed(answer: Any) -> list[Data]:
    """The ``data`` list of a listing answer (empty when the API refused)."""
    return (
        cast(list[Data], cast(Data, answer).get("data") or []) if isinstance(answer, dict) else []
    )


def providers() -> list[str]:
    """The model providers' ids (fetched once per session) for the LLM form."""
    cached = st.session_state.get("editor-providers")
    if cached is None:
        answer = attempt(lambda: api().get("/console/api/workspaces/current/model-providers"))
        cached = [str(p.get("provider")) for p in listed(answer)]
        st.session_state["editor-providers"] = cached
    return cast(list[str], cached)


def act(editor: Editor, clicked: dict[str, bool]) -> None:
    """The toolbar's actions, after the form has written its fields into the graph."""
    if clicked["reload"] and load(editor):
        editor.notice = ("success", "Reloaded the saved draft.")
    if clicked["save"]:
        save(editor)
    if clicked["publish"] and (not editor.dirty() or save(editor)):
        publish(editor)


def save(editor: Editor) -> bool:
    """Save the graph; the API answers with the draft's problems, kept for their nodes."""
    body: Data = {
        "graph": editor.graph,
        "features": editor.draft.get("features") or {},
        "conversation_variables": editor.draft.get("conversation_variables") or [],
    }
    try:
        answer = api().post(f"{editor.base}/draft", body)
    except ConsoleApiError as exc:
        _refused(editor, "Save draft", exc)
        return False
    editor.problems = list(cast(Data, answer).get("problems") or [])
    editor.saved = json.dumps(editor.graph, sort_keys=True)
    count = len(editor.problems)
    editor.notice = (
        ("warning", f"Draft saved with {count} problem(s): see the marked nodes.")
        if count
        else ("success", "Draft saved.")
    )
    return True


def publish(editor: Editor) -> None:
    """Publish the saved draft; a refusal's problems are kept for their nodes."""
    try:
        answer = api().post(f"{editor.base}/publish")
    except ConsoleApiError as exc:
        _refused(editor, "Publish", exc)
        return
    version = cast(Data, cast(Data, answer).get("version") or {})
    editor.problems = []
    editor.notice = ("success", f"Published version {version.get('version')}.")
    load_versions(editor)


def _refused(editor: Editor, what: str, exc: ConsoleApiError) -> None:
    body: Any = exc.body
    problems: Any = cast(Data, body).get("problems") if isinstance(body, dict) else None
    if isinstance(problems, list):
        editor.problems = cast(list[Data], problems)
    editor.notice = ("error", f"{what}: {exc.message}")


def restore(editor: Editor, version: Data) -> bool:
    """Put a published version back into the draft and reload it."""
    restored = attempt(lambda: api().post(f"{editor.base}/{version['id']}/restore"), "restore")
    if restored is None or not load(editor):
        return False
    editor.notice = ("success", f"Restored version {version['version']} into the draft.")
    return True
