"""hit@k of every search method on a small labelled set, through the real ingestion workflow,
retrieval activity, Qdrant local mode and litellm (the fake server embeds bag-of-words vectors,
so "semantic" here measures the plumbing, not a model). The figures are printed (run with
``-s``) and recorded in bench/README.md."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.fakes.openai_server import FakeLLMServer
from tests.runtime.knowledge_support import (
    gateway_settings,
    knowledge_worker,
    make_document,
    start_ingestion,
)
from tideflow.activities.knowledge.models import RETRIEVE_WORKFLOW, RetrieveInput, RetrieveResult
from tideflow.platform.settings import Settings

pytestmark = pytest.mark.slow

# One document per topic; two questions per document, worded differently from the text.
DOCUMENTS = {
    "volcano.txt": "Volcanoes erupt when magma from the mantle rises through cracks in the crust. "
    "Lava flows, ash clouds and pyroclastic surges follow an eruption.",
    "bread.txt": "Sourdough bread rises because wild yeast and lactic bacteria ferment the dough. "
    "A starter is fed flour and water every day and bakes a sour loaf.",
    "chess.txt": "In chess the king castles with a rook; a pawn promotes on the last rank. "
    "Checkmate ends the game when the king cannot escape an attack.",
    "tides.txt": "Ocean tides follow the pull of the moon and the sun on the sea. "
    "Spring tides come at new and full moon, neap tides at the quarters.",
    "bees.txt": "Honey bees dance to tell the hive where flowers are; the waggle dance gives "
    "direction and distance to nectar. The queen lays eggs, workers gather pollen.",
    "kafka.txt": "Apache Kafka keeps messages in partitioned topics; consumers in a group "
    "share the partitions and commit offsets to track what they read.",
    "coffee.txt": "Espresso forces hot water through finely ground coffee at nine bars of "
    "pressure; crema is the foam of oils and gas on top of the shot.",
    "glacier.txt": "Glaciers are rivers of ice that carve valleys; moraines are heaps of rock "
    "left where the ice melted back.",
    "violin.txt": "A violin has four strings tuned in fifths; the bow of horsehair and rosin "
    "makes the strings vibrate over the bridge and the body resonates.",
    "rust.txt": "Rust ownership rules free memory without a garbage collector; the borrow "
    "checker refuses two mutable references to the same value.",
    "marathon.txt": "A marathon is 42.195 kilometres; runners train long slow distances and "
    "taper before the race to arrive with rested legs.",
    "tea.txt": "Green tea leaves are steamed or pan fired to stop oxidation, black tea is "
    "fully oxidised before drying; oolong sits in between.",
}
QUESTIONS = [
    ("volcano.txt", "what makes magma rise and a volcano erupt"),
    ("volcano.txt", "ash clouds and lava after an eruption"),
    ("bread.txt", "how does a sourdough starter ferment dough"),
    ("bread.txt", "feeding flour and water to wild yeast"),
    ("chess.txt", "when can a pawn promote in chess"),
    ("chess.txt", "castling the king with a rook"),
    ("tides.txt", "why do spring tides happen at full moon"),
    ("tides.txt", "moon pull on the sea"),
    ("bees.txt", "what does the waggle dance of bees tell"),
    ("bees.txt", "queen and workers in the hive"),
    ("kafka.txt", "how do consumers share partitions of a topic"),
    ("kafka.txt", "commit offsets in kafka"),
    ("coffee.txt", "pressure of an espresso shot"),
    ("coffee.txt", "what is crema on coffee"),
    ("glacier.txt", "how do glaciers carve valleys"),
    ("glacier.txt", "moraines of rock left by ice"),
    ("violin.txt", "how are violin strings tuned"),
    ("violin.txt", "rosin on a horsehair bow"),
    ("rust.txt", "borrow checker and mutable references"),
    ("rust.txt", "memory without a garbage collector"),
    ("marathon.txt", "how long is a marathon in kilometres"),
    ("marathon.txt", "taper before the race"),
    ("tea.txt", "difference between green and black tea oxidation"),
    ("tea.txt", "oolong tea leaves"),
]
METHODS = {
    "semantic": {"search_method": "semantic_search"},
    "full_text": {"search_method": "full_text_search"},
    "hybrid_rrf": {"search_method": "hybrid_search"},
    "hybrid_weighted": {
        "search_method": "hybrid_search",
        "reranking_mode": "weighted_score",
        "weights": {
            "vector_setting": {"vector_weight": 0.5},
            "keyword_setting": {"keyword_weight": 0.5},
        },
    },
    "hybrid_rerank": {
        "search_method": "hybrid_search",
        "reranking_enable": True,
        "reranking_mode": "reranking_model",
        "reranking_model": {
            "reranking_provider_name": "openai",
            "reranking_model_name": "rerank-1",
        },
    },
}


@pytest.fixture
def settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_llm: FakeLLMServer
) -> Iterator[Settings]:
    fake_llm.embedding_mode = "bow"
    fake_llm.embedding_dim = 512
    with gateway_settings(monkeypatch, tmp_path, fake_llm) as settings:
        yield settings


async def _search(
    client: Client, task_queue: str, tenant_id: str, dataset_id: str, query: str, model: dict
) -> list[str]:  # type: ignore[type-arg]
    found: RetrieveResult = await client.execute_workflow(
        RETRIEVE_WORKFLOW,
        RetrieveInput(
            tenant_id=tenant_id,
            dataset_ids=[dataset_id],
            query=query,
            retrieval_model={**model, "top_k": 3},
        ),
        id=f"q-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=RetrieveResult,
    )
    assert not found.notes, found.notes
    return [record.document_name for record in found.records]


async def test_hit_at_k_on_a_labelled_set(
    temporal_env: WorkflowEnvironment, task_queue: str, settings: Settings
) -> None:
    client = temporal_env.client
    names = iter(DOCUMENTS)
    first = make_document(settings, DOCUMENTS[next(names)].encode(), "volcano.txt")
    documents = [first] + [
        make_document(settings, DOCUMENTS[name].encode(), name, dataset_id=first.dataset_id)
        for name in names
    ]
    scores: dict[str, tuple[float, float]] = {}
    async with knowledge_worker(client, settings, task_queue):
        handles = [await start_ingestion(client, task_queue, d) for d in documents]
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 120)
        assert set(results) == {"completed"}
        for method, model in METHODS.items():
            hits1 = hits3 = 0
            for expected, question in QUESTIONS:
                ranked = await _search(
                    client, task_queue, first.tenant_id, first.dataset_id, question, model
                )
                hits1 += ranked[:1] == [expected]
                hits3 += expected in ranked[:3]
            scores[method] = (hits1 / len(QUESTIONS), hits3 / len(QUESTIONS))
    print(f"\nhit@k over {len(QUESTIONS)} questions, {len(DOCUMENTS)} documents:")
    for method, (at1, at3) in scores.items():
        print(f"  {method:16} hit@1 {at1:.2f}  hit@3 {at3:.2f}")
    for method, (at1, at3) in scores.items():
        assert at3 >= 0.9, (method, scores)
        assert at1 >= 0.75, (method, scores)
