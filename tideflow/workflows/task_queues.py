"""Which worker pool runs each activity, and on which task queue (pure: workflow code uses it).

Four pools: ``main`` (the workflows and every activity not named below), ``llm`` (model calls),
``code`` (code-node sandboxes) and ``ingestion`` (parsing, splitting, embedding and indexing
knowledge-base documents). A pool with a queue of its own lets its workers be scaled apart.

Workflow code cannot read settings, so a run carries its routing in its input
(``activity_queues``: pool name -> task queue, filled by whoever starts it from
``TIDEFLOW_*_TASK_QUEUE``). An empty mapping schedules every activity on the workflow's own
queue: the behaviour, and the histories, of a deployment without pools.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from tideflow.activities.knowledge.models import INDEX_ACTIVITY, PARSE_ACTIVITY, SPLIT_ACTIVITY
from tideflow.activities.llm.models import CHECK_CREDENTIALS_ACTIVITY, LLM_ACTIVITY

Pool = Literal["main", "llm", "code", "ingestion"]
POOLS: Final[tuple[Pool, ...]] = ("main", "llm", "code", "ingestion")
# The code node's activity (tideflow.workflows.nodes.code.ACTIVITY; named here to keep this
# module free of the node registry).
CODE_ACTIVITY: Final = "run_code"

# Activities outside the main pool. The agent, question-classifier and parameter-extractor
# nodes call the model through llm_invoke too, so their model steps go to the llm pool.
ACTIVITY_POOLS: Final[Mapping[str, Pool]] = {
    LLM_ACTIVITY: "llm",
    CHECK_CREDENTIALS_ACTIVITY: "llm",
    CODE_ACTIVITY: "code",
    PARSE_ACTIVITY: "ingestion",
    SPLIT_ACTIVITY: "ingestion",
    INDEX_ACTIVITY: "ingestion",
}


def pool_of(activity_name: str) -> Pool:
    """The pool that runs ``activity_name`` (``main`` for any activity not listed)."""
    return ACTIVITY_POOLS.get(activity_name, "main")


def activity_queue(activity_name: str, queues: Mapping[str, str]) -> str | None:
    """The task queue to schedule ``activity_name`` on under the run's routing ``queues``;
    None: the workflow's own queue (its pool has no queue of its own)."""
    return queues.get(pool_of(activity_name)) or None
