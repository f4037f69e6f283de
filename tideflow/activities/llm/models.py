"""What crosses Temporal for a model call: ``LlmRequest`` in, ``LlmResult`` out (pure pydantic).

Workflow code (the llm, parameter-extractor and question-classifier nodes) builds the request;
the ``llm_invoke`` activity resolves the tenant's credentials (never carried in the request, so
keys stay out of workflow history), calls litellm, streams chunks to the stream store and
returns the result. This module imports nothing but pydantic, so workflow code may import it
(passed through the sandbox).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

LLM_ACTIVITY = "llm_invoke"
CHECK_CREDENTIALS_ACTIVITY = "check_model_credentials"


class LlmMessage(BaseModel):
    """One chat message in OpenAI's shape (litellm's lingua franca).

    ``content`` is text, or a list of parts: ``{"type": "text", "text": ...}`` and
    ``{"type": "image_file", "file": <Dify file dict>, "detail": "high"|"low"}``; the activity
    turns an ``image_file`` into an ``image_url`` part (a remote URL, or a data URL read from the
    file store), so file bytes never ride in workflow history.
    """

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] = ""
    # Assistant messages that called tools: OpenAI ``tool_calls`` entries.
    tool_calls: list[dict[str, Any]] | None = None
    # Tool messages: the call they answer.
    tool_call_id: str | None = None
    name: str | None = None
    # A turn of the conversation's memory: the activity may leave the oldest out to fit the
    # model's context (``window.fit_memory``). Never sent.
    memory: bool = False


class StreamTarget(BaseModel):
    """Where the activity appends the text chunks it receives (``tideflow.platform.streams``)."""

    # The run's id (``sys.workflow_run_id``): the API's SSE relay reads chunks by it.
    run_id: str
    node_id: str
    node_run_id: str


class LlmRequest(BaseModel):
    """One model call as a node asks for it."""

    tenant_id: str = ""
    # The provider as the DSL names it (``langgenius/openai/openai``, ``openai``...).
    provider: str
    model: str
    mode: Literal["chat", "completion"] = "chat"
    # Completion mode: one user message holding the whole prompt.
    messages: list[LlmMessage]
    # The node's ``completion_params`` as written in the DSL (temperature, max_tokens, stop...).
    params: dict[str, Any] = Field(default_factory=dict[str, Any])
    # OpenAI function tools (parameter-extractor's function_call mode, agent steps).
    tools: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    tool_choice: str | dict[str, Any] | None = None
    # A JSON schema the answer must follow (structured output), sent as response_format when the
    # model supports it; the node parses the text either way.
    json_schema: dict[str, Any] | None = None
    stream: StreamTarget | None = None
    # Dify's ``reasoning_format: separated``: ``<think>`` blocks leave the text (streamed and
    # final) for ``reasoning_content``; otherwise (``tagged``) the text keeps them.
    separate_reasoning: bool = False
    # Node id (sent as ``X-Tideflow-Node`` so gateways and the test fake can tell calls apart).
    node_id: str = ""
    # The node's retry_config attempts (``tideflow.activities.heartbeat.node_attempts``).
    max_attempts: int = 1


class LlmUsage(BaseModel):
    """Dify's LLMUsage: tokens, prices (0 when the model's price is unknown) and latency."""

    prompt_tokens: int = 0
    prompt_unit_price: str = "0"
    prompt_price_unit: str = "0.000001"
    prompt_price: str = "0"
    completion_tokens: int = 0
    completion_unit_price: str = "0"
    completion_price_unit: str = "0.000001"
    completion_price: str = "0"
    total_tokens: int = 0
    total_price: str = "0"
    currency: str = "USD"
    latency: float = 0.0


class LlmResult(BaseModel):
    """The model's answer."""

    text: str = ""
    reasoning_content: str = ""
    tool_calls: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    finish_reason: str = "stop"
    usage: LlmUsage = Field(default_factory=LlmUsage)
    # The litellm model string the call went to (``openai/gpt-4o``...).
    model: str = ""
    # The attempt that succeeded (the engine counts retries from it).
    attempt: int = 1
    # Indexes of the request's messages not sent: the oldest memory turns, which did not fit
    # the model's context.
    left_out: list[int] = Field(default_factory=list[int])


class CredentialCheck(BaseModel):
    """Validate credentials for a provider with one cheap call (before they are saved)."""

    provider: str
    # The credentials as ``model_credentials.seal`` encrypts them (Fernet, TIDEFLOW_SECRET_KEY):
    # this payload lands in Temporal's history, which must not hold them in clear.
    sealed_credentials: str
    # A model to try; empty: the provider's cheapest known one.
    model: str = ""
    model_type: Literal["llm", "text-embedding", "rerank"] = "llm"
    # CheckModelCredentialsWorkflow: worker pool -> task queue (tideflow.workflows.task_queues);
    # empty: the check runs on the workflow's own queue.
    activity_queues: dict[str, str] = Field(default_factory=dict[str, str])
