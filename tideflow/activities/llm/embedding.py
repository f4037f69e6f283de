"""Embedding and rerank calls through litellm, for knowledge bases.

``model`` and ``kwargs`` are what ``litellm_call_args`` or ``gateway_call_args`` return. As for
completions, litellm's own retries are off: Temporal's retry policy decides. litellm's errors
pass through (``tideflow.activities.llm.errors.model_error`` maps them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import litellm

from tideflow.activities.llm.client import count_tokens

# Typed view of a litellm function whose signature pyright cannot fully resolve.
_arerank = cast(Callable[..., Awaitable[Any]], getattr(litellm, "arerank"))  # noqa: B009

# Chat prefixes whose rerank litellm serves under another provider name. OpenAI has no rerank
# API, so an OpenAI-compatible server (vLLM, Xinference, SiliconFlow, Jina, a litellm gateway)
# is asked the way vLLM is: POST {api_base}/rerank, Cohere's request and answer shape.
_RERANK_ROUTES = {"openai": "hosted_vllm", "cohere_chat": "cohere"}

# OpenAI refuses an empty input string; a space embeds as (nearly) nothing.
_EMPTY_TEXT = " "


async def embed_texts(
    model: str, kwargs: dict[str, Any], texts: list[str]
) -> tuple[list[list[float]], int]:
    """One vector per text, in the order given, and the prompt tokens the call used (the
    provider's count, else litellm's). Empty texts are sent as a space."""
    if not texts:
        return [], 0
    inputs = [text if text.strip() else _EMPTY_TEXT for text in texts]
    response: Any = await litellm.aembedding(
        model=model, input=inputs, num_retries=0, max_retries=0, **kwargs
    )
    items: list[Any] = list(response.data or [])
    if len(items) != len(texts):
        raise ValueError(f"{model}: {len(items)} embeddings for {len(texts)} texts")
    by_index = sorted(enumerate(items), key=lambda pair: int(_field(pair[1], "index", pair[0])))
    vectors = [[float(v) for v in _field(item, "embedding", [])] for _, item in by_index]
    return vectors, _prompt_tokens(model, response, inputs)


async def rerank(
    model: str,
    kwargs: dict[str, Any],
    query: str,
    documents: list[str],
    top_n: int | None,
) -> list[tuple[int, float]]:
    """(document index, relevance score) of the ``top_n`` most relevant documents (None:
    all), best first; ties keep the documents' order."""
    if top_n is not None and top_n < 1:
        raise ValueError(f"top_n: expected at least 1, got {top_n}")
    if not documents:
        return []
    response: Any = await _arerank(
        model=rerank_model(model),
        query=query,
        documents=documents,
        top_n=top_n,
        return_documents=False,
        num_retries=0,
        max_retries=0,
        **kwargs,
    )
    results: list[Any] = list(_field(response, "results", None) or [])
    scored = [
        (int(_field(r, "index", 0)), float(_field(r, "relevance_score", 0.0))) for r in results
    ]
    scored.sort(key=lambda pair: (-pair[1], pair[0]))
    return scored[:top_n] if top_n is not None else scored


def rerank_model(model: str) -> str:
    """The litellm model string that reranks with ``model`` (see ``_RERANK_ROUTES``)."""
    prefix, sep, name = model.partition("/")
    route = _RERANK_ROUTES.get(prefix)
    return f"{route}/{name}" if sep and route else model


def _field(item: Any, name: str, default: Any) -> Any:
    """A field of a litellm response part, which may be an object or a dict."""
    if isinstance(item, dict):
        return cast(dict[str, Any], item).get(name, default)
    return getattr(item, name, default)


def _prompt_tokens(model: str, response: Any, inputs: list[str]) -> int:
    usage = getattr(response, "usage", None)
    for name in ("prompt_tokens", "total_tokens"):
        value = _field(usage, name, None) if usage is not None else None
        if value:
            return int(value)
    return sum(count_tokens(model, text=text) for text in inputs)
