"""Template nodes compile each template once per worker, not once per execution or per run."""

from __future__ import annotations

import itertools
import uuid

from temporalio.testing import WorkflowEnvironment

from tests.graph.builders import edge, end, export, node, start
from tideflow.platform.settings import Settings
from tideflow.platform.temporal import TideflowTemporal
from tideflow.workflows.engine.models import GraphRunInput
from tideflow.workflows.graph import compile_plan, load_app
from tideflow.workflows.interpreter import GraphWorkflow
from tideflow.workflows.nodes import template_transform


def _chain_input(template: str, length: int) -> GraphRunInput:
    ids = [f"t{i}" for i in range(length)]
    nodes = [start("q")]
    for i, node_id in enumerate(ids):
        selector = [ids[i - 1], "output"] if i else ["start", "q"]
        variables = [{"variable": "x", "value_selector": selector}]
        nodes.append(node(node_id, "template-transform", template=template, variables=variables))
    nodes.append(end([ids[-1], "output"]))
    order = ["start", *ids, "end"]
    edges = [edge(a, b) for a, b in itertools.pairwise(order)]
    return GraphRunInput(plan=compile_plan(load_app(export(nodes, edges))), inputs={"q": "a"})


def test_render_reuses_the_compiled_template() -> None:
    template = f"{{{{ x }}}}-{uuid.uuid4().hex}"
    assert template_transform.render_jinja(template, {"x": 1}).startswith("1-")
    assert template_transform.compiled(template) is template_transform.compiled(template)
    assert (
        template_transform.compiled.cache_info().maxsize == template_transform.TEMPLATE_CACHE_SIZE
    )


async def test_the_cache_outlives_a_workflow_run(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    # A template no other test uses: its compilations show up as misses of this module's cache,
    # which is only the worker's cache if the workflow sandbox passes the module through.
    template = f"{{{{ x }}}}{uuid.uuid4().hex[:4]}"
    run_input = _chain_input(template, 5)
    client = temporal_env.client
    worker = TideflowTemporal(Settings()).worker(
        client, workflows=[GraphWorkflow], activities=[], task_queue=task_queue
    )
    before = template_transform.compiled.cache_info()
    async with worker:
        for _ in range(2):
            handle = await client.start_workflow(
                GraphWorkflow.run,
                run_input,
                id=f"template-cache-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
            )
            result = await handle.result()
            assert result.status == "succeeded"
    after = template_transform.compiled.cache_info()
    assert after.misses - before.misses == 1  # one compilation for 10 node executions
    assert after.hits - before.hits >= 9
