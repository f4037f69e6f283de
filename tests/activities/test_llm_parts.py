"""Pure pieces of the model call: ``<think>`` splitting, completion params, image parts."""

from __future__ import annotations

import base64

import pytest

from tests.activities.support import PNG, UseSettings
from tideflow.activities.files import save_file
from tideflow.activities.llm.models import LlmMessage, LlmRequest
from tideflow.activities.llm.parts import LlmParamError, completion_params, litellm_messages
from tideflow.activities.llm.reasoning import Piece, ThinkSplitter


def split(chunks: list[str]) -> tuple[str, str, list[Piece]]:
    splitter = ThinkSplitter()
    pieces = [piece for chunk in chunks for piece in splitter.feed(chunk)] + splitter.flush()
    text = "".join(t for kind, t in pieces if kind == "text")
    reasoning = "".join(t for kind, t in pieces if kind == "reasoning")
    return text, reasoning, pieces


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 100])
def test_think_blocks_leave_the_text_whatever_the_chunking(size: int) -> None:
    answer = "<think>\nLet me see: 2+2.\n</think>\n\nIt is 4. <b>bold</b> stays"
    chunks = [answer[i : i + size] for i in range(0, len(answer), size)]
    text, reasoning, _ = split(chunks)
    assert text == "It is 4. <b>bold</b> stays"
    assert reasoning == "Let me see: 2+2.\n"


def test_partial_tag_is_held_until_known() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("Hi <thi") == [("text", "Hi ")]
    assert splitter.feed("s is not a tag") == [("text", "<this is not a tag")]
    assert splitter.feed("a <") == [("text", "a ")]
    assert splitter.flush() == [("text", "<")]


def test_unclosed_think_is_all_reasoning() -> None:
    text, reasoning, _ = split(["<think>still ", "thinking"])
    assert (text, reasoning) == ("", "still thinking")


def test_completion_params_are_coerced_and_unknown_dropped() -> None:
    params = completion_params(
        {
            "temperature": "0.7",
            "top_p": 1,
            "max_tokens": "512",
            "stop": "END",
            "presence_penalty": 0,
            "frequency_penalty": "0.5",
            "seed": 42.0,
            "response_format": "JSON",
            "enable_thinking": True,
            "top_k": 3,
        }
    )
    assert params == {
        "temperature": 0.7,
        "top_p": 1.0,
        "max_tokens": 512,
        "stop": ["END"],
        "presence_penalty": 0.0,
        "frequency_penalty": 0.5,
        "seed": 42,
        "response_format": {"type": "json_object"},
    }
    assert completion_params({"response_format": "text", "stop": [], "max_tokens": ""}) == {}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"max_tokens": "many"}, "max_tokens"), ({"temperature": True}, "temperature")],
)
def test_bad_param_is_named(params: dict[str, object], field: str) -> None:
    with pytest.raises(LlmParamError, match=f"completion_params.{field}"):
        completion_params(params)


async def test_image_parts_become_urls(use_settings: UseSettings) -> None:
    settings = use_settings()
    stored = save_file(
        PNG, filename="dot.png", mime_type="image/png", settings=settings, tenant_id=""
    )
    remote = {
        "transfer_method": "remote_url",
        "remote_url": "https://example.com/cat.jpg",
        "filename": "cat.jpg",
    }
    request = LlmRequest(
        provider="openai",
        model="gpt-4o",
        messages=[
            LlmMessage(role="system", content="be brief"),
            LlmMessage(
                role="user",
                content=[
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_file", "file": stored, "detail": "low"},
                    {"type": "image_file", "file": remote, "detail": "high"},
                ],
            ),
        ],
    )
    messages = await litellm_messages(request, settings)
    assert messages[0] == {"role": "system", "content": "be brief"}
    parts = messages[1]["content"]
    assert parts[0] == {"type": "text", "text": "what is this?"}
    data_url = f"data:image/png;base64,{base64.b64encode(PNG).decode()}"
    assert parts[1] == {"type": "image_url", "image_url": {"url": data_url, "detail": "low"}}
    assert parts[2] == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"},
    }
