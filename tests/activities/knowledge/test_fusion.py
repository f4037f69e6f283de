"""Fusion of dense and full-text hits, and the threshold / top-k cut."""

from __future__ import annotations

import pytest

from tideflow.activities.knowledge.fusion import fuse_rrf, fuse_weighted, threshold_top_k
from tideflow.activities.knowledge.vector_store import Hit


def hit(id_: str, score: float, source: str = "") -> Hit:
    return Hit(id=id_, score=score, payload={"from": source})


def scores(hits: list[Hit]) -> list[tuple[str, float]]:
    return [(h.id, round(h.score, 6)) for h in hits]


def test_weighted_normalises_full_text_by_its_best_score() -> None:
    dense = [hit("a", 0.9, "dense"), hit("b", 0.5, "dense")]
    text = [hit("b", 8.0, "text"), hit("c", 4.0, "text")]
    fused = fuse_weighted(dense, text, vector_weight=0.7, keyword_weight=0.3)
    # b: 0.7*0.5 + 0.3*8/8 = 0.65; a: 0.7*0.9 = 0.63; c: 0.3*4/8 = 0.15
    assert scores(fused) == [("b", 0.65), ("a", 0.63), ("c", 0.15)]
    assert fused[0].payload == {"from": "dense"}  # the dense hit's payload wins
    assert fused[2].payload == {"from": "text"}


def test_weighted_edge_cases() -> None:
    dense = [hit("a", 0.8), hit("b", 0.4)]
    assert scores(fuse_weighted(dense, [], 1.0, 0.0)) == [("a", 0.8), ("b", 0.4)]
    text = [hit("x", 2.0), hit("y", 1.0)]
    assert scores(fuse_weighted([], text, 0.3, 0.7)) == [("x", 0.7), ("y", 0.35)]
    assert fuse_weighted([], [], 0.5, 0.5) == []
    # Full text scoring zero everywhere adds nothing (no division by zero).
    assert scores(fuse_weighted([hit("a", 0.5)], [hit("a", 0.0)], 1.0, 1.0)) == [("a", 0.5)]
    with pytest.raises(ValueError, match="keyword_weight"):
        fuse_weighted(dense, text, 0.5, -0.1)
    with pytest.raises(ValueError, match="vector_weight"):
        fuse_weighted(dense, text, -1, 0.5)


def test_weighted_ties_keep_first_seen_order() -> None:
    dense = [hit("a", 0.5), hit("b", 0.5)]
    text = [hit("c", 1.0), hit("d", 1.0)]
    fused = fuse_weighted(dense, text, 1.0, 0.5)
    assert [h.id for h in fused] == ["a", "b", "c", "d"]


def test_rrf() -> None:
    dense = [hit("a", 0.9), hit("b", 0.8), hit("c", 0.1)]
    text = [hit("c", 12.0), hit("a", 3.0)]
    fused = fuse_rrf([dense, text], k=60)
    expected = {
        "a": 1 / 61 + 1 / 62,
        "c": 1 / 63 + 1 / 61,
        "b": 1 / 62,
    }
    assert [h.id for h in fused] == ["a", "c", "b"]
    assert {h.id: h.score for h in fused} == pytest.approx(expected)
    # A list naming a point twice counts its better rank; k changes the weights.
    assert scores(fuse_rrf([[hit("a", 1), hit("a", 0.5)]], k=0)) == [("a", 1.0)]
    assert fuse_rrf([]) == []
    with pytest.raises(ValueError, match="k: expected"):
        fuse_rrf([dense], k=-1)


def test_rrf_ties_keep_first_seen_order() -> None:
    fused = fuse_rrf([[hit("a", 1)], [hit("b", 1)]])
    assert [h.id for h in fused] == ["a", "b"]
    assert fused[0].score == fused[1].score


def test_threshold_top_k() -> None:
    hits = [hit("a", 0.9), hit("b", 0.5), hit("c", 0.5), hit("d", 0.2)]
    assert [h.id for h in threshold_top_k(hits, 10, None)] == ["a", "b", "c", "d"]
    assert [h.id for h in threshold_top_k(hits, 2, None)] == ["a", "b"]
    # A score equal to the threshold is kept.
    assert [h.id for h in threshold_top_k(hits, 10, 0.5)] == ["a", "b", "c"]
    assert threshold_top_k(hits, 10, 0.95) == []
    assert threshold_top_k(hits, 0, None) == []
    # Unsorted input comes back best first.
    assert [h.id for h in threshold_top_k(list(reversed(hits)), 2, 0.0)] == ["a", "c"]
    with pytest.raises(ValueError, match="top_k"):
        threshold_top_k(hits, -1, None)
