"""embed_texts and rerank through real litellm against the fake OpenAI-compatible server, and a
labelled retrieval check: bag-of-words embeddings into the real vector store."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import pytest
from litellm import exceptions as llm_errors
from qdrant_client import QdrantClient

from tests.fakes.openai_server import FakeLLMServer, rate_limited, unauthorized
from tideflow.activities.knowledge.qdrant import VectorStore
from tideflow.activities.knowledge.vector_store import IndexPoint
from tideflow.activities.llm.embedding import embed_texts, rerank, rerank_model
from tideflow.plugins.model_providers import gateway_call_args

DATASET = "5d2c7a10-3b4e-4f6a-8c9d-0e1f2a3b4c5d"

# A tiny labelled corpus: each query's answer is the chunk of the same key.
CORPUS = {
    "tides": "Tides rise and fall twice a day as the moon pulls the ocean",
    "bread": "Knead the dough and let the bread rise before baking it in the oven",
    "bikes": "Pump the tyres and oil the chain to keep a bicycle running",
    "stars": "Stars burn hydrogen into helium for billions of years",
    "taxes": "File your tax return before April and keep receipts",
}
QUERIES = {
    "tides": "why does the ocean have tides",
    "bread": "how long should bread dough rise",
    "bikes": "my bicycle chain needs oil",
    "stars": "what do stars burn",
    "taxes": "tax return deadline",
}


def args(fake_llm: FakeLLMServer) -> dict[str, str]:
    return {"api_base": fake_llm.base_url, "api_key": "sk-test"}


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.hypot(*a) / math.hypot(*b)


async def test_embed_texts_in_order_with_tokens(fake_llm: FakeLLMServer) -> None:
    texts = ["alpha beta", "", "gamma", "alpha beta"]
    vectors, tokens = await embed_texts("openai/text-embedding-3-small", args(fake_llm), texts)
    assert len(vectors) == 4
    assert all(len(v) == fake_llm.embedding_dim for v in vectors)
    assert vectors[0] == vectors[3] != vectors[2]
    assert tokens == 5  # the server's count: words of every text
    assert fake_llm.embedded_texts == 4
    sent = fake_llm.requests[-1].json
    assert sent["input"] == ["alpha beta", " ", "gamma", "alpha beta"]
    assert sent["model"] == "text-embedding-3-small"
    assert await embed_texts("openai/x", args(fake_llm), []) == ([], 0)
    assert fake_llm.calls["/v1/embeddings"] == 1


async def test_bag_of_words_mode_and_reset(fake_llm: FakeLLMServer) -> None:
    fake_llm.embedding_mode = "bow"
    fake_llm.embedding_dim = 64
    texts = ["the red fox", "a red fox runs", "quantum physics lecture"]
    vectors, _ = await embed_texts("openai/emb", args(fake_llm), texts)
    assert cosine(vectors[0], vectors[1]) > 0.5 > cosine(vectors[0], vectors[2])
    assert math.isclose(math.hypot(*vectors[0]), 1.0)
    fake_llm.reset()
    assert fake_llm.embedding_mode == "hash"
    assert fake_llm.embedding_dim == 8


async def test_labelled_hits_at_1(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.embedding_mode = "bow"
    fake_llm.embedding_dim = 256
    keys = list(CORPUS)
    vectors, _ = await embed_texts("openai/emb", args(fake_llm), [CORPUS[k] for k in keys])
    client = QdrantClient(path=str(tmp_path / "q"))
    try:
        store = VectorStore(client)
        store.upsert(
            DATASET,
            [
                IndexPoint(str(uuid.uuid4()), CORPUS[k], v, {"document_id": k, "segment_id": k})
                for k, v in zip(keys, vectors, strict=True)
            ],
        )
        query_vectors, _ = await embed_texts("openai/emb", args(fake_llm), list(QUERIES.values()))
        for key, vector in zip(QUERIES, query_vectors, strict=True):
            hits = store.search_dense(DATASET, vector, 1)
            assert hits[0].payload["segment_id"] == key, QUERIES[key]
    finally:
        client.close()


async def test_rerank_best_first(fake_llm: FakeLLMServer) -> None:
    documents = ["a cat sat", "the dog and the cat", "fish swim", "dog"]
    ranked = await rerank("openai/bge-reranker", args(fake_llm), "cat dog", documents, None)
    # Overlap with {cat, dog}: 1.0, then 0.5 twice (document order), then 0.0.
    assert ranked == [(1, 1.0), (0, 0.5), (3, 0.5), (2, 0.0)]
    top = await rerank("openai/bge-reranker", args(fake_llm), "cat dog", documents, 2)
    assert top == [(1, 1.0), (0, 0.5)]
    assert fake_llm.rerank_calls == 2
    assert fake_llm.reranked_documents == 8
    request = fake_llm.requests[-1]
    assert request.path == "/v1/rerank"
    assert request.json["query"] == "cat dog"
    assert request.json["top_n"] == 2
    assert request.headers["authorization"] == "Bearer sk-test"
    assert await rerank("openai/bge-reranker", args(fake_llm), "q", [], 3) == []
    assert fake_llm.rerank_calls == 2
    with pytest.raises(ValueError, match="top_n"):
        await rerank("openai/bge-reranker", args(fake_llm), "q", documents, 0)


async def test_rerank_through_a_gateway(fake_llm: FakeLLMServer) -> None:
    model, kwargs = gateway_call_args(fake_llm.base_url, None, "jina-reranker-v2")
    ranked = await rerank(model, kwargs, "solar panels", ["wind", "solar panels on roofs"], 1)
    assert ranked == [(1, 1.0)]
    assert fake_llm.requests[-1].json["model"] == "jina-reranker-v2"


def test_rerank_routes() -> None:
    assert rerank_model("openai/bge") == "hosted_vllm/bge"
    assert rerank_model("cohere_chat/rerank-v3.5") == "cohere/rerank-v3.5"
    assert rerank_model("bedrock/amazon.rerank-v1:0") == "bedrock/amazon.rerank-v1:0"


async def test_errors_pass_through(fake_llm: FakeLLMServer) -> None:
    fake_llm.fail(unauthorized())
    with pytest.raises(llm_errors.AuthenticationError):
        await embed_texts("openai/emb", args(fake_llm), ["x"])
    fake_llm.fail(rate_limited(), times=1)
    with pytest.raises(llm_errors.RateLimitError):
        await rerank("openai/rr", args(fake_llm), "q", ["d"], None)
    # No retries by litellm: one request per call.
    assert fake_llm.calls["/v1/embeddings"] == 1
    assert fake_llm.calls["/v1/rerank"] == 1
