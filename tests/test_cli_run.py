"""``tideflow validate`` and ``tideflow run`` as a user calls them (subprocesses, real Temporal)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SHARED_DIR

FIXTURES = SHARED_DIR / "conformance" / "dify-fixtures"
TIDEFLOW = str(Path(sys.executable).parent / "tideflow")


def tideflow(
    *args: str, timeout: float = 120, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TIDEFLOW_TEMPORAL_ADDRESS"}
    env.update(env_extra or {})
    return subprocess.run(
        [TIDEFLOW, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def workflow_dsl(nodes: list[dict[str, Any]], edges: list[tuple[str, str]]) -> str:
    graph_nodes = [{"id": n["id"], "type": "custom", "data": n} for n in nodes]
    graph_edges = [{"id": f"{s}-{t}", "source": s, "target": t} for s, t in edges]
    return yaml.safe_dump(
        {
            "kind": "app",
            "version": "0.6.0",
            "app": {"name": "cli test", "mode": "workflow"},
            "workflow": {"graph": {"nodes": graph_nodes, "edges": graph_edges}},
        }
    )


START = {
    "id": "start",
    "type": "start",
    "title": "Start",
    "variables": [{"variable": "n", "type": "number", "required": True}],
}


def code_node(code: str, output_type: str = "number") -> dict[str, Any]:
    return {
        "id": "code",
        "type": "code",
        "title": "Compute",
        "code_language": "python3",
        "code": code,
        "variables": [{"variable": "n", "value_selector": ["start", "n"]}],
        "outputs": {"result": {"type": output_type, "children": None}},
    }


END = {
    "id": "end",
    "type": "end",
    "title": "End",
    "outputs": [{"variable": "result", "value_selector": ["code", "result"]}],
}


def write(tmp_path: Path, text: str, name: str = "app.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_validate_accepts_a_fixture() -> None:
    result = tideflow("validate", str(FIXTURES / "simple_passthrough_workflow.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("valid: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: app\nworkflow: [unclosed", "yaml"),
        ("kind: dataset\napp: {mode: workflow}\n", "kind"),
    ],
)
def test_validate_refuses_malformed_files(tmp_path: Path, text: str, expected: str) -> None:
    result = tideflow("validate", str(write(tmp_path, text)))
    assert result.returncode == 2
    assert result.stdout.strip(), result.stderr
    assert expected in result.stdout.lower()
    assert "Traceback" not in result.stdout + result.stderr


def test_validate_lists_every_problem_with_its_node(tmp_path: Path) -> None:
    reader = {
        "id": "tpl",
        "type": "template-transform",
        "title": "Reader",
        "template": "{{ x }}",
        "variables": [{"variable": "x", "value_selector": ["ghost", "out"]}],
    }
    dangling = [("start", "tpl"), ("tpl", "end"), ("tpl", "nowhere")]
    result = tideflow(
        "validate", str(write(tmp_path, workflow_dsl([START, reader, END], dangling)))
    )
    assert result.returncode == 2
    lines = result.stdout.strip().splitlines()
    assert any("node tpl (Reader)" in line and "ghost" in line for line in lines), lines
    assert any("nowhere" in line for line in lines), lines
    assert any("node end (End)" in line and "code" in line for line in lines), lines


def test_validate_names_unimplemented_nodes() -> None:
    fixture = str(FIXTURES / "knowledge_retrieval_v2_workflow.yml")
    result = tideflow("validate", fixture)
    assert result.returncode == 2
    assert "node retrieval-v2 (Knowledge Retrieval v2): type:" in result.stdout
    assert "'knowledge-retrieval-v2' is not implemented yet" in result.stdout
    assert tideflow("validate", "--mock-external", fixture).returncode == 0


def test_run_prints_json_and_exit_codes(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        workflow_dsl(
            [START, code_node("def main(n):\n    return {'result': n * 2}\n"), END],
            [("start", "code"), ("code", "end")],
        ),
    )
    ok = tideflow("run", str(app), "--inputs", '{"n": 21}')
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["status"] == "succeeded"
    assert report["outputs"] == {"result": 42}
    assert [r["node_id"] for r in report["node_runs"]] == ["start", "code", "end"]

    missing = tideflow("run", str(app))
    assert missing.returncode == 1
    assert "n is required" in json.loads(missing.stdout)["error"]

    filled = tideflow("run", str(app), "--fill-inputs")
    assert filled.returncode == 0, filled.stdout
    assert json.loads(filled.stdout)["outputs"] == {"result": 2}

    pinned = tideflow("run", str(app), "--inputs", '{"n": 1}', "--pin", 'code={"result": 7}')
    assert json.loads(pinned.stdout)["outputs"] == {"result": 7}


def test_run_fails_cleanly_on_wrong_type_and_forever_loops(tmp_path: Path) -> None:
    edges = [("start", "code"), ("code", "end")]
    wrong = write(
        tmp_path,
        workflow_dsl(
            [START, code_node("def main(n):\n    return {'result': 'text'}\n"), END], edges
        ),
        "wrong.yml",
    )
    result = tideflow("run", str(wrong), "--inputs", '{"n": 1}')
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["status"] == "failed"
    assert "result" in report["error"] and "number" in report["error"]
    code_run = next(r for r in report["node_runs"] if r["node_id"] == "code")
    assert code_run["status"] == "failed"

    forever = write(
        tmp_path,
        workflow_dsl(
            [START, code_node("def main(n):\n    while True:\n        pass\n"), END], edges
        ),
        "forever.yml",
    )
    result = tideflow(
        "run", str(forever), "--inputs", '{"n": 1}', env_extra={"TIDEFLOW_CODE_TIMEOUT_S": "3"}
    )
    assert result.returncode == 1
    assert "time" in json.loads(result.stdout)["error"].lower()


def test_run_bad_arguments_exit_2(tmp_path: Path) -> None:
    app = str(FIXTURES / "simple_passthrough_workflow.yml")
    latin1 = tmp_path / "inputs.json"
    latin1.write_bytes('{"query": "caf\u00e9"}'.encode("latin-1"))
    for args in (
        ["--inputs", "{not json"],
        ["--pin", "nonsense"],
        ["--inputs", "[1]"],
        ["--pin", 'no_such_node={"x": 1}'],
        ["--inputs", f"@{latin1}"],
    ):
        result = tideflow("run", app, *args)
        assert result.returncode == 2, args
        assert result.stderr.startswith("tideflow: "), result.stderr
        assert "Traceback" not in result.stderr, result.stderr
    unreachable = tideflow(
        "run", app, "--fill-inputs", env_extra={"TIDEFLOW_TEMPORAL_ADDRESS": "127.0.0.1:1"}
    )
    assert unreachable.returncode == 2
    assert unreachable.stderr.startswith("tideflow: TIDEFLOW_TEMPORAL_ADDRESS:")
    assert tideflow("run", str(tmp_path / "missing.yml")).returncode == 2


def test_run_refuses_an_unpinned_human_input_node(tmp_path: Path) -> None:
    human = {
        "id": "human",
        "type": "human-input",
        "title": "Review",
        "form_content": "Check {{#start.n#}}",
        "inputs": [],
        "user_actions": [{"id": "approve", "title": "Approve", "button_style": "primary"}],
        "timeout": 1,
        "timeout_unit": "hour",
    }
    end = {
        "id": "end",
        "type": "end",
        "title": "End",
        "outputs": [{"variable": "action", "value_selector": ["human", "__action_id"]}],
    }
    dsl = yaml.safe_load(workflow_dsl([START, human, end], [("start", "human"), ("human", "end")]))
    dsl["workflow"]["graph"]["edges"][1]["sourceHandle"] = "approve"  # the action's branch
    app = write(tmp_path, yaml.safe_dump(dsl))
    refused = tideflow("run", str(app), "--inputs", '{"n": 1}')
    assert refused.returncode == 2, refused.stderr
    assert "node human (Review): type:" in refused.stdout
    assert """--pin human='{"__action_id": "approve"}'""" in refused.stdout
    pinned = tideflow(
        "run", str(app), "--inputs", '{"n": 1}', "--pin", 'human={"__action_id": "approve"}'
    )
    assert pinned.returncode == 0, pinned.stderr + pinned.stdout
    assert json.loads(pinned.stdout)["outputs"] == {"action": "approve"}
