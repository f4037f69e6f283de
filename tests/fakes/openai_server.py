"""A scriptable OpenAI-compatible model server on 127.0.0.1, for tests and benchmarks.

litellm talks to it exactly as to OpenAI (``model="openai/<name>"``, ``api_base=<base_url>``), so
the real client path runs. It serves ``/v1/chat/completions`` (SSE streaming with a final usage
chunk when ``stream_options.include_usage``, or one JSON answer), ``/v1/embeddings``
(deterministic vectors from a hash of each text; with ``embedding_mode = "bow"``, bag-of-words
vectors whose cosine similarity grows with shared words), ``/v1/rerank`` (the vLLM/Cohere shape
litellm's ``hosted_vllm/`` rerank route posts; score: the share of the query's words found in
the document) and ``/v1/models``.

What it answers is scripted per call: ``script`` a ``Reply`` (text, reasoning, tool calls, pacing,
a stall) or ``fail`` with a status for the next N calls, matched by the ``X-Tideflow-Node`` header
and/or the model name; otherwise it echoes the last user message. Every request is recorded with
the times its chunks were sent (``requests``), for assertions and the first-token benchmark.

    server = start_fake_llm_server()
    server.script(Reply(text="hello"), node="llm1")
    ...  # calls to server.base_url
    server.close()
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

NODE_HEADER = "x-tideflow-node"

EmbeddingMode = Literal["hash", "bow"]


@dataclass
class Reply:
    """One scripted answer of /v1/chat/completions."""

    text: str = ""
    reasoning_content: str = ""
    # OpenAI tool calls: {"id", "function": {"name", "arguments"}} ("type" is added).
    tool_calls: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    # Characters per streamed content/reasoning/arguments chunk.
    chunk_size: int = 4
    # Seconds before the first chunk, and between chunks.
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    # Send this many chunks, then hang (until the client goes away or the server is reset).
    stall_after: int | None = None
    # Defaults: "tool_calls" when there are tool calls, else "stop".
    finish_reason: str | None = None
    # Token counts to report instead of the computed ones.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class Failure:
    """A scripted error answer: a status, a JSON body and headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict[str, str])


def error_body(message: str, type_: str = "invalid_request_error", code: str | None = None) -> dict:
    """An error body as OpenAI writes it."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def rate_limited(retry_after: str | None = "2") -> Failure:
    """A 429, with a Retry-After header unless ``retry_after`` is None."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Failure(429, error_body("Rate limit reached for requests", "requests"), headers)


def unauthorized() -> Failure:
    """A 401 as OpenAI answers a wrong key."""
    return Failure(
        401, error_body("Incorrect API key provided", "invalid_request_error", "invalid_api_key")
    )


def context_too_long() -> Failure:
    """A 400 as OpenAI answers a prompt over the model's context window."""
    message = (
        "This model's maximum context length is 8192 tokens. However, your messages resulted "
        "in 9000 tokens. Please reduce the length of the messages."
    )
    return Failure(400, error_body(message, "invalid_request_error", "context_length_exceeded"))


@dataclass
class RecordedRequest:
    """A request as it arrived, and when each of its chunks left."""

    path: str
    headers: dict[str, str]
    json: dict[str, Any]
    received_monotonic: float
    received_wall: float
    # (time.monotonic(), time.time()) per chunk sent (one entry for a non-streamed answer).
    chunk_times: list[tuple[float, float]] = field(default_factory=list[tuple[float, float]])
    status: int = 200


@dataclass
class _Rule:
    node: str | None
    model: str | None
    answer: Reply | Failure
    # Calls left; None: every matching call.
    remaining: int | None


def _words(text: str) -> int:
    return len(text.split())


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        parts: list[Any] = content
        return " ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
    return str(content or "")


class FakeLLMServer:
    """The server's state and scripting API; ``start_fake_llm_server`` starts one."""

    def __init__(self) -> None:
        self.base_url = ""
        self.embedding_dim = 8
        # "hash": a vector per exact text; "bow": words hashed into buckets (see _bow_vector).
        self.embedding_mode: EmbeddingMode = "hash"
        # Seconds each embeddings call takes (a slow provider, for pause and kill tests).
        self.embedding_delay_s = 0.0
        self.requests: list[RecordedRequest] = []
        self.calls: Counter[str] = Counter()
        self.embedded_texts = 0
        self.rerank_calls = 0
        self.reranked_documents = 0
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = self._build_app()

    # -- scripting -------------------------------------------------------------------------

    def script(
        self,
        reply: Reply | str,
        *,
        node: str | None = None,
        model: str | None = None,
        times: int | None = None,
    ) -> None:
        """Answer calls matching ``node`` (X-Tideflow-Node) and ``model`` with ``reply``.

        Later scripts win over earlier ones; ``times`` limits how many calls it answers.
        """
        answer = Reply(text=reply) if isinstance(reply, str) else reply
        with self._lock:
            self._rules.insert(0, _Rule(node, model, answer, times))

    def fail(
        self,
        failure: Failure,
        *,
        times: int = 1,
        node: str | None = None,
        model: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching calls with ``failure``."""
        with self._lock:
            self._rules.insert(0, _Rule(node, model, failure, times))

    def reset(self) -> None:
        """Forget scripts and records; stalled streams end."""
        with self._lock:
            self._rules.clear()
            self.requests.clear()
            self.calls.clear()
            self.embedded_texts = 0
            self.embedding_dim = 8
            self.embedding_mode = "hash"
            self.embedding_delay_s = 0.0
            self.rerank_calls = 0
            self.reranked_documents = 0
        self._released.set()
        self._released = threading.Event()

    def chat_requests(self, node: str | None = None) -> list[RecordedRequest]:
        """The recorded chat-completion requests (of ``node``, when given)."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.endswith("/chat/completions")
                and (node is None or r.headers.get(NODE_HEADER) == node)
            ]

    def _answer_for(self, node: str | None, model: str | None) -> Reply | Failure | None:
        with self._lock:
            for rule in self._rules:
                if rule.node not in (None, node) or rule.model not in (None, model):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                return rule.answer
        return None

    def _record(self, request: Request, body: dict[str, Any]) -> RecordedRequest:
        record = RecordedRequest(
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            json=body,
            received_monotonic=time.monotonic(),
            received_wall=time.time(),
        )
        with self._lock:
            self.requests.append(record)
            self.calls[request.url.path] += 1
        return record

    # -- the app ---------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
            body = await request.json()
            record = self._record(request, body)
            answer = self._answer_for(request.headers.get(NODE_HEADER), body.get("model"))
            if isinstance(answer, Failure):
                record.status = answer.status
                return JSONResponse(answer.body, answer.status, headers=answer.headers)
            reply = answer or Reply(text=self._echo(body))
            if body.get("stream"):
                return StreamingResponse(
                    self._stream(reply, body, record), media_type="text/event-stream"
                )
            record.chunk_times.append((time.monotonic(), time.time()))
            return JSONResponse(self._completion(reply, body))

        @app.post("/v1/embeddings")
        async def embeddings(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
            body = await request.json()
            record = self._record(request, body)
            answer = self._answer_for(request.headers.get(NODE_HEADER), body.get("model"))
            if isinstance(answer, Failure):
                record.status = answer.status
                return JSONResponse(answer.body, answer.status, headers=answer.headers)
            texts = body.get("input")
            texts = [texts] if isinstance(texts, str) else list(texts or [])
            if self.embedding_delay_s:
                await asyncio.sleep(self.embedding_delay_s)
            dim = int(body.get("dimensions") or self.embedding_dim)
            with self._lock:
                self.embedded_texts += len(texts)
            embed = _bow_vector if self.embedding_mode == "bow" else _vector
            data = [
                {"object": "embedding", "index": i, "embedding": embed(str(text), dim)}
                for i, text in enumerate(texts)
            ]
            tokens = sum(_words(str(text)) for text in texts)
            return JSONResponse(
                {
                    "object": "list",
                    "data": data,
                    "model": body.get("model"),
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
            )

        @app.post("/v1/rerank")
        async def rerank(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
            body = await request.json()
            record = self._record(request, body)
            answer = self._answer_for(request.headers.get(NODE_HEADER), body.get("model"))
            if isinstance(answer, Failure):
                record.status = answer.status
                return JSONResponse(answer.body, answer.status, headers=answer.headers)
            documents = [_document_text(d) for d in body.get("documents") or []]
            with self._lock:
                self.rerank_calls += 1
                self.reranked_documents += len(documents)
            query = str(body.get("query") or "")
            scored = [(i, _overlap(query, doc)) for i, doc in enumerate(documents)]
            scored.sort(key=lambda pair: -pair[1])  # stable: equal scores keep input order
            top_n = body.get("top_n")
            results: list[dict[str, Any]] = [
                {"index": i, "relevance_score": score} for i, score in scored[:top_n]
            ]
            if body.get("return_documents"):
                for result in results:
                    result["document"] = {"text": documents[result["index"]]}
            tokens = _words(query) * len(documents) + sum(_words(doc) for doc in documents)
            return JSONResponse(
                {
                    "id": f"rerank-{uuid.uuid4().hex[:12]}",
                    "model": body.get("model"),
                    "results": results,
                    "usage": {"total_tokens": tokens},
                }
            )

        @app.get("/v1/models")
        async def models() -> dict[str, Any]:  # pyright: ignore[reportUnusedFunction]
            return {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}

        return app

    @staticmethod
    def _echo(body: dict[str, Any]) -> str:
        for message in reversed(body.get("messages") or []):
            if message.get("role") == "user":
                return _message_text(message)
        return ""

    @staticmethod
    def _usage(reply: Reply, body: dict[str, Any]) -> dict[str, int]:
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = sum(_words(_message_text(m)) for m in body.get("messages") or [])
        completion = reply.completion_tokens
        if completion is None:
            completion = _words(reply.text) + _words(reply.reasoning_content)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    @staticmethod
    def _finish(reply: Reply) -> str:
        return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")

    def _completion(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.reasoning_content:
            message["reasoning_content"] = reply.reasoning_content
        if reply.tool_calls:
            message["tool_calls"] = [{"type": "function", **call} for call in reply.tool_calls]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish(reply)}],
            "usage": self._usage(reply, body),
        }

    def _deltas(self, reply: Reply) -> list[dict[str, Any]]:
        size = max(1, reply.chunk_size)
        deltas: list[dict[str, Any]] = [
            {"reasoning_content": reply.reasoning_content[i : i + size]}
            for i in range(0, len(reply.reasoning_content), size)
        ]
        deltas += [{"content": reply.text[i : i + size]} for i in range(0, len(reply.text), size)]
        for index, call in enumerate(reply.tool_calls):
            function = call.get("function", {})
            deltas.append(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call.get("id", f"call_{index}"),
                            "type": "function",
                            "function": {"name": function.get("name", ""), "arguments": ""},
                        }
                    ]
                }
            )
            arguments = str(function.get("arguments", ""))
            deltas += [
                {
                    "tool_calls": [
                        {"index": index, "function": {"arguments": arguments[i : i + size]}}
                    ]
                }
                for i in range(0, len(arguments), size)
            ]
        if deltas:
            deltas[0] = {"role": "assistant", **deltas[0]}
        return deltas

    async def _stream(
        self, reply: Reply, body: dict[str, Any], record: RecordedRequest
    ) -> AsyncIterator[bytes]:
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model"),
        }
        released = self._released
        if reply.first_token_delay:
            await asyncio.sleep(reply.first_token_delay)
        for sent, delta in enumerate(self._deltas(reply)):
            if reply.stall_after is not None and sent >= reply.stall_after:
                while not released.is_set():
                    await asyncio.sleep(0.05)
                return
            if sent and reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            record.chunk_times.append((time.monotonic(), time.time()))
            yield _sse(chunk)
        finish = {"index": 0, "delta": {}, "finish_reason": self._finish(reply)}
        yield _sse({**base, "choices": [finish]})
        if (body.get("stream_options") or {}).get("include_usage"):
            yield _sse({**base, "choices": [], "usage": self._usage(reply, body)})
        yield b"data: [DONE]\n\n"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, port: int = 0) -> None:
        """Serve on 127.0.0.1:``port`` (0: any free port) in a daemon thread."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        bound_port = int(sock.getsockname()[1])
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake model server did not start")
            time.sleep(0.01)
        self.base_url = f"http://127.0.0.1:{bound_port}/v1"

    def close(self) -> None:
        """Stop serving (stalled streams are released first)."""
        self._released.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def _sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _vector(text: str, dim: int) -> list[float]:
    """A unit vector drawn from the text's hash: equal texts, equal vectors."""
    values: list[float] = []
    counter = 0
    while len(values) < dim:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values += [(byte - 127.5) / 127.5 for byte in digest]
        counter += 1
    values = values[:dim]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _word_list(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


def _bow_vector(text: str, dim: int) -> list[float]:
    """Words (lower-cased runs of letters and digits) counted into ``dim`` buckets by their
    hash, L2-normalised: texts sharing words point the same way. No words: the hash vector."""
    values = [0.0] * dim
    for word in _word_list(text):
        bucket = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big") % dim
        values[bucket] += 1.0
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values] if norm else _vector(text, dim)


def _document_text(document: Any) -> str:
    """A rerank document: a string, or an object with ``text``."""
    if isinstance(document, dict):
        return str(document.get("text", ""))
    return str(document)


def _overlap(query: str, document: str) -> float:
    """The share of the query's distinct words that the document holds."""
    query_words = set(_word_list(query))
    if not query_words:
        return 0.0
    return len(query_words & set(_word_list(document))) / len(query_words)


def start_fake_llm_server(port: int = 0) -> FakeLLMServer:
    """Start a fake server (``port`` 0: a free one); ``.close()`` it when done."""
    server = FakeLLMServer()
    server.start(port)
    return server
