"""The llm_invoke and check_model_credentials activities through real litellm, against the
fake OpenAI-compatible server (tests/fakes/openai_server.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.activities.support import UseSettings
from tests.fakes.openai_server import (
    Failure,
    FakeLLMServer,
    Reply,
    context_too_long,
    error_body,
    rate_limited,
    unauthorized,
)
from tideflow.activities.llm.activity import check_model_credentials, llm_invoke
from tideflow.activities.llm.models import (
    CredentialCheck,
    LlmMessage,
    LlmRequest,
    LlmResult,
    StreamTarget,
)
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.models import Tenant
from tideflow.platform.db.session import get_engine
from tideflow.platform.model_credentials import save_credentials, seal
from tideflow.platform.settings import Settings
from tideflow.platform.streams import read_chunks
from tideflow.workflows.nodes._llm_common import LLM_TIMEOUT_SECONDS


def request(**overrides: Any) -> LlmRequest:
    fields: dict[str, Any] = {
        "tenant_id": "t1",
        "provider": "langgenius/openai/openai",
        "model": "gpt-4o-mini",
        "messages": [LlmMessage(role="user", content="say hello")],
        "node_id": "llm1",
    }
    return LlmRequest(**{**fields, **overrides})


async def invoke(req: LlmRequest, attempt: int = 1, env: ActivityEnvironment | None = None):
    env = env or ActivityEnvironment()
    # As the LLM nodes schedule it (ActivityEnvironment's default limit is 1 s).
    limit = timedelta(seconds=LLM_TIMEOUT_SECONDS)
    env.info = dataclasses.replace(env.info, attempt=attempt, start_to_close_timeout=limit)
    return await env.run(llm_invoke, req)


async def failure(req: LlmRequest, attempt: int = 1) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await invoke(req, attempt)
    return caught.value


@pytest.fixture
def gateway(fake_llm: FakeLLMServer, use_settings: UseSettings, tmp_path: Path) -> Settings:
    """Settings sending every call to the fake server, with a migrated SQLite stream store."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade_database(url)
    return use_settings(
        model_gateway_url=fake_llm.base_url, model_gateway_key="gw-key", database_url=url
    )


@pytest.mark.usefixtures("gateway")
async def test_streams_text_with_usage_and_prices(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(text="Hello there, how are you today?", chunk_size=3), node="llm1")
    result = await invoke(request())
    assert result.text == "Hello there, how are you today?"
    assert result.finish_reason == "stop"
    assert result.model == "openai/gpt-4o-mini"
    assert result.attempt == 1
    usage = result.usage
    # The fake counts words: 2 in the prompt, 6 in the answer.
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2, 6, 8)
    # gpt-4o-mini's price from litellm's bundled map: $0.15 / $0.60 per million tokens.
    assert (usage.prompt_unit_price, usage.completion_unit_price) == ("0.15", "0.6")
    assert usage.prompt_price == "0.0000003"
    assert usage.completion_price == "0.0000036"
    assert usage.total_price == "0.0000039"
    assert usage.latency > 0
    (sent,) = fake_llm.chat_requests(node="llm1")
    assert sent.json["stream"] is True
    assert sent.json["stream_options"] == {"include_usage": True}
    assert sent.json["model"] == "gpt-4o-mini"
    assert sent.headers["authorization"] == "Bearer gw-key"
    assert len(sent.chunk_times) == 11


@pytest.mark.usefixtures("gateway")
async def test_unknown_model_price_is_zero(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("fine", model="house-model-7")
    result = await invoke(request(model="house-model-7", provider="acme/house/house"))
    assert result.text == "fine"
    assert result.usage.completion_tokens == 1
    assert (result.usage.prompt_unit_price, result.usage.total_price) == ("0", "0")


@pytest.mark.usefixtures("gateway")
async def test_tool_calls_are_assembled(fake_llm: FakeLLMServer) -> None:
    calls = [
        {"id": "call_a", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_b", "function": {"name": "get_time", "arguments": '{"tz": "CET"}'}},
    ]
    fake_llm.script(Reply(tool_calls=calls, chunk_size=2))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    result = await invoke(request(tools=tools, tool_choice="auto"))
    assert result.finish_reason == "tool_calls"
    assert result.tool_calls == [{"type": "function", **call} for call in calls]
    sent = fake_llm.chat_requests()[0].json
    assert sent["tools"] == tools
    assert sent["tool_choice"] == "auto"


async def test_inline_think_is_separated_in_stream_and_result(
    gateway: Settings, fake_llm: FakeLLMServer
) -> None:
    answer = "<think>\nThe user greets.\n</think>\n\nHello!"
    fake_llm.script(Reply(text=answer, chunk_size=3))
    target = StreamTarget(run_id="run-1", node_id="llm1", node_run_id="nr-1")
    result = await invoke(request(separate_reasoning=True, stream=target))
    assert (result.text, result.reasoning_content) == ("Hello!", "The user greets.\n")
    chunks = read_chunks(gateway.db_url, "run-1")
    assert "".join(c.text for c in chunks if c.kind == "text") == "Hello!"
    assert "".join(c.text for c in chunks if c.kind == "reasoning") == "The user greets.\n"
    tagged = await invoke(request())
    assert tagged.text == answer and tagged.reasoning_content == ""


@pytest.mark.usefixtures("gateway")
async def test_native_reasoning_separated_or_tagged(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(text="42", reasoning_content="6 times 7"))
    separated = await invoke(request(separate_reasoning=True))
    assert (separated.text, separated.reasoning_content) == ("42", "6 times 7")
    tagged = await invoke(request())
    assert (tagged.text, tagged.reasoning_content) == ("<think>\n6 times 7\n</think>\n42", "")


async def test_stream_chunks_reach_the_store_in_order(
    gateway: Settings, fake_llm: FakeLLMServer
) -> None:
    text = "".join(f"word{i} " for i in range(200))
    fake_llm.script(Reply(text=text, chunk_size=5))
    target = StreamTarget(run_id="run-2", node_id="llm1", node_run_id="nr-2")
    result = await invoke(request(stream=target), attempt=2)
    assert result.attempt == 2
    chunks = read_chunks(gateway.db_url, "run-2")
    assert "".join(c.text for c in chunks) == text == result.text
    offset = 0
    for chunk in chunks:
        assert (chunk.attempt, chunk.kind, chunk.node_run_id) == (2, "text", "nr-2")
        assert chunk.offset == offset
        offset += len(chunk.text)
    # Pieces arriving during a write are merged: fewer rows than the 280 deltas received.
    assert len(chunks) < len(text) // 5


async def test_failing_stream_store_never_fails_the_call(
    fake_llm: FakeLLMServer,
    use_settings: UseSettings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A database without tables: every chunk write fails.
    use_settings(
        model_gateway_url=fake_llm.base_url, database_url=f"sqlite:///{tmp_path / 'none.db'}"
    )
    fake_llm.script("still answered")
    target = StreamTarget(run_id="run-3", node_id="llm1", node_run_id="nr-3")
    with caplog.at_level(logging.WARNING, logger="tideflow.activities.llm"):
        result = await invoke(request(stream=target))
    assert result.text == "still answered"
    assert "stream store write failed for node llm1" in caplog.text


@pytest.mark.usefixtures("gateway")
async def test_completion_params_and_schema_are_sent(fake_llm: FakeLLMServer) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    params = {"temperature": "0.2", "max_tokens": "64", "stop": ["\n\n"], "seed": 7, "top_k": 5}
    await invoke(request(params=params, json_schema=schema))
    sent = fake_llm.chat_requests()[0].json
    assert (sent["temperature"], sent["max_tokens"], sent["stop"], sent["seed"]) == (
        0.2,
        64,
        ["\n\n"],
        7,
    )
    assert "top_k" not in sent
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": False},
    }
    # A model litellm does not know to take schemas: the prompt has to do.
    await invoke(request(model="house-model", json_schema=schema))
    assert "response_format" not in fake_llm.chat_requests()[1].json


@pytest.mark.usefixtures("gateway")
async def test_bad_param_fails_naming_it() -> None:
    error = await failure(request(params={"max_tokens": "lots"}))
    assert error.type == "ModelBadRequest" and error.non_retryable
    assert "llm node llm1: completion_params.max_tokens" in error.message


@pytest.mark.usefixtures("gateway")
async def test_rate_limit_is_retried_after_the_asked_delay(fake_llm: FakeLLMServer) -> None:
    fake_llm.fail(rate_limited("7"))
    error = await failure(request(max_attempts=3))
    assert error.type == "ModelRateLimited"
    assert not error.non_retryable
    assert error.next_retry_delay == timedelta(seconds=7)
    assert "openai model gpt-4o-mini: rate limited" in error.message
    assert "litellm" not in error.message
    # On the node's last attempt, its retry_config allows no more.
    fake_llm.fail(rate_limited(None))
    last = await failure(request(max_attempts=3), attempt=3)
    assert last.non_retryable and last.next_retry_delay is None


@pytest.mark.usefixtures("gateway")
@pytest.mark.parametrize(
    ("fail", "error_type", "words"),
    [
        (unauthorized, "ModelAuthenticationError", "authentication failed: Incorrect API key"),
        (context_too_long, "ModelContextLengthError", "prompt too long: This model's maximum"),
    ],
)
async def test_call_errors_are_not_retried(
    fake_llm: FakeLLMServer,
    fail: Callable[[], Any],
    error_type: str,
    words: str,
) -> None:
    fake_llm.fail(fail())
    error = await failure(request(max_attempts=5))
    assert error.type == error_type
    assert error.non_retryable
    assert error.message.startswith(f"langgenius/openai/openai model gpt-4o-mini: {words}")


@pytest.mark.usefixtures("gateway")
async def test_server_error_is_retried(fake_llm: FakeLLMServer) -> None:
    fake_llm.fail(Failure(503, error_body("overloaded", "server_error")))
    error = await failure(request(max_attempts=2))
    assert error.type == "ModelServerError" and not error.non_retryable


@pytest.mark.usefixtures("gateway")
async def test_heartbeats_while_streaming_and_stops_when_cancelled(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(text="a slow answer", chunk_size=1, stall_after=3))
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    task = asyncio.create_task(invoke(request(), env=env))
    for _ in range(100):
        if len(fake_llm.chat_requests()) and len(fake_llm.chat_requests()[0].chunk_times) >= 3:
            break
        await asyncio.sleep(0.05)
    for _ in range(60):  # the first beat comes a second in (heartbeat._first_beat_after)
        if beats:
            break
        await asyncio.sleep(0.05)
    assert beats  # the stall is heartbeated through
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)


def _tenant_with_credentials(db_url: str, credentials: dict[str, Any] | None) -> str:
    upgrade_database(db_url)
    with Session(get_engine(db_url)) as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.commit()
        if credentials is not None:
            save_credentials(
                session,
                tenant.id,
                "openai_api_compatible",
                credentials,
                Settings().secret_key,
            )
        return tenant.id


async def test_tenant_credentials_route_the_call(
    db_url: str, fake_llm: FakeLLMServer, use_settings: UseSettings
) -> None:
    # The fake model server is on loopback, which the SSRF guard refuses by default.
    use_settings(database_url=db_url, allow_private_network="true")
    tenant = _tenant_with_credentials(
        db_url,
        {"endpoint_url": fake_llm.base_url, "api_key": "sk-tenant", "endpoint_model_name": "m1"},
    )
    fake_llm.script("from m1", model="m1")
    req = request(
        tenant_id=tenant,
        provider="langgenius/openai_api_compatible/openai_api_compatible",
        model="my-model",
    )
    result: LlmResult = await invoke(req)
    assert (result.text, result.model) == ("from m1", "openai/m1")
    (sent,) = fake_llm.chat_requests()
    assert sent.headers["authorization"] == "Bearer sk-tenant"
    assert sent.headers["x-tideflow-node"] == "llm1"
    # Another tenant has none: a plain, non-retryable error naming the provider.
    other = _other_tenant(db_url)
    error = await failure(req.model_copy(update={"tenant_id": other}))
    assert error.type == "ModelProviderNotConfigured" and error.non_retryable
    assert "OpenAI-API-compatible" in error.message and "Model providers" in error.message
    # Credentials saved under another secret key: plain and non-retryable too.
    with Session(get_engine(db_url)) as session:
        clear = {"endpoint_url": fake_llm.base_url, "api_key": "sk-other"}
        save_credentials(session, other, "openai_api_compatible", clear, "an-older-key")
    error = await failure(req.model_copy(update={"tenant_id": other}))
    assert error.type == "ModelProviderNotConfigured" and error.non_retryable
    assert "TIDEFLOW_SECRET_KEY" in error.message and "save them again" in error.message
    assert len(fake_llm.chat_requests()) == 1


def _other_tenant(db_url: str) -> str:
    with Session(get_engine(db_url)) as session:
        tenant = Tenant(name="other")
        session.add(tenant)
        session.commit()
        return tenant.id


async def test_unknown_provider_without_gateway(use_settings: UseSettings) -> None:
    use_settings()
    error = await failure(request(provider="acme/nothing/nothing"))
    assert error.type == "UnknownModelProvider" and error.non_retryable
    assert "'acme/nothing/nothing'" in error.message


async def test_check_credentials(fake_llm: FakeLLMServer, use_settings: UseSettings) -> None:
    key = use_settings(allow_private_network="true").secret_key  # the fake is on loopback
    env = ActivityEnvironment()
    credentials = {"endpoint_url": fake_llm.base_url, "api_key": "sk-ok"}
    check = CredentialCheck(
        provider="openai_api_compatible", sealed_credentials=seal(credentials, key), model="m"
    )
    assert await env.run(check_model_credentials, check) == {"ok": True}
    assert fake_llm.chat_requests()[0].json["max_tokens"] == 1
    embedding = check.model_copy(update={"model_type": "text-embedding"})
    assert await env.run(check_model_credentials, embedding) == {"ok": True}
    assert fake_llm.embedded_texts == 1
    fake_llm.fail(unauthorized())
    with pytest.raises(ApplicationError) as caught:
        await env.run(check_model_credentials, check)
    assert caught.value.non_retryable
    assert caught.value.type == "ModelAuthenticationError"
    assert "Incorrect API key provided" in caught.value.message
    missing = check.model_copy(update={"sealed_credentials": seal({}, key)})
    with pytest.raises(ApplicationError, match="missing endpoint_url"):
        await env.run(check_model_credentials, missing)
    other_key = check.model_copy(update={"sealed_credentials": seal(credentials, "other key")})
    with pytest.raises(ApplicationError, match="was the key changed") as caught:
        await env.run(check_model_credentials, other_key)
    assert caught.value.non_retryable


def _conversation(turns: int, words: int) -> list[LlmMessage]:
    """A system prompt, ``turns`` remembered turns of about ``words`` tokens a side, a query."""
    messages = [LlmMessage(role="system", content="Be brief.")]
    for turn in range(turns):
        text = f"turn{turn} " + "word " * words
        messages.append(LlmMessage(role="user", content=f"Q {text}", memory=True))
        messages.append(LlmMessage(role="assistant", content=f"A {text}", memory=True))
    messages.append(LlmMessage(role="user", content="And now?"))
    return messages


def _sent_turns(fake_llm: FakeLLMServer) -> list[str]:
    sent = fake_llm.chat_requests()[-1].json["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[-1] == {"role": "user", "content": "And now?"}
    assert all("memory" not in message for message in sent)
    middle = sent[1:-1]
    # Whole turns only: a question, then its answer.
    assert [m["role"] for m in middle] == ["user", "assistant"] * (len(middle) // 2)
    return [str(m["content"]).split()[1] for m in middle[::2]]


@pytest.mark.usefixtures("gateway")
async def test_memory_is_cut_to_the_models_context(fake_llm: FakeLLMServer) -> None:
    import litellm

    # gpt-4 takes 8,192 input tokens; 12 turns of ~1,000 tokens and 1,000 kept for the reply.
    req = request(model="gpt-4", messages=_conversation(12, 500), params={"max_tokens": 1000})
    result: LlmResult = await invoke(req)
    kept = _sent_turns(fake_llm)
    assert 0 < len(kept) < 12
    assert result.left_out == list(range(1, 1 + 2 * (12 - len(kept))))
    assert kept == [f"turn{t}" for t in range(12 - len(kept), 12)]  # the newest, in order
    sent = fake_llm.chat_requests()[-1].json["messages"]
    assert litellm.token_counter(model="gpt-4", messages=sent) <= 8192 - 1000
    # One more (older) turn would not have fit.
    older = [
        {"role": m.role, "content": m.content} for m in req.messages[1:-1][-2 * len(kept) - 2 :]
    ]
    fuller = [sent[0], *older, sent[-1]]
    assert litellm.token_counter(model="gpt-4", messages=fuller) > 8192 - 1000
    # A conversation that fits is sent whole.
    await invoke(request(model="gpt-4", messages=_conversation(3, 500)))
    assert _sent_turns(fake_llm) == ["turn0", "turn1", "turn2"]


@pytest.mark.usefixtures("gateway")
async def test_memory_of_an_unknown_model_keeps_2000_tokens(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("fine", model="house-model-7")
    req = request(model="house-model-7", provider="acme/house/house")
    await invoke(req.model_copy(update={"messages": _conversation(10, 240)}))
    assert _sent_turns(fake_llm) == [f"turn{t}" for t in range(6, 10)]


async def test_a_call_past_the_time_limit_is_a_node_error(
    fake_llm: FakeLLMServer, gateway: Settings, use_settings: UseSettings
) -> None:
    use_settings(
        model_gateway_url=fake_llm.base_url,
        database_url=gateway.database_url or "",
        llm_timeout_s="1.5",
    )
    fake_llm.script(Reply(text="never " * 50, chunk_size=6, stall_after=3))
    started = time.monotonic()
    error = await failure(request())
    assert 1.4 < time.monotonic() - started < 5
    assert error.type == "ModelTimeout"
    assert "no complete answer within 1.5 s" in error.message and "gpt-4o-mini" in error.message


def test_tiered_prices_follow_the_token_counts() -> None:
    import litellm

    from tideflow.activities.llm.client import StreamAccumulator, model_usage

    accumulator = StreamAccumulator(False, lambda _kind, _text: None)
    accumulator.prompt_tokens, accumulator.completion_tokens = 1000, 500
    usage = model_usage("gemini/gemini-2.5-pro", [], accumulator, 0.5)
    # litellm prices gemini-2.5-pro higher above 200k prompt tokens; 1,000 pay the base price.
    cost = litellm.model_cost["gemini/gemini-2.5-pro"]
    base = (
        Decimal(str(cost["input_cost_per_token"])) * 1000
        + Decimal(str(cost["output_cost_per_token"])) * 500
    )
    assert Decimal(usage.total_price) == base
    assert Decimal(usage.prompt_unit_price) == Decimal(str(cost["input_cost_per_token"])) * 10**6


def test_token_counts_never_fetch_images() -> None:
    from tideflow.activities.llm.client import count_tokens

    image = {
        "type": "image_url",
        "image_url": {"url": "http://203.0.113.9/x.png", "detail": "high"},
    }
    messages = [{"role": "user", "content": [{"type": "text", "text": "what is it?"}, image]}]
    # litellm's default count for an image (a fetch would hit the loopback guard and fall back
    # to the 4-characters-a-token estimate, a handful of tokens).
    assert count_tokens("openai/gpt-4o", messages=messages) > 80
