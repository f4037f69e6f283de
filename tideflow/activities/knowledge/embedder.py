"""A dataset's embedding model as one callable: route it once, then embed batches of texts.

The provider ``local`` embeds in this process with sentence-transformers (``local_embedding``);
every other provider goes through litellm, imported lazily (``litellm_loaded``): the worker
starts polling before it loads. Failures become ApplicationErrors typed as the LLM node's are
(rate limits wait as asked, bad credentials and bad requests are not retried).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from tideflow.activities.knowledge.local_embedding import LocalEmbedder, is_local_provider
from tideflow.activities.llm.activity import litellm_loaded
from tideflow.activities.llm.route import model_route
from tideflow.platform.settings import Settings


class Embedder(Protocol):
    """Embeds texts with one provider's model: what ingestion and retrieval call."""

    @property
    def provider(self) -> str:
        """The provider as the dataset names it."""
        ...

    @property
    def model(self) -> str:
        """The model as the dataset names it."""
        ...

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Vectors in input order, and the tokens used."""
        ...


@dataclasses.dataclass
class LitellmEmbedder:
    """Embeds texts with one provider's model through litellm, for one tenant."""

    provider: str
    model: str
    litellm_model: str
    kwargs: dict[str, Any]

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Vectors in input order, and the tokens used."""
        from tideflow.activities.llm.embedding import embed_texts
        from tideflow.activities.llm.errors import model_error

        try:
            return await embed_texts(self.litellm_model, self.kwargs, texts)
        except Exception as exc:
            raise model_error(exc, self.provider, self.model) from None


async def open_embedder(settings: Settings, tenant_id: str, provider: str, model: str) -> Embedder:
    """The embedder of ``provider``/``model``: in this process for ``local``, else with the
    tenant's credentials (or the gateway)."""
    if is_local_provider(provider):
        return LocalEmbedder(provider, model)
    await litellm_loaded()
    litellm_model, kwargs = await model_route(
        settings, tenant_id, provider, model, "text-embedding"
    )
    kwargs = {**kwargs, "timeout": settings.llm_timeout_s}
    return LitellmEmbedder(provider, model, litellm_model, kwargs)


async def rerank_texts(
    settings: Settings,
    tenant_id: str,
    provider: str,
    model: str,
    query: str,
    documents: list[str],
    top_n: int | None,
) -> list[tuple[int, float]]:
    """(index, relevance) of ``documents`` for ``query``, best first, by a rerank model."""
    await litellm_loaded()
    from tideflow.activities.llm.embedding import rerank
    from tideflow.activities.llm.errors import model_error

    litellm_model, kwargs = await model_route(settings, tenant_id, provider, model, "rerank")
    try:
        return await rerank(litellm_model, kwargs, query, documents, top_n)
    except Exception as exc:
        raise model_error(exc, provider, model) from None
