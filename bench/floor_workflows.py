"""Hand-written Temporal workflows: the floors ``api_load.py`` and ``activity_floor.py``
compare Tideflow's graph runs with.

They call the real ``run_code`` activity (the sandbox) with the retry policy, timeouts and
heartbeat a code node without ``retry_config`` gets from ``GraphWorkflow``
(``tideflow.workflows.interpreter.call_activity``: fixed 1 s interval, 10 attempts for attempts
lost with a worker, 70 s start-to-close, 10 s heartbeat), so the only difference left is the
graph interpreter and, for the API path, the API itself.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

POLICY = RetryPolicy(
    maximum_attempts=10,
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=1.0,
    maximum_interval=timedelta(seconds=1),
)
DOUBLE = 'def main(word: str) -> dict:\n    return {"twice": word + word}\n'
APPEND = 'def main(text: str) -> dict:\n    return {"text": text + "x"}\n'


async def _code(node_id: str, code: str, inputs: dict[str, Any], output: str) -> Any:
    request = {
        "node_id": node_id,
        "language": "python3",
        "code": code,
        "inputs": inputs,
        "outputs": {output: {"type": "string", "children": None}},
        "max_attempts": 1,
    }
    result: dict[str, Any] = await workflow.execute_activity(
        "run_code",
        request,
        result_type=dict[str, Any],
        start_to_close_timeout=timedelta(seconds=70),
        heartbeat_timeout=timedelta(seconds=10),
        retry_policy=POLICY,
    )
    return result["outputs"][output]


@workflow.defn(name="FloorFiveNodes")
class FloorFiveNodes:
    """start -> template -> code -> template -> end, by hand (``bench/apps/five_node.yml``)."""

    @workflow.run
    async def run(self, word: str) -> dict[str, Any]:
        """The two templates inline, the code step as the ``run_code`` activity."""
        trimmed = word.strip()
        twice = await _code("code", DOUBLE, {"word": trimmed}, "twice")
        return {"loud": str(twice).upper()}


@workflow.defn(name="FloorCodeChain")
class FloorCodeChain:
    """``count`` code steps in a row, each appending "x" (``activity_floor.py``)."""

    @workflow.run
    async def run(self, count: int) -> dict[str, Any]:
        """One ``run_code`` activity per step, one after another."""
        text = ""
        for index in range(count):
            text = await _code(f"c{index}", APPEND, {"text": text}, "text")
        return {"text": text}
