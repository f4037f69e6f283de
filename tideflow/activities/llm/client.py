"""One streamed model call through litellm, its output gathered, and what it cost.

litellm's own retries are off (``num_retries=0``, ``max_retries=0``): Temporal's retry policy
decides, so every attempt is in the run's history. Calls always stream, so the first tokens
reach the stream store while the rest is still coming.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

import litellm

from tideflow.activities.llm.models import LlmUsage
from tideflow.activities.llm.reasoning import PieceKind, ThinkSplitter

litellm.suppress_debug_info = True  # it prints a "Give Feedback" banner on every error

OnPiece = Callable[[PieceKind, str], None]

# Typed views of litellm functions whose signatures pyright cannot fully resolve.
_token_counter = cast(Callable[..., int], getattr(litellm, "token_counter"))  # noqa: B009
_arerank = cast(Callable[..., Awaitable[Any]], getattr(litellm, "arerank"))  # noqa: B009

_PRICE_UNIT = Decimal("0.000001")  # unit prices are per million tokens, as in Dify
_CENT_FRACTION = Decimal("0.0000001")
_NATIVE_THINK_OPEN = "<think>\n"
_NATIVE_THINK_CLOSE = "\n</think>\n"


class StreamAccumulator:
    """Gathers a streamed answer: text, reasoning, tool calls, finish reason and usage.

    ``separate_reasoning`` (Dify's ``separated``): reasoning (the provider's
    ``reasoning_content`` and inline ``<think>`` blocks) goes to ``reasoning``. Otherwise
    (``tagged``) the text keeps inline blocks, and provider reasoning is written into the text
    inside ``<think>`` tags, as Dify's model plugins do. ``on_piece`` sees every piece in order.
    """

    def __init__(self, separate_reasoning: bool, on_piece: OnPiece) -> None:
        self._separate = separate_reasoning
        self._on_piece = on_piece
        self._splitter = ThinkSplitter()
        self._native_think_open = False
        self._parts: dict[PieceKind, list[str]] = {"text": [], "reasoning": []}
        self._calls: dict[int, dict[str, Any]] = {}
        self.finish_reason = "stop"
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None

    @property
    def text(self) -> str:
        """The answer's text so far."""
        return "".join(self._parts["text"])

    @property
    def reasoning(self) -> str:
        """The reasoning so far (empty unless reasoning is separated)."""
        return "".join(self._parts["reasoning"])

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """Tool calls in OpenAI's shape, assembled from their deltas, by index."""
        return [self._calls[index] for index in sorted(self._calls)]

    def add(self, chunk: Any) -> None:
        """Take one litellm stream chunk."""
        usage = getattr(chunk, "usage", None)
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
            self.prompt_tokens = int(usage.prompt_tokens)
            self.completion_tokens = int(usage.completion_tokens or 0)
        choices: list[Any] = list(getattr(chunk, "choices", None) or [])
        if not choices:
            return
        choice = choices[0]
        if choice.finish_reason:
            self.finish_reason = str(choice.finish_reason)
        delta = choice.delta
        reasoning = getattr(delta, "reasoning_content", None)
        if reasoning:
            self._add_reasoning(str(reasoning))
        if delta.content:
            self._add_content(str(delta.content))
        calls: list[Any] = list(getattr(delta, "tool_calls", None) or [])
        for call in calls:
            self._add_tool_call(call)

    def finish(self) -> None:
        """The stream has ended: release held-back text and close an open ``<think>``."""
        self._close_native_think()
        if self._separate:
            for kind, text in self._splitter.flush():
                self._out(kind, text)

    def _add_reasoning(self, text: str) -> None:
        if self._separate:
            self._out("reasoning", text)
            return
        if not self._native_think_open:
            self._native_think_open = True
            self._out("text", _NATIVE_THINK_OPEN)
        self._out("text", text)

    def _add_content(self, text: str) -> None:
        self._close_native_think()
        if not self._separate:
            self._out("text", text)
            return
        for kind, piece in self._splitter.feed(text):
            self._out(kind, piece)

    def _close_native_think(self) -> None:
        if self._native_think_open:
            self._native_think_open = False
            self._out("text", _NATIVE_THINK_CLOSE)

    def _add_tool_call(self, call: Any) -> None:
        index = int(getattr(call, "index", None) or 0)
        entry = self._calls.setdefault(
            index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if getattr(call, "id", None):
            entry["id"] = str(call.id)
        function = getattr(call, "function", None)
        if function is None:
            return
        if getattr(function, "name", None):
            entry["function"]["name"] = str(function.name)
        if getattr(function, "arguments", None):
            entry["function"]["arguments"] += str(function.arguments)

    def _out(self, kind: PieceKind, text: str) -> None:
        self._parts[kind].append(text)
        self._on_piece(kind, text)


async def stream_completion(
    model: str,
    messages: list[dict[str, Any]],
    kwargs: dict[str, Any],
    accumulator: StreamAccumulator,
) -> None:
    """Call ``model`` streaming and feed every chunk to ``accumulator``. litellm errors pass."""
    response: Any = await litellm.acompletion(
        model=model,
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        num_retries=0,
        max_retries=0,
        drop_params=True,
        # With tools, litellm 1.106.2 first imports its MCP-proxy handler, which needs the
        # optional ``mcp`` package; our tools are plain functions, so skip that detour.
        _skip_mcp_handler=True,
        **kwargs,
    )
    try:
        async for chunk in response:
            accumulator.add(chunk)
    finally:
        await response.aclose()
    accumulator.finish()


def supports_response_schema(model: str) -> bool:
    """Whether litellm knows ``model`` to take a JSON schema as ``response_format``."""
    try:
        return bool(litellm.supports_response_schema(model=model))
    except Exception:  # unknown models and providers: no
        return False


def count_tokens(
    model: str, messages: list[dict[str, Any]] | None = None, text: str | None = None
) -> int:
    """litellm's token count of messages or a text. Images count as litellm's default (its
    exact count would fetch them, blocking); when litellm cannot count, about 4 characters a
    token."""
    try:
        return int(
            _token_counter(
                model=model, messages=messages, text=text, use_default_image_token_count=True
            )
        )
    except Exception:
        counted = text or "".join(str(m.get("content") or "") for m in messages or [])
        return max(1, len(counted) // 4) if counted else 0


def _costs(model: str, prompt_tokens: int, completion_tokens: int) -> tuple[Decimal, Decimal]:
    """USD for that many prompt and completion tokens (tiered prices follow the counts)."""
    try:
        prompt, completion = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:  # a model litellm has no price for: Dify reports 0
        return Decimal(0), Decimal(0)
    return Decimal(str(prompt)), Decimal(str(completion))


@functools.lru_cache(maxsize=256)
def _unit_prices(model: str) -> tuple[Decimal, Decimal]:
    """USD per million prompt and completion tokens at the base tier, for display (litellm's
    price map is fixed once imported, so once per model)."""
    prompt, completion = _costs(model, 1, 1)
    return prompt / _PRICE_UNIT, completion / _PRICE_UNIT


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def model_usage(
    model: str,
    messages: list[dict[str, Any]],
    accumulator: StreamAccumulator,
    latency: float,
) -> LlmUsage:
    """Tokens (the stream's, else counted locally), prices and latency of a finished call."""
    prompt_tokens = accumulator.prompt_tokens
    if prompt_tokens is None:
        prompt_tokens = count_tokens(model, messages=messages)
    completion_tokens = accumulator.completion_tokens
    if completion_tokens is None:
        answer = accumulator.text + accumulator.reasoning
        completion_tokens = count_tokens(model, text=answer) if answer else 0
    prompt_unit, completion_unit = _unit_prices(model)
    prompt_cost, completion_cost = _costs(model, prompt_tokens, completion_tokens)
    prompt_price = prompt_cost.quantize(_CENT_FRACTION, ROUND_HALF_UP)
    completion_price = completion_cost.quantize(_CENT_FRACTION, ROUND_HALF_UP)
    return LlmUsage(
        prompt_tokens=prompt_tokens,
        prompt_unit_price=_decimal_text(prompt_unit),
        prompt_price_unit=str(_PRICE_UNIT),
        prompt_price=_decimal_text(prompt_price),
        completion_tokens=completion_tokens,
        completion_unit_price=_decimal_text(completion_unit),
        completion_price_unit=str(_PRICE_UNIT),
        completion_price=_decimal_text(completion_price),
        total_tokens=prompt_tokens + completion_tokens,
        total_price=_decimal_text(prompt_price + completion_price),
        latency=round(latency, 3),
    )


async def probe_model(model: str, kwargs: dict[str, Any], model_type: str) -> None:
    """The cheapest call that proves credentials work: one token, or one tiny embedding."""
    if model_type == "text-embedding":
        await litellm.aembedding(
            model=model, input=["ping"], num_retries=0, max_retries=0, **kwargs
        )
    elif model_type == "rerank":
        await _arerank(model=model, query="ping", documents=["ping"], **kwargs)
    else:
        await litellm.acompletion(
            model=model,
            messages=[{"role": "user", "content": "ping"}],
            max_tokens=1,
            num_retries=0,
            max_retries=0,
            drop_params=True,
            **kwargs,
        )
