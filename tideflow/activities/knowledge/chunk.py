"""Dify's process rules and chunking (general and parent-child), written afresh.

Lengths are tiktoken ``cl100k_base`` tokens, loaded offline from the encoding file litellm
bundles. Dify itself measures with the dataset's embedding model (older releases) or with
characters (newer ones); a fixed tokenizer keeps results reproducible without a model call.

General chunking follows Dify's ``FixedRecursiveCharacterTextSplitter``: the text is split on
the rule's separator (which is removed); a piece still over ``max_tokens`` is split on the first
of ``RECURSIVE_SEPARATORS`` it contains, its small parts merged back up to ``max_tokens`` with
``chunk_overlap`` tokens repeated between neighbours, and parts still too long are split on the
next separator. Unlike Dify, these separators stay attached to the text before them, so chunks
are exact slices of the text: Dify joins words with nothing when it falls back to spaces, and
strips leading punctuation to hide separators it moved to the front of a chunk.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, cast

if TYPE_CHECKING:
    import tiktoken

logger = logging.getLogger(__name__)

MODES = ("automatic", "custom", "hierarchical")
DOC_FORMS = ("text_model", "hierarchical_model", "qa_model")
PARENT_MODES = ("paragraph", "full-doc")
PRE_PROCESSING_RULE_IDS = ("remove_stopwords", "remove_extra_spaces", "remove_urls_emails")
# Dify's bounds on a user's max_tokens; the upper one is its INDEXING_MAX_SEGMENTATION_TOKENS_LENGTH
# default (the lead may pass the configured value to resolve_process_rule).
MIN_SEGMENTATION_TOKENS = 50
MAX_SEGMENTATION_TOKENS = 4000
FULL_DOC_MAX_TOKENS = 10_000
RECURSIVE_SEPARATORS = ("\n\n", "\n", "。", ". ", " ", "")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


class ProcessRuleError(ValueError):
    """A process rule Dify would refuse; the message starts with the offending field."""


@dataclass(frozen=True)
class Segmentation:
    """How to cut: on ``separator`` (unescaped), at most ``max_tokens`` per chunk, with
    ``chunk_overlap`` tokens shared between neighbours that come from one over-long piece."""

    separator: str
    max_tokens: int
    chunk_overlap: int


@dataclass(frozen=True)
class ProcessRule:
    """A validated process rule. ``mode`` is ``automatic`` (Dify's defaults: no fixed
    separator is applied even though its published rule lists ``"\\n"``), ``custom`` (user
    rules, general chunking) or ``hierarchical`` (parent-child). ``subchunk`` is set only for
    ``hierarchical``; in ``full-doc`` the parent is the whole text, up to 10,000 tokens."""

    mode: str
    pre_processing_rules: list[dict[str, Any]]
    segmentation: Segmentation
    parent_mode: str = "paragraph"
    subchunk: Segmentation | None = None

    def to_dict(self) -> dict[str, Any]:
        """Dify's ``{"mode", "rules"}`` shape, for storing and returning the rule."""
        rules: dict[str, Any] = {
            "pre_processing_rules": [dict(rule) for rule in self.pre_processing_rules],
            "segmentation": vars(self.segmentation).copy(),
        }
        if self.subchunk is not None:
            rules["parent_mode"] = self.parent_mode
            rules["subchunk_segmentation"] = vars(self.subchunk).copy()
        return {"mode": self.mode, "rules": rules}


@dataclass
class Chunk:
    """One chunk: its stripped text, its token count and (parent-child only) its children."""

    content: str
    tokens: int
    children: list[Chunk] = field(default_factory=list["Chunk"])


def _automatic_rules() -> list[dict[str, Any]]:
    # Dify's DatasetProcessRule.AUTOMATIC_RULES.
    return [
        {"id": "remove_extra_spaces", "enabled": True},
        {"id": "remove_urls_emails", "enabled": False},
    ]


def resolve_process_rule(
    process_rule: Mapping[str, Any] | None,
    doc_form: str,
    *,
    max_tokens_limit: int = MAX_SEGMENTATION_TOKENS,
) -> ProcessRule:
    """The rule to apply to a document of ``doc_form``, with Dify's defaults filled in.

    No rule or ``mode: automatic`` gives Dify's automatic rule (separator ``"\\n"``, 500 tokens,
    overlap 50) or, for ``hierarchical_model``, the parent-child defaults of Dify's UI
    (paragraph parents on ``"\\n\\n"`` up to 1024 tokens, children on ``"\\n"`` up to 512).
    Otherwise ``doc_form`` decides the structure: user rules become ``custom`` for
    ``text_model``/``qa_model`` and ``hierarchical`` for ``hierarchical_model``. Separators may
    come escaped (``"\\\\n"``) as Dify's UI sends them. Raises ``ProcessRuleError``.
    """
    _check_doc_form(doc_form)
    hierarchical = doc_form == "hierarchical_model"
    given = _mapping({} if process_rule is None else process_rule)
    if given is None:
        raise ProcessRuleError("process_rule: must be an object")
    rules = _mapping(given.get("rules"))
    mode = given.get("mode")
    if mode is None and rules:
        raise ProcessRuleError("process_rule.mode: required when rules are given")
    mode = mode or "automatic"
    if mode not in MODES:
        raise ProcessRuleError(f"process_rule.mode: must be one of {', '.join(MODES)}")
    if mode == "automatic":
        if hierarchical:
            return ProcessRule(
                "hierarchical",
                _automatic_rules(),
                Segmentation("\n\n", 1024, 0),
                "paragraph",
                Segmentation("\n", 512, 0),
            )
        return ProcessRule("automatic", _automatic_rules(), Segmentation("\n", 500, 50))
    if not rules:
        raise ProcessRuleError(f"process_rule.rules: required (an object) when mode is {mode}")
    pre_processing = _pre_processing_rules(rules.get("pre_processing_rules"))
    field_name = "process_rule.rules.segmentation"
    if not hierarchical:
        segmentation = _segmentation(rules.get("segmentation"), field_name, max_tokens_limit)
        return ProcessRule("custom", pre_processing, segmentation)
    parent_mode: str = rules.get("parent_mode") or "paragraph"
    if parent_mode not in PARENT_MODES:
        raise ProcessRuleError("process_rule.rules.parent_mode: must be paragraph or full-doc")
    if parent_mode == "full-doc":
        # Dify does not split the parent in full-doc mode, nor apply the URL/e-mail rule.
        segmentation = Segmentation("", FULL_DOC_MAX_TOKENS, 0)
        pre_processing = [r for r in pre_processing if r["id"] != "remove_urls_emails"]
    else:
        segmentation = _segmentation(rules.get("segmentation"), field_name, max_tokens_limit)
    subchunk = _segmentation(
        rules.get("subchunk_segmentation"),
        "process_rule.rules.subchunk_segmentation",
        max_tokens_limit,
    )
    return ProcessRule("hierarchical", pre_processing, segmentation, parent_mode, subchunk)


def split_text(text: str, rule: ProcessRule, doc_form: str) -> list[Chunk]:
    """``text`` (already cleaned) cut into chunks by ``rule``; empty chunks are dropped.

    ``hierarchical_model`` gives parents with ``children``; ``qa_model`` is chunked like
    ``text_model`` (generating question/answer pairs with an LLM is out of scope here).
    """
    _check_doc_form(doc_form)
    if doc_form != "hierarchical_model":
        separator = "" if rule.mode == "automatic" else rule.segmentation.separator
        return _Splitter(rule.segmentation).split(text, separator)
    if rule.subchunk is None:
        raise ProcessRuleError(
            "process_rule.rules.subchunk_segmentation: required for doc_form hierarchical_model"
        )
    if rule.parent_mode == "full-doc":
        content, tokens = _truncate(text.strip(), FULL_DOC_MAX_TOKENS)
        parents = [Chunk(content, tokens)] if content else []
    else:
        parents = _Splitter(rule.segmentation).split(text, rule.segmentation.separator)
    children = _Splitter(rule.subchunk)
    for parent in parents:
        parent.children = children.split(parent.content, rule.subchunk.separator)
    return parents


def count_tokens(text: str) -> int:
    """Tokens of ``text`` in ``cl100k_base``; a quarter of its characters (rounded up) when
    tiktoken cannot load offline."""
    encoder = _encoder()
    if encoder is None:
        return (len(text) + 3) // 4
    return len(encoder.encode_ordinary(text))


@cache
def _encoder() -> tiktoken.Encoding | None:
    # litellm ships cl100k_base's file under the name tiktoken caches it by; find it without
    # importing litellm (6 s). litellm points TIKTOKEN_CACHE_DIR there itself when imported.
    spec = importlib.util.find_spec("litellm")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
        if bundled.is_dir():
            os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base")
    except Exception:  # no file and no network: fall back to a character estimate
        logger.warning("tiktoken cl100k_base unavailable offline; estimating tokens", exc_info=True)
        return None


@cache
def _max_chars_per_token() -> int:
    """An upper bound on characters per token, so a long text is known to exceed a limit
    without encoding it (a character is at least one byte)."""
    encoder = _encoder()
    return 4 if encoder is None else max(map(len, encoder.token_byte_values()))


def _truncate(text: str, limit: int) -> tuple[str, int]:
    encoder = _encoder()
    if encoder is None:
        text = text[: limit * 4].strip()
        return text, count_tokens(text)
    ids = encoder.encode_ordinary(text[: limit * _max_chars_per_token()])
    if len(ids) > limit:
        text = encoder.decode_bytes(ids[:limit]).decode("utf-8", errors="ignore").strip()
        return text, count_tokens(text)
    return text, len(ids)


class _Splitter:
    """One segmentation's splitting (see the module docstring)."""

    def __init__(self, segmentation: Segmentation) -> None:
        self.max_tokens = segmentation.max_tokens
        self.overlap = segmentation.chunk_overlap
        self._char_tokens: dict[str, int] = {}

    def split(self, text: str, separator: str) -> list[Chunk]:
        chunks: list[Chunk] = []
        for piece in text.split(separator) if separator else [text]:
            content = piece.strip()
            if not content:
                continue
            tokens = self._measure(content)
            if tokens <= self.max_tokens:
                chunks.append(Chunk(content, tokens))
                continue
            for part in self._recursive(content, RECURSIVE_SEPARATORS):
                if part.strip():
                    chunks.extend(self._fit(part.strip()))
        return chunks

    def _measure(self, text: str) -> int:
        """Exact tokens, or ``max_tokens + 1`` for a text too long to possibly fit."""
        if len(text) > self.max_tokens * _max_chars_per_token():
            return self.max_tokens + 1
        return count_tokens(text)

    def _length(self, part: str, separator: str) -> int:
        if separator:
            return self._measure(part)
        if part.isascii():  # a single byte is always one token
            return 1
        if part not in self._char_tokens:
            self._char_tokens[part] = count_tokens(part)
        return self._char_tokens[part]

    def _recursive(self, text: str, separators: Sequence[str]) -> list[str]:
        index = next(i for i, sep in enumerate(separators) if not sep or sep in text)
        separator, rest = separators[index], separators[index + 1 :]
        if separator:
            parts = [part + separator for part in text.split(separator)]
            parts[-1] = parts[-1][: -len(separator)]
        else:
            parts = list(text)
        merged: list[str] = []
        small: list[tuple[str, int]] = []
        for part in parts:
            if not part:
                continue
            tokens = self._length(part, separator)
            if tokens <= self.max_tokens:
                small.append((part, tokens))
                continue
            merged.extend(self._merge(small))
            small = []
            merged.extend(self._recursive(part, rest) if rest else [part])
        merged.extend(self._merge(small))
        return merged

    def _merge(self, parts: list[tuple[str, int]]) -> list[str]:
        """Parts joined up to ``max_tokens``; after each chunk, the last parts worth at most
        ``chunk_overlap`` tokens start the next one."""
        merged: list[str] = []
        window: deque[tuple[str, int]] = deque()
        total = 0
        for part, tokens in parts:
            if window and total + tokens > self.max_tokens:
                merged.append("".join(text for text, _ in window))
                while window and (total > self.overlap or total + tokens > self.max_tokens):
                    total -= window.popleft()[1]
            window.append((part, tokens))
            total += tokens
        if window:
            merged.append("".join(text for text, _ in window))
        return merged

    def _fit(self, content: str) -> list[Chunk]:
        # Token counts of parts add up to at least the joined text's in practice; when they
        # do not, halve at a space until each half fits, so max_tokens always holds.
        tokens = count_tokens(content)
        if tokens <= self.max_tokens:
            return [Chunk(content, tokens)]
        middle = len(content) // 2
        cut = content.rfind(" ", 0, middle)
        cut = cut if cut > 0 else middle
        halves = (content[:cut].strip(), content[cut:].strip())
        return [chunk for half in halves if half for chunk in self._fit(half)]


def _check_doc_form(doc_form: str) -> None:
    if doc_form not in DOC_FORMS:
        raise ProcessRuleError(f"doc_form: must be one of {', '.join(DOC_FORMS)}")


def _pre_processing_rules(value: Any) -> list[dict[str, Any]]:
    name = "process_rule.rules.pre_processing_rules"
    if value is None:
        return []
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ProcessRuleError(f"{name}: must be a list of {{id, enabled}}")
    by_id: dict[str, bool] = {}  # a repeated id: the last one wins, as in Dify
    for index, item_value in enumerate(cast("Sequence[object]", value)):
        item = f"{name}[{index}]"
        rule = _mapping(item_value)
        if rule is None:
            raise ProcessRuleError(f"{item}: must be an object with id and enabled")
        rule_id = rule.get("id")
        enabled = rule.get("enabled")
        if rule_id not in PRE_PROCESSING_RULE_IDS:
            raise ProcessRuleError(
                f"{item}.id: must be one of {', '.join(PRE_PROCESSING_RULE_IDS)}"
            )
        if not isinstance(enabled, bool):
            raise ProcessRuleError(f"{item}.enabled: must be true or false")
        by_id[rule_id] = enabled
    return [{"id": rule_id, "enabled": enabled} for rule_id, enabled in by_id.items()]


def _segmentation(value: object, name: str, max_tokens_limit: int) -> Segmentation:
    given = _mapping(value)
    if given is None:
        raise ProcessRuleError(f"{name}: required, an object with separator and max_tokens")
    separator = given.get("separator", "\n")
    if not isinstance(separator, str) or not separator:
        raise ProcessRuleError(f"{name}.separator: must be a non-empty string")
    max_tokens = given.get("max_tokens")
    if not _is_int(max_tokens):
        raise ProcessRuleError(f"{name}.max_tokens: required, an integer")
    if not MIN_SEGMENTATION_TOKENS <= max_tokens <= max_tokens_limit:
        raise ProcessRuleError(
            f"{name}.max_tokens: must be between {MIN_SEGMENTATION_TOKENS} and {max_tokens_limit}"
        )
    overlap = given.get("chunk_overlap") or 0
    if not _is_int(overlap) or overlap < 0:
        raise ProcessRuleError(f"{name}.chunk_overlap: must be an integer >= 0")
    if overlap >= max_tokens:
        raise ProcessRuleError(f"{name}.chunk_overlap: must be less than max_tokens ({max_tokens})")
    return Segmentation(unescape_separator(separator), max_tokens, overlap)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _mapping(value: object) -> Mapping[str, Any] | None:
    return cast("Mapping[str, Any]", value) if isinstance(value, Mapping) else None


def unescape_separator(separator: str) -> str:
    """``\\n``, ``\\t``, ``\\r`` and ``\\\\`` typed as two characters, as Dify's UI sends
    separators, made into the characters they stand for."""
    return re.sub(r"\\([ntr\\])", lambda match: _ESCAPES[match.group(1)], separator)
