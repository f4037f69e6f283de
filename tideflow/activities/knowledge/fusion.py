"""Combining and cutting ranked search hits (hybrid search without a rerank model).

Pure functions over ``Hit``s; a hit is known by its id. Results are best first, and hits of
equal score keep the order in which they were first seen.
"""

from __future__ import annotations

from collections.abc import Sequence

from tideflow.activities.knowledge.vector_store import Hit


def fuse_weighted(
    dense: list[Hit], text: list[Hit], vector_weight: float, keyword_weight: float
) -> list[Hit]:
    """Dify's weighted score: ``vector_weight * similarity + keyword_weight * keyword score``.

    The similarity is the dense hit's cosine score, as is. BM25 scores have no upper bound, so
    the keyword score is the full-text score divided by the best full-text score of this
    search (the best keyword match gets 1); a hit missing from one list scores 0 there. The
    payload is the dense hit's when both lists hold the point.
    """
    if vector_weight < 0:
        raise ValueError(f"vector_weight: expected 0 or more, got {vector_weight}")
    if keyword_weight < 0:
        raise ValueError(f"keyword_weight: expected 0 or more, got {keyword_weight}")
    top_text = max((hit.score for hit in text), default=0.0)
    scale = 1.0 / top_text if top_text > 0 else 0.0
    scores: dict[str, float] = {}
    firsts: dict[str, Hit] = {}
    for hits, weight, factor in ((dense, vector_weight, 1.0), (text, keyword_weight, scale)):
        seen: set[str] = set()
        for hit in hits:
            if hit.id in seen:  # a list naming a point twice counts it once
                continue
            seen.add(hit.id)
            firsts.setdefault(hit.id, hit)
            scores[hit.id] = scores.get(hit.id, 0.0) + weight * hit.score * factor
    return _ranked(firsts, scores)


def fuse_rrf(ranked: Sequence[list[Hit]], k: int = 60) -> list[Hit]:
    """Reciprocal rank fusion: a hit scores ``sum(1 / (k + rank))`` over the lists holding it
    (rank from 1; a list naming a point twice counts its better rank)."""
    if k < 0:
        raise ValueError(f"k: expected 0 or more, got {k}")
    scores: dict[str, float] = {}
    firsts: dict[str, Hit] = {}
    for hits in ranked:
        seen: set[str] = set()
        for rank, hit in enumerate(hits, start=1):
            if hit.id in seen:
                continue
            seen.add(hit.id)
            firsts.setdefault(hit.id, hit)
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (k + rank)
    return _ranked(firsts, scores)


def threshold_top_k(hits: list[Hit], top_k: int, score_threshold: float | None) -> list[Hit]:
    """The best ``top_k`` hits scoring at least ``score_threshold`` (None: any score), as
    Dify keeps a hit whose score equals the threshold."""
    if top_k < 0:
        raise ValueError(f"top_k: expected 0 or more, got {top_k}")
    kept = [hit for hit in hits if score_threshold is None or hit.score >= score_threshold]
    return sorted(kept, key=lambda hit: -hit.score)[:top_k]


def _ranked(firsts: dict[str, Hit], scores: dict[str, float]) -> list[Hit]:
    """Hits with their new scores, best first; ``sorted`` is stable, so ties stay in order."""
    hits = [Hit(id=id_, score=scores[id_], payload=hit.payload) for id_, hit in firsts.items()]
    return sorted(hits, key=lambda hit: -hit.score)
