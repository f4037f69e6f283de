"""What a chat turn's run carries of the conversation: answered turns, oldest first, the newest
within MAX_HISTORY_BYTES (the run input lives in Temporal's history)."""

from __future__ import annotations

from tideflow.platform.db.models import Message
from tideflow.platform.runs.launch import MAX_HISTORY_BYTES, history_of


def _message(query: str, answer: str, status: str = "normal") -> Message:
    return Message(
        tenant_id="t",
        app_id="a",
        conversation_id="c",
        workflow_run_id=f"r-{query}",
        query=query,
        answer=answer,
        status=status,
    )


def test_answered_turns_oldest_first() -> None:
    newest_first = [
        _message("q4", "", status="running"),  # the turn being asked
        _message("q3", "a3"),
        _message("q2", "", status="error"),  # failed without an answer: not history
        _message("q1", "a1"),
    ]
    assert history_of(newest_first) == [
        {"query": "q1", "answer": "a1"},
        {"query": "q3", "answer": "a3"},
    ]


def test_the_newest_turns_within_the_byte_limit() -> None:
    big = "x" * (MAX_HISTORY_BYTES // 3 - 10)  # three turns fit, four do not
    newest_first = [_message(f"q{n}", big) for n in range(5, 0, -1)]
    kept = history_of(newest_first)
    assert [turn["query"] for turn in kept] == ["q3", "q4", "q5"]
    assert sum(len(t["query"]) + len(t["answer"]) for t in kept) <= MAX_HISTORY_BYTES
