"""``<think>`` blocks in streamed text: moved out into reasoning, across chunk boundaries.

Models such as DeepSeek-R1 served through OpenAI-compatible servers write their reasoning inline
as ``<think>...</think>``. With Dify's ``reasoning_format: separated`` the text keeps only the
answer. A tag may arrive split over chunks (``<thi`` + ``nk>``), so a possible tag start at the
end of a chunk is held back until the next one shows what it is.
"""

from __future__ import annotations

from typing import Literal

PieceKind = Literal["text", "reasoning"]
Piece = tuple[PieceKind, str]

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


def _partial_tag_length(data: str, tag: str) -> int:
    """Length of the longest end of ``data`` that starts ``tag``."""
    for length in range(min(len(tag) - 1, len(data)), 0, -1):
        if tag.startswith(data[-length:]):
            return length
    return 0


class ThinkSplitter:
    """Feed text chunks; get back (kind, text) pieces with ``<think>`` blocks as reasoning.

    Whitespace right after a tag is dropped (models put newlines there), as Dify strips it.
    """

    def __init__(self) -> None:
        self._in_think = False
        self._held = ""
        self._strip_leading = False

    def feed(self, text: str) -> list[Piece]:
        """The pieces ``text`` completes (a possible partial tag at its end is held back)."""
        data = self._held + text
        self._held = ""
        pieces: list[Piece] = []
        while data:
            tag = CLOSE_TAG if self._in_think else OPEN_TAG
            found = data.find(tag)
            if found < 0:
                keep = _partial_tag_length(data, tag)
                self._emit(pieces, data[: len(data) - keep])
                self._held = data[len(data) - keep :]
                break
            self._emit(pieces, data[:found])
            data = data[found + len(tag) :]
            self._in_think = not self._in_think
            self._strip_leading = True
        return pieces

    def flush(self) -> list[Piece]:
        """What is still held back (a tag start that never completed), as plain content."""
        pieces: list[Piece] = []
        held, self._held = self._held, ""
        self._emit(pieces, held)
        return pieces

    def _emit(self, pieces: list[Piece], text: str) -> None:
        if self._strip_leading:
            text = text.lstrip()
            if not text:
                return
            self._strip_leading = False
        if text:
            pieces.append(("reasoning" if self._in_think else "text", text))
