"""The test servers start from the venv's binaries and run a workflow end to end."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment

from tideflow.platform.settings import Settings
from tideflow.platform.temporal import TideflowTemporal


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn(sandboxed=True)
class ShoutThenSleep:
    @workflow.run
    async def run(self, text: str) -> str:
        loud = await workflow.execute_activity(
            shout, text, start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.sleep(timedelta(days=3))
        return loud


async def test_dev_server_runs_workflow_with_activity(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    tf = TideflowTemporal(Settings())
    async with tf.worker(
        temporal_env.client, workflows=[ShoutThenSleep], activities=[shout], task_queue=task_queue
    ):
        handle = await temporal_env.client.start_workflow(
            ShoutThenSleep.run, "hi", id=f"wf-{task_queue}", task_queue=task_queue
        )
        desc = await handle.describe()
        assert desc.status is not None
        await handle.terminate("3-day timer is for the time-skipping test")


async def test_time_skipping_server_skips_three_days(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    tf = TideflowTemporal(Settings())
    async with tf.worker(
        time_skipping_env.client,
        workflows=[ShoutThenSleep],
        activities=[shout],
        task_queue=task_queue,
    ):
        result = await time_skipping_env.client.execute_workflow(
            ShoutThenSleep.run, "hi", id=f"wf-{task_queue}", task_queue=task_queue
        )
    assert result == "HI"
