"""Dify's cleaning rules, process-rule resolution and chunking (general and parent-child)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tideflow.activities.knowledge import chunk
from tideflow.activities.knowledge.chunk import (
    Chunk,
    ProcessRule,
    ProcessRuleError,
    Segmentation,
    count_tokens,
    resolve_process_rule,
    split_text,
)
from tideflow.activities.knowledge.clean import clean_text

EXTRA_SPACES = [{"id": "remove_extra_spaces", "enabled": True}]
URLS_EMAILS = [{"id": "remove_urls_emails", "enabled": True}]


def _custom(separator: str, max_tokens: Any, overlap: int = 0, **rules: Any) -> dict[str, Any]:
    segmentation = {"separator": separator, "max_tokens": max_tokens, "chunk_overlap": overlap}
    return {"mode": "custom", "rules": {"segmentation": segmentation, **rules}}


def _sentences(count: int) -> list[str]:
    return [f"Sentence number {i} tells of tides and harbours. " for i in range(count)]


# --- cleaning -------------------------------------------------------------------------------


def test_invalid_symbols_always_go() -> None:
    text = "a<|b|>c\x00\x08\x0b\x0c\x0e\x1f\x7fd\ufffee\tf\ng\r\nh ï¿¾"
    assert clean_text(text, []) == "a<b>cde\tf\ng\r\nh ï¿¾"


def test_remove_extra_spaces() -> None:
    text = "one\n\n\n\ntwo\n\nthree\nfour  five\t\t six\u3000\u3000seven\u00a0eight"
    assert clean_text(text, EXTRA_SPACES) == "one\n\ntwo\n\nthree\nfour five six seven\u00a0eight"
    disabled = [{"id": "remove_extra_spaces", "enabled": False}]
    assert clean_text(text, disabled) == text


def test_remove_urls_emails_keeps_markdown_images_and_links() -> None:
    text = (
        "Write to bob.smith+kb@example.co.uk or see https://example.com/a?b=1 and "
        "http://x.org/y).\n![a chart](https://img.example.com/c.png) and "
        "[the docs](https://docs.example.com/start) stay."
    )
    assert clean_text(text, URLS_EMAILS) == (
        "Write to  or see  and ).\n![a chart](https://img.example.com/c.png) and "
        "[the docs](https://docs.example.com/start) stay."
    )


def test_remove_stopwords_is_accepted_and_ignored() -> None:
    text = "the cat and the hat"
    assert clean_text(text, [{"id": "remove_stopwords", "enabled": True}]) == text


# --- process rules --------------------------------------------------------------------------


def test_automatic_defaults() -> None:
    rule = resolve_process_rule(None, "text_model")
    assert rule == resolve_process_rule({"mode": "automatic", "rules": {"x": 1}}, "text_model")
    assert rule.mode == "automatic"
    assert rule.segmentation == Segmentation("\n", 500, 50)
    assert rule.pre_processing_rules == [
        {"id": "remove_extra_spaces", "enabled": True},
        {"id": "remove_urls_emails", "enabled": False},
    ]
    assert rule.subchunk is None


def test_hierarchical_defaults() -> None:
    rule = resolve_process_rule({"mode": "automatic"}, "hierarchical_model")
    assert (rule.mode, rule.parent_mode) == ("hierarchical", "paragraph")
    assert rule.segmentation == Segmentation("\n\n", 1024, 0)
    assert rule.subchunk == Segmentation("\n", 512, 0)


def test_custom_rule_with_escaped_separator() -> None:
    rule = resolve_process_rule(
        _custom("\\n\\n", 300, 30, pre_processing_rules=URLS_EMAILS), "text_model"
    )
    assert rule == ProcessRule("custom", URLS_EMAILS, Segmentation("\n\n", 300, 30))
    assert resolve_process_rule(rule.to_dict(), "text_model") == rule
    assert resolve_process_rule(_custom("\\t|\\\\", 50), "qa_model").segmentation.separator == (
        "\t|\\"
    )


def test_hierarchical_rule_and_full_doc() -> None:
    rules: dict[str, Any] = {
        "pre_processing_rules": EXTRA_SPACES + URLS_EMAILS,
        "segmentation": {"separator": "\\n\\n", "max_tokens": 800},
        "parent_mode": "paragraph",
        "subchunk_segmentation": {"separator": "\\n", "max_tokens": 100, "chunk_overlap": 10},
    }
    rule = resolve_process_rule({"mode": "hierarchical", "rules": rules}, "hierarchical_model")
    assert rule.segmentation == Segmentation("\n\n", 800, 0)
    assert rule.subchunk == Segmentation("\n", 100, 10)
    assert resolve_process_rule(rule.to_dict(), "hierarchical_model") == rule
    full = {**rules, "parent_mode": "full-doc", "segmentation": None}
    rule = resolve_process_rule({"mode": "hierarchical", "rules": full}, "hierarchical_model")
    assert rule.parent_mode == "full-doc"
    assert rule.pre_processing_rules == EXTRA_SPACES  # Dify ignores the URL rule in full-doc


@pytest.mark.parametrize(
    ("process_rule", "doc_form", "message"),
    [
        (_custom("\n", 49), "text_model", "segmentation.max_tokens: must be between 50 and 4000"),
        (_custom("\n", 4001), "text_model", "segmentation.max_tokens: must be between 50 and 4000"),
        (_custom("\n", True), "text_model", "segmentation.max_tokens: required, an integer"),
        (_custom("\n", "500"), "text_model", "segmentation.max_tokens: required, an integer"),
        (_custom("\n", 100, 100), "text_model", "chunk_overlap: must be less than max_tokens"),
        (_custom("\n", 100, -1), "text_model", "segmentation.chunk_overlap: must be an integer"),
        (_custom("", 100), "text_model", "segmentation.separator: must be a non-empty string"),
        ({"mode": "custom"}, "text_model", "process_rule.rules: required"),
        ({"mode": "manual"}, "text_model", "process_rule.mode: must be one of automatic"),
        ({"rules": {"segmentation": {}}}, "text_model", "process_rule.mode: required"),
        ("custom", "text_model", "process_rule: must be an object"),
        (None, "paragraph_model", "doc_form: must be one of text_model"),
        (
            _custom("\n", 100, pre_processing_rules=[{"id": "remove_all", "enabled": True}]),
            "text_model",
            "pre_processing_rules[0].id: must be one of",
        ),
        (
            _custom("\n", 100, pre_processing_rules=[{"id": "remove_stopwords", "enabled": 1}]),
            "text_model",
            "pre_processing_rules[0].enabled: must be true or false",
        ),
        (
            {"mode": "hierarchical", "rules": {"segmentation": {"max_tokens": 500}}},
            "hierarchical_model",
            "process_rule.rules.subchunk_segmentation: required",
        ),
        (
            {"mode": "hierarchical", "rules": {"parent_mode": "chapter"}},
            "hierarchical_model",
            "process_rule.rules.parent_mode: must be paragraph or full-doc",
        ),
    ],
)
def test_bad_rules_name_the_field(process_rule: Any, doc_form: str, message: str) -> None:
    with pytest.raises(ProcessRuleError) as err:
        resolve_process_rule(process_rule, doc_form)
    assert message in str(err.value)
    assert str(err.value).startswith(("process_rule", "doc_form"))


def test_max_tokens_bound_is_exact_and_configurable() -> None:
    with pytest.raises(ProcessRuleError) as err:
        resolve_process_rule(_custom("\n", 10), "text_model")
    assert str(err.value) == (
        "process_rule.rules.segmentation.max_tokens: must be between 50 and 4000"
    )
    rule = resolve_process_rule(_custom("\n", 6000), "text_model", max_tokens_limit=8000)
    assert rule.segmentation.max_tokens == 6000


# --- chunking -------------------------------------------------------------------------------


def test_count_tokens_uses_cl100k_offline() -> None:
    assert chunk._encoder() is not None  # pyright: ignore[reportPrivateUsage]
    assert count_tokens("hello world") == 2
    assert count_tokens("<|endoftext|>") > 1  # special tokens are plain text here


def test_separator_is_removed_and_empty_chunks_dropped() -> None:
    rule = resolve_process_rule(_custom("***", 100), "text_model")
    chunks = split_text("  alpha ***beta*** ***\n***gamma delta", rule, "text_model")
    assert [c.content for c in chunks] == ["alpha", "beta", "gamma delta"]
    assert [c.tokens for c in chunks] == [count_tokens(c.content) for c in chunks]
    assert all(c.children == [] for c in chunks)


def test_escaped_separator_splits_lines() -> None:
    rule = resolve_process_rule(_custom("\\n", 100), "text_model")
    chunks = split_text("first line\nsecond line\n\n\nthird line", rule, "text_model")
    assert [c.content for c in chunks] == ["first line", "second line", "third line"]


def test_long_piece_respects_max_tokens_with_overlap() -> None:
    sentences = _sentences(60)
    text = "Intro.\n\n" + "".join(sentences) + "\n\nOutro."
    rule = resolve_process_rule(_custom("\n\n", 60, 20), "text_model")
    chunks = split_text(text, rule, "text_model")
    assert chunks[0].content == "Intro." and chunks[-1].content == "Outro."
    body = chunks[1:-1]
    assert len(body) > 5
    for chunk_ in body:
        assert chunk_.tokens == count_tokens(chunk_.content) <= 60
    for before, after in itertools.pairwise(body):
        # The next chunk starts with the sentence(s) that ended the previous one.
        last_sentence = before.content.rsplit(". ", 1)[-1]
        assert after.content.startswith(last_sentence.rstrip("."))
    for sentence in sentences:
        assert any(sentence.strip() in c.content for c in body)


def test_automatic_mode_merges_lines_up_to_500_tokens() -> None:
    lines = [f"Line {i}: the ferry to the island runs on the hour." for i in range(200)]
    rule = resolve_process_rule(None, "text_model")
    chunks = split_text("\n".join(lines), rule, "text_model")
    assert 1 < len(chunks) < 20
    assert all(c.tokens <= 500 for c in chunks)
    assert max(c.tokens for c in chunks) > 400
    joined = "\n".join(c.content for c in chunks)
    assert all(line in joined for line in lines)


def test_text_without_separators_is_cut_within_the_limit() -> None:
    cjk = "潮汐是海水的周期性涨落现象。" * 300 + "没有标点的长句子" * 200
    blob = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 400
    rule = resolve_process_rule(_custom("\n\n", 50, 10), "text_model")
    for text in (cjk, blob):
        chunks = split_text(text, rule, "text_model")
        assert len(chunks) > 10
        assert all(0 < c.tokens <= 50 and c.tokens == count_tokens(c.content) for c in chunks)


def test_qa_model_is_chunked_like_text_model() -> None:
    rule = resolve_process_rule(_custom("\n", 100), "qa_model")
    text = "Q one\nQ two"
    assert split_text(text, rule, "qa_model") == split_text(text, rule, "text_model")


def test_parent_child_paragraph() -> None:
    paragraphs = ["\n".join(_sentences(3)), "Short paragraph.\nWith two lines.", "x" * 0]
    rules = {
        "segmentation": {"separator": "\\n\\n", "max_tokens": 500},
        "parent_mode": "paragraph",
        "subchunk_segmentation": {"separator": "\\n", "max_tokens": 50},
    }
    rule = resolve_process_rule({"mode": "hierarchical", "rules": rules}, "hierarchical_model")
    parents = split_text("\n\n".join(paragraphs), rule, "hierarchical_model")
    assert [p.content for p in parents] == [paragraphs[0].strip(), paragraphs[1]]
    assert [c.content for c in parents[1].children] == ["Short paragraph.", "With two lines."]
    assert [c.content for c in parents[0].children] == [s.strip() for s in _sentences(3)]
    for parent in parents:
        assert all(child.content in parent.content for child in parent.children)
        assert all(child.tokens <= 50 and child.children == [] for child in parent.children)


def test_parent_child_full_doc_keeps_the_first_10000_tokens() -> None:
    text = "\n".join(s.strip() for s in _sentences(2000))  # ~22k tokens
    rules = {
        "parent_mode": "full-doc",
        "subchunk_segmentation": {"separator": "\n", "max_tokens": 200},
    }
    rule = resolve_process_rule({"mode": "hierarchical", "rules": rules}, "hierarchical_model")
    (parent,) = split_text(text, rule, "hierarchical_model")
    assert 9990 <= parent.tokens <= 10_000 == chunk.FULL_DOC_MAX_TOKENS
    assert parent.tokens == count_tokens(parent.content)
    assert text.startswith(parent.content)
    assert all(child.tokens <= 200 for child in parent.children)
    assert "\n".join(c.content for c in parent.children) == parent.content
    short = split_text("Only this.", rule, "hierarchical_model")
    assert short == [Chunk("Only this.", 3, [Chunk("Only this.", 3)])]


def test_hierarchical_form_needs_a_subchunk() -> None:
    rule = resolve_process_rule(None, "text_model")
    with pytest.raises(ProcessRuleError, match=r"^process_rule\.rules\.subchunk_segmentation"):
        split_text("text", rule, "hierarchical_model")
