"""The plugin registry with a real installed third-party plugin (tests/plugins/example_plugin).

The example plugin is a distribution of its own (``tideflow-example-plugin``), installed into
the venv as a dev dependency: what ``pip install`` gives a third party. It adds the node types
``example-upper`` (workflow code) and ``example-reverse`` (an activity of its own) and the tool
provider ``example`` (tool ``shout``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from tests.graph.builders import edge, export, node, start
from tideflow.platform.settings import get_settings
from tideflow.platform.temporal import DATA_CONVERTER, PASSTHROUGH_MODULES
from tideflow.plugins.registry import allowed, clear_cache, installed, plugins
from tideflow.plugins.tools.base import ToolContext, ToolError, check_parameters, find_tool
from tideflow.worker import node_plugin_activities
from tideflow.workflows import nodes
from tideflow.workflows.engine import node_exec
from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult
from tideflow.workflows.graph import compile_plan, load_app, validate_app
from tideflow.workflows.graph.specs import is_known
from tideflow.workflows.interpreter import GraphWorkflow
from tideflow.workflows.nodes import NodeRunner, NodeSpec, add_node_plugins

DIST = "tideflow-example-plugin"
PLUGIN_TYPES = {"example-upper", "example-reverse"}

# A worker process configured the way an operator would: the allow-list in its environment.
WORKER = """
import asyncio, sys
from temporalio.client import Client
from tideflow.local_run import graph_worker
from tideflow.platform.settings import Settings
from tideflow.platform.temporal import DATA_CONVERTER

async def main() -> None:
    client = await Client.connect(sys.argv[1], data_converter=DATA_CONVERTER)
    await graph_worker(client, Settings(), sys.argv[2]).run()

asyncio.run(main())
"""


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    """Each test loads entry points anew (``plugins`` caches by group and allow-list)."""
    clear_cache()
    yield
    clear_cache()
    get_settings.cache_clear()


def _builtin_registries() -> tuple[dict[str, NodeSpec], dict[str, NodeRunner]]:
    """Copies of this process's registries without the example plugin's node types (which a
    TIDEFLOW_PLUGINS_ALLOW in the developer's environment would have added)."""
    specs = {t: s for t, s in nodes.NODE_SPECS.items() if t not in PLUGIN_TYPES}
    runners = {t: r for t, r in nodes.NODE_RUNNERS.items() if t not in PLUGIN_TYPES}
    return specs, runners


def _plugin_runners() -> dict[str, NodeRunner]:
    runners: dict[str, NodeRunner] = {}
    for plugin in plugins("tideflow.nodes", allow=(DIST,)).values():
        runners.update(plugin.RUNNERS)
    return runners


def _with_plugin() -> dict[str, NodeSpec]:
    specs, runners = _builtin_registries()
    added = add_node_plugins(specs, runners, plugins("tideflow.nodes", allow=(DIST,)))
    assert set(added) == PLUGIN_TYPES
    return specs


def test_allow_list_rules() -> None:
    assert allowed("start", "tideflow", ())  # Tideflow's own entry points always load
    assert not allowed("example-upper", DIST, ())
    assert allowed("example-upper", DIST, (f"{DIST}:example-upper",))  # one entry point
    assert not allowed("example-upper", DIST, ("example-upper",))  # a bare name is a distribution
    assert allowed("example-upper", DIST, ("tideflow_example_plugin",))  # by distribution
    assert allowed("example-upper", DIST, ("Tideflow-Example-Plugin",))  # names normalised
    assert allowed("example-upper", DIST, ("*",))
    assert not allowed("example-upper", DIST, (f"{DIST}:example-reverse", "other-plugin"))


def test_node_and_tool_plugins_load_only_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ("example-upper", DIST) in installed("tideflow.nodes")  # listed even when not allowed
    assert ("example", DIST) in installed("tideflow.tools")
    assert not PLUGIN_TYPES & set(plugins("tideflow.nodes", allow=()))
    assert "example" not in plugins("tideflow.tools", allow=())
    one = (f"{DIST}:example-upper",)
    assert set(plugins("tideflow.nodes", allow=one)) >= {"example-upper"}
    assert "example-reverse" not in plugins("tideflow.nodes", allow=one)

    # The default allow-list is the setting, read from TIDEFLOW_PLUGINS_ALLOW.
    monkeypatch.setenv("TIDEFLOW_PLUGINS_ALLOW", f'["{DIST}"]')
    get_settings.cache_clear()
    node_plugins = plugins("tideflow.nodes")
    assert set(node_plugins) >= PLUGIN_TYPES
    assert [spec.type for spec in node_plugins["example-upper"].SPECS] == ["example-upper"]
    assert "example" in plugins("tideflow.tools")
    with pytest.raises(ValueError, match=r"unknown plugin group 'tideflow\.widgets'"):
        plugins("tideflow.widgets")


async def test_the_shout_tool_is_found_and_runs_only_when_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TIDEFLOW_PLUGINS_ALLOW", "[]")
    get_settings.cache_clear()
    assert find_tool("example", "shout") is None

    monkeypatch.setenv("TIDEFLOW_PLUGINS_ALLOW", f'["{DIST}:example"]')  # one entry point
    get_settings.cache_clear()
    clear_cache()
    tool = find_tool("example", "shout")
    assert tool is not None and tool.label == "Shout"
    context = ToolContext(settings=get_settings(), tenant_id="t1", node_id="tool")
    result = await tool.invoke(check_parameters(tool, {"text": "hello", "extra": 1}), context)
    assert result.text == "HELLO!"
    with pytest.raises(ToolError, match="tool shout: parameter 'text' is required"):
        check_parameters(tool, {})


def _broken_distribution(site: Path) -> None:
    """An installed distribution whose entry point names a module that does not exist."""
    info = site / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[tideflow.nodes]\nbroken = broken_plugin_gone.nodes\n")


def test_a_broken_entry_point_is_skipped_and_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _broken_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert ("broken", "broken-plugin") in installed("tideflow.nodes")
    with caplog.at_level(logging.ERROR, logger="tideflow.plugins"):
        found = plugins("tideflow.nodes", allow=("broken-plugin", DIST))
    assert "broken" not in found
    assert set(found) >= PLUGIN_TYPES  # the other plugin still loads
    assert "plugin broken (broken-plugin) failed to load: No module named 'broken_plugin_gone'" in (
        caplog.text
    )


async def _noop(_ctx: NodeContext) -> NodeResult:
    return NodeResult()


def test_a_plugin_cannot_replace_a_node_type_and_a_malformed_one_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    specs, runners = _builtin_registries()
    builtin_end = specs["end"]
    candidates = {
        "hijack": SimpleNamespace(SPECS=[NodeSpec("end")], RUNNERS={"end": _noop}),
        "dify-name": SimpleNamespace(SPECS=[NodeSpec("loop-end")], RUNNERS={}),
        "no-specs": SimpleNamespace(RUNNERS={}),
        "bad-runner": SimpleNamespace(SPECS=[NodeSpec("x-one")], RUNNERS={"x-two": _noop}),
        "bad-activities": SimpleNamespace(SPECS=[NodeSpec("x-three")], RUNNERS={}, ACTIVITIES=1),
        **plugins("tideflow.nodes", allow=(DIST,)),
        # The same type twice: the first plugin keeps it.
        "again": SimpleNamespace(SPECS=[NodeSpec("example-upper")], RUNNERS={}),
    }
    with caplog.at_level(logging.ERROR, logger="tideflow.plugins"):
        added = add_node_plugins(specs, runners, candidates)
    assert set(added) == PLUGIN_TYPES
    assert specs["end"] is builtin_end and runners["end"] is nodes.NODE_RUNNERS["end"]
    assert not {"x-one", "x-two", "x-three"} & set(specs)
    assert runners["example-upper"] is candidates["example-upper"].RUNNERS["example-upper"]
    log = caplog.text
    assert "node plugin hijack skipped: node type(s) ['end'] already taken" in log
    assert "node plugin dify-name skipped: node type(s) ['loop-end'] already taken" in log
    assert "node plugin no-specs skipped: SPECS is missing" in log
    assert "node plugin bad-runner skipped: RUNNERS['x-two'] is not a callable" in log
    assert "node plugin bad-activities skipped: ACTIVITIES is not a list" in log
    assert "node plugin again skipped: node type(s) ['example-upper'] already taken" in log


@activity.defn(name="run_code")
async def _code_impostor(request: dict[str, Any]) -> dict[str, Any]:
    return request


async def _undecorated(request: dict[str, Any]) -> dict[str, Any]:
    return request


def test_worker_registers_plugin_activities_unless_unnamed_or_taken(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tideflow.activities.code import run_code

    example = plugins("tideflow.nodes", allow=(DIST,))["example-reverse"]
    impostor = SimpleNamespace(ACTIVITIES=[_code_impostor, _undecorated])
    monkeypatch.setattr(nodes, "NODE_PLUGINS", {"example-reverse": example, "impostor": impostor})
    with caplog.at_level(logging.ERROR, logger="tideflow.worker"):
        found = node_plugin_activities([run_code])
    assert found == example.ACTIVITIES
    assert "node plugin impostor: activity" in caplog.text
    assert "skipped: its name is taken" in caplog.text
    assert "skipped: not a named @activity.defn" in caplog.text


def _app_export(upper_data: dict[str, Any]) -> dict[str, Any]:
    """start(name) -> example-upper -> example-reverse -> end(upper, reversed, pid)."""
    outputs = [
        {"variable": "upper", "value_selector": ["upper", "text"]},
        {"variable": "reversed", "value_selector": ["reverse", "text"]},
        {"variable": "pid", "value_selector": ["reverse", "pid"]},
    ]
    graph = [
        start("name"),
        node("upper", "example-upper", **upper_data),
        node("reverse", "example-reverse", variable_selector=["upper", "text"]),
        node("end", "end", outputs=outputs),
    ]
    edges = [edge("start", "upper"), edge("upper", "reverse"), edge("reverse", "end")]
    return export(graph, edges)


def test_plugin_node_types_pass_graph_validation_only_when_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = load_app(_app_export({"variable_selector": ["start", "name"]}))
    bad = load_app(_app_export({"variable_selector": "start.name"}))

    monkeypatch.setattr(nodes, "NODE_SPECS", _builtin_registries()[0])
    assert not is_known("example-upper")
    messages = {(p.node_id, p.message) for p in validate_app(good)}
    assert ("upper", "unknown node type 'example-upper'") in messages

    monkeypatch.setattr(nodes, "NODE_SPECS", _with_plugin())
    assert is_known("example-upper") and is_known("example-reverse")
    assert validate_app(good) == []
    problems = validate_app(bad)
    assert [(p.node_id, p.field) for p in problems] == [("upper", "variable_selector")]
    assert "must be a variable selector" in problems[0].message


async def test_plugin_nodes_run_on_a_real_worker_that_allows_them(
    temporal_env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nodes, "NODE_SPECS", _with_plugin())  # the API process's view
    app = load_app(_app_export({"variable_selector": ["start", "name"]}))
    assert validate_app(app) == []
    run_input = GraphRunInput(plan=compile_plan(app), inputs={"name": "hello plugins"})

    client = temporal_env.client
    env = {**os.environ, "TIDEFLOW_PLUGINS_ALLOW": f'["{DIST}"]'}
    target = client.service_client.config.target_host
    worker = subprocess.Popen([sys.executable, "-c", WORKER, target, task_queue], env=env)
    try:
        handle = await client.start_workflow(
            GraphWorkflow.run, run_input, id=f"plugin-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        result: GraphRunResult = await asyncio.wait_for(handle.result(), timeout=120)
        history = await handle.fetch_history()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert result.status == "succeeded", result.error
    # The plugin's activity ran in the worker process that loaded the plugin from its settings.
    assert result.outputs == {
        "upper": "HELLO PLUGINS",
        "reversed": "SNIGULP OLLEH",
        "pid": worker.pid,
    }
    runs = {r.node_id: r for r in result.node_runs}
    assert runs["upper"].node_type == "example-upper"
    assert runs["upper"].inputs == {"text": "hello plugins"}
    assert runs["reverse"].status == "succeeded"

    # The plugin's node is deterministic workflow code: its history replays in the sandbox.
    for node_type, runner in _plugin_runners().items():
        monkeypatch.setitem(node_exec.NODE_RUNNERS, node_type, runner)
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    replayer = Replayer(
        workflows=[GraphWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
    )
    await replayer.replay_workflow(history)
