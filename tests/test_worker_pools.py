"""``tideflow worker --pool``: which workers a selection plans, and the selections refused
(exit 2, naming the setting or the pool) before anything connects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tideflow.platform.settings import Settings
from tideflow.platform.task_queues import activity_queues
from tideflow.worker import registered_activities, registered_workflows
from tideflow.worker_pools import PoolError, activity_name, parse_pools, queue_workers


def _worker_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "tideflow.cli", "worker", *args]


def test_pool_names_parse_from_repeats_and_comma_lists() -> None:
    assert parse_pools(None) == ("main", "llm", "code", "ingestion")
    assert parse_pools(["llm, code", "llm", "ingestion"]) == ("llm", "code", "ingestion")
    with pytest.raises(PoolError, match="unknown pool 'gpu'"):
        parse_pools(["gpu"])


def test_pool_queues_follow_the_settings(tmp_path: Path) -> None:
    shared = Settings(data_dir=tmp_path, task_queue="m", llm_task_queue="x", code_task_queue="x")
    assert activity_queues(shared) == {"llm": "x", "code": "x"}
    workflows, activities = registered_workflows(), registered_activities()
    # Two pools on one queue: its worker runs both pools' activities, whichever was asked for.
    [planned] = queue_workers(shared, ["llm"], workflows, activities)
    assert planned.task_queue == "x" and planned.workflows == []
    assert {activity_name(fn) for fn in planned.activities} == {
        "llm_invoke",
        "check_model_credentials",
        "run_code",
    }
    # A queue equal to the main one is no queue of its own.
    same = Settings(data_dir=tmp_path, task_queue="m", llm_task_queue="m")
    assert activity_queues(same) == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pool", "llm"], "TIDEFLOW_LLM_TASK_QUEUE is not set"),
        (["--pool", "main,gpu"], "unknown pool 'gpu'"),
    ],
)
def test_worker_refuses_pools_it_cannot_serve(
    tmp_path: Path, args: list[str], message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEFLOW_")}
    env["TIDEFLOW_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        _worker_argv(*args), env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_every_pool_with_its_own_queue_gets_a_worker(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        task_queue="m",
        llm_task_queue="l",
        code_task_queue="c",
        ingestion_task_queue="i",
    )
    workflows, activities = registered_workflows(), registered_activities()
    planned = {
        w.task_queue: w for w in queue_workers(settings, parse_pools(None), workflows, activities)
    }
    assert set(planned) == {"m", "l", "c", "i"}
    # The main worker keeps every activity: runs started without routing still finish there.
    assert planned["m"].workflows == workflows and planned["m"].activities == list(activities)
    assert [activity_name(fn) for fn in planned["c"].activities] == ["run_code"]
    assert {activity_name(fn) for fn in planned["i"].activities} == {
        "parse_dataset_document",
        "split_dataset_document",
        "index_dataset_document",
    }
