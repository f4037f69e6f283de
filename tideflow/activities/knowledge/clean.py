"""Dify's text pre-processing before chunking (its ``CleanProcessor``), written afresh.

Always: ``<|`` -> ``<``, ``|>`` -> ``>``, control characters and U+FFFE removed. Dify's pattern
also lists ``\\xEF\\xBF\\xBE`` (the UTF-8 bytes of U+FFFE) inside a str character class, which
deletes the letters ``ï``, ``¿`` and ``¾`` from every document; that slip is not reproduced.

Rules, applied in the order given when ``enabled`` is true:

- ``remove_extra_spaces``: three or more newlines become two; runs of two or more horizontal
  whitespace characters (tab, form feed, CR, space, NBSP and the Unicode spaces) become one
  space.
- ``remove_urls_emails``: e-mail addresses and http(s) URLs are removed, but Markdown images
  and links (``![alt](url)``, ``[text](url)``) are kept whole. Dify keeps only image URLs
  (and renames their alt text to "image"); keeping links too is what users expect.
- ``remove_stopwords``: accepted and ignored, as in Dify.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_INVALID = re.compile(r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F\ufffe]")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_MANY_SPACES = re.compile(r"[\t\f\r\x20\u00a0\u1680\u180e\u2000-\u200a\u202f\u205f\u3000]{2,}")
# One left-to-right scan: a Markdown image/link is consumed whole (group 1) before the URL or
# e-mail alternatives can match inside it.
_URL_OR_EMAIL = re.compile(
    r"(!?\[[^\[\]\n]*\]\([^\s)]*\))"
    r"|https?://[^\s)]+"
    r"|[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+"
)


def clean_text(text: str, pre_processing_rules: Sequence[Mapping[str, Any]]) -> str:
    """``text`` cleaned the way Dify cleans a document before splitting it.

    ``pre_processing_rules`` is Dify's list of ``{"id": ..., "enabled": bool}``; unknown ids
    and disabled rules are skipped (validation is ``resolve_process_rule``'s job).
    """
    text = text.replace("<|", "<").replace("|>", ">")
    text = _INVALID.sub("", text)
    for rule in pre_processing_rules:
        if rule.get("enabled") is not True:
            continue
        rule_id = rule.get("id")
        if rule_id == "remove_extra_spaces":
            text = _MANY_NEWLINES.sub("\n\n", text)
            text = _MANY_SPACES.sub(" ", text)
        elif rule_id == "remove_urls_emails":
            text = _URL_OR_EMAIL.sub(_keep_markdown_links, text)
    return text


def _keep_markdown_links(match: re.Match[str]) -> str:
    return match.group(1) or ""
