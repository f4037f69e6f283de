"""100 DSL files exported by Dify users: each validates and runs to completion with external
nodes mocked and required inputs filled, or is refused with a message naming what it needs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conformance.conftest import CONFORMANCE_DIR, record
from tideflow.local_run import check_app, execute_graph, fill_inputs
from tideflow.platform.settings import get_settings
from tideflow.workflows.engine.models import GraphRunInput

FILES = sorted((CONFORMANCE_DIR / "real-dsl").glob("*.yml"))
SUITE = "real-dsl (validate + run with --mock-external --fill-inputs)"

# Files that do not run to completion yet: stem -> why (strict: a fix shows up as XPASS).
KNOWN_GAPS: dict[str, str] = json.loads(
    (Path(__file__).parent / "real_dsl_known_gaps.json").read_text(encoding="utf-8")
)

# A refusal is acceptable only when it names the plugin or node type we lack.
ACCEPTABLE_REFUSAL = re.compile(r"plugin|not supported|unsupported", re.IGNORECASE)


def _param(path: Path) -> Any:
    if path.stem in KNOWN_GAPS:
        mark = pytest.mark.xfail(reason=KNOWN_GAPS[path.stem], strict=True)
        return pytest.param(path, id=path.stem[:60], marks=mark)
    return pytest.param(path, id=path.stem[:60])


@pytest.mark.parametrize("path", [_param(p) for p in FILES])
async def test_real_dsl_file(
    path: Path, temporal_env: WorkflowEnvironment, conformance_queue: str
) -> None:
    plan, problems = check_app(path, mock_external=True)
    if plan is None:
        unexplained = [p for p in problems if not ACCEPTABLE_REFUSAL.search(str(p))]
        if unexplained:
            record(SUITE, path.stem, f"failed: invalid: {unexplained[0]}")
            pytest.fail("\n".join(str(p) for p in unexplained))
        record(SUITE, path.stem, f"refused: {problems[0]}")
        return
    run_input = GraphRunInput(
        plan=plan,
        inputs=fill_inputs(plan, {}, get_settings()),
        query="hello" if plan.mode == "advanced-chat" else None,
        mock_external=True,
        user="conformance",
    )
    result = await execute_graph(temporal_env.client, conformance_queue, run_input)
    if result.status not in ("succeeded", "partial-succeeded"):
        record(SUITE, path.stem, f"failed: {result.status}: {result.error}")
        pytest.fail(f"{result.status}: {result.error}")
    record(SUITE, path.stem, "passed")
