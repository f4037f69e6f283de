"""The model providers Tideflow knows: Dify's provider names, credentials, and litellm's routes.

A Dify DSL names a provider as its plugin does (``langgenius/openai/openai``, ``openai``,
``langgenius/gemini/google``...) and stores credentials under the plugin's field names
(``openai_api_key``, ``endpoint_url``...). ``provider_spec`` finds the provider;
``litellm_call_args`` turns a model and those credentials into what litellm takes
(``openai/gpt-4o`` and ``api_key``, ``api_base``...). Pure data and string handling: the API
imports this without importing litellm.

Providers register through entry points of group ``tideflow.model_providers`` (the object: a
``ProviderSpec`` or a sequence of them); the built-in table is Tideflow's own entry point.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

log = logging.getLogger("tideflow.plugins.model_providers")

GROUP = "tideflow.model_providers"

ModelType = Literal["llm", "text-embedding", "rerank"]

# Sent as the key when a server needs none (a local OpenAI-compatible server, a keyless
# gateway): OpenAI's client refuses to start without one.
NO_KEY = "no-key"


class UnknownProviderError(ValueError):
    """A provider name no installed provider answers to."""

    def __init__(self, provider: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown model provider {provider!r} (known: {', '.join(known)})")
        self.provider = provider


@dataclass(frozen=True)
class CredentialField:
    """One credential as Dify's provider form has it, and the litellm argument it becomes."""

    name: str
    label: str
    secret: bool = False
    required: bool = False
    # litellm's keyword for it; empty: not passed to litellm (read by the table itself).
    litellm_arg: str = ""


@dataclass(frozen=True)
class ProviderSpec:
    """A provider: its canonical id, how litellm reaches it and the credentials it takes."""

    id: str
    label: str
    litellm_prefix: str
    credential_fields: tuple[CredentialField, ...]
    model_types: tuple[ModelType, ...] = ("llm",)
    # A cheap model for checking credentials; empty: the check must name one.
    check_model: str = ""
    # The server when the credentials give none (OpenAI-compatible services).
    default_api_base: str = ""
    # Appended to a given api_base lacking it (Dify's OpenAI form takes the host only).
    api_base_suffix: str = ""
    # A credential whose value, when set, is the model name the server knows.
    model_field: str = ""
    # litellm's prefix for embeddings when it differs from the chat one.
    embedding_prefix: str = ""
    # Other names Dify (old and new) and litellm use for the same provider.
    aliases: tuple[str, ...] = ()


def _key(name: str = "api_key", label: str = "API Key", required: bool = True) -> CredentialField:
    return CredentialField(name, label, secret=True, required=required, litellm_arg="api_key")


def _base(
    name: str = "endpoint_url", label: str = "API Base URL", required: bool = False
) -> CredentialField:
    return CredentialField(name, label, required=required, litellm_arg="api_base")


def _simple(
    id_: str, label: str, prefix: str, check_model: str, *extra: CredentialField, **kw: Any
) -> ProviderSpec:
    """A provider that takes an API key (and maybe a base URL)."""
    return ProviderSpec(id_, label, prefix, (_key(), *extra), check_model=check_model, **kw)


BUILTIN_PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "openai",
        "OpenAI",
        "openai",
        (
            _key("openai_api_key"),
            CredentialField("openai_organization", "Organization", litellm_arg="organization"),
            _base("openai_api_base"),
        ),
        model_types=("llm", "text-embedding"),
        check_model="gpt-4o-mini",
        api_base_suffix="/v1",
    ),
    ProviderSpec(
        "anthropic",
        "Anthropic",
        "anthropic",
        (_key("anthropic_api_key"), _base("anthropic_api_url", "API URL")),
        check_model="claude-3-5-haiku-20241022",
    ),
    ProviderSpec(
        "gemini",
        "Gemini",
        "gemini",
        (_key("google_api_key"),),
        check_model="gemini-2.0-flash",
        aliases=("google",),
    ),
    ProviderSpec(
        "azure_openai",
        "Azure OpenAI Service",
        "azure",
        (
            _base("openai_api_base", required=True),
            _key("openai_api_key"),
            CredentialField("openai_api_version", "API Version", litellm_arg="api_version"),
        ),
        model_types=("llm", "text-embedding"),
        aliases=("azure",),
    ),
    ProviderSpec(
        "bedrock",
        "Amazon Bedrock",
        "bedrock",
        (
            CredentialField(
                "aws_access_key_id", "Access Key", secret=True, litellm_arg="aws_access_key_id"
            ),
            CredentialField(
                "aws_secret_access_key",
                "Secret Access Key",
                secret=True,
                litellm_arg="aws_secret_access_key",
            ),
            CredentialField(
                "aws_region", "AWS Region", required=True, litellm_arg="aws_region_name"
            ),
            CredentialField(
                "bedrock_endpoint_url",
                "Bedrock Endpoint URL",
                litellm_arg="aws_bedrock_runtime_endpoint",
            ),
        ),
        model_types=("llm", "text-embedding", "rerank"),
        check_model="anthropic.claude-3-haiku-20240307-v1:0",
        aliases=("aws_bedrock",),
    ),
    ProviderSpec(
        "ollama",
        "Ollama",
        "ollama_chat",
        (_base("base_url", "Base URL", required=True), _key(required=False)),
        model_types=("llm", "text-embedding"),
        embedding_prefix="ollama",
        aliases=("ollama_chat",),
    ),
    ProviderSpec(
        "openai_api_compatible",
        "OpenAI-API-compatible",
        "openai",
        (
            _key(required=False),
            _base(required=True),
            CredentialField("endpoint_model_name", "Model name for API endpoint"),
        ),
        model_types=("llm", "text-embedding", "rerank"),
        model_field="endpoint_model_name",
    ),
    _simple("deepseek", "DeepSeek", "deepseek", "deepseek-chat", _base()),
    _simple(
        "mistralai", "Mistral AI", "mistral", "mistral-small-latest", _base(), aliases=("mistral",)
    ),
    _simple("groq", "Groq", "groq", "llama-3.1-8b-instant"),
    _simple("openrouter", "OpenRouter", "openrouter", "openai/gpt-4o-mini"),
    _simple("xai", "xAI", "xai", "grok-3-mini", _base(), aliases=("x",)),
    _simple(
        "cohere",
        "Cohere",
        "cohere_chat",
        "command-r",
        model_types=("llm", "text-embedding", "rerank"),
        embedding_prefix="cohere",
    ),
    ProviderSpec(
        "vertex_ai",
        "Vertex AI",
        "vertex_ai",
        (
            CredentialField(
                "vertex_project_id", "Project ID", required=True, litellm_arg="vertex_project"
            ),
            CredentialField(
                "vertex_location", "Location", required=True, litellm_arg="vertex_location"
            ),
            CredentialField(
                "vertex_service_account_key",
                "Service Account Key (base64 JSON)",
                secret=True,
                litellm_arg="vertex_credentials",
            ),
        ),
        model_types=("llm", "text-embedding"),
        check_model="gemini-2.0-flash",
        aliases=("vertex",),
    ),
    _simple(
        "togetherai",
        "Together AI",
        "together_ai",
        "meta-llama/Llama-3.2-3B-Instruct-Turbo",
        aliases=("together_ai",),
    ),
    ProviderSpec(
        "fireworks",
        "Fireworks AI",
        "fireworks_ai",
        (_key("fireworks_api_key"),),
        check_model="accounts/fireworks/models/llama-v3p1-8b-instruct",
        aliases=("fireworks_ai",),
    ),
    _simple("perplexity", "Perplexity", "perplexity", "sonar"),
    _simple(
        "zhipuai",
        "ZHIPU AI",
        "openai",
        "glm-4-flash",
        default_api_base="https://open.bigmodel.cn/api/paas/v4",
        aliases=("zhipu",),
    ),
    ProviderSpec(
        "tongyi",
        "Tongyi (DashScope)",
        "dashscope",
        (_key("dashscope_api_key"),),
        model_types=("llm", "text-embedding", "rerank"),
        check_model="qwen-turbo",
        aliases=("dashscope",),
    ),
    _simple("moonshot", "Moonshot AI", "moonshot", "moonshot-v1-8k", _base()),
    _simple(
        "siliconflow",
        "SiliconFlow",
        "openai",
        "Qwen/Qwen2.5-7B-Instruct",
        model_types=("llm", "text-embedding", "rerank"),
        default_api_base="https://api.siliconflow.cn/v1",
    ),
    ProviderSpec(
        "volcengine",
        "Volcengine Ark",
        "volcengine",
        (
            _key("ark_api_key"),
            _base("api_endpoint_host", "API Endpoint Host"),
            CredentialField("endpoint_id", "Endpoint ID"),
        ),
        model_types=("llm", "text-embedding"),
        model_field="endpoint_id",
        aliases=("volcengine_maas",),
    ),
)


def _plugin_specs() -> list[tuple[str, ProviderSpec]]:
    """(entry-point name, spec) of every ProviderSpec the allowed entry points give."""
    from tideflow.plugins.registry import plugins

    found: list[tuple[str, ProviderSpec]] = []
    for entry_name, obj in plugins(GROUP).items():
        items = tuple(cast(Sequence[object], obj)) if isinstance(obj, list | tuple) else (obj,)
        for item in items:
            if isinstance(item, ProviderSpec):
                found.append((entry_name, item))
            else:
                kind = type(item).__name__
                log.error(
                    "model provider plugin %s gives a %s, not a ProviderSpec", entry_name, kind
                )
    return found


def _index() -> dict[str, ProviderSpec]:
    """Installed providers by lower-cased id and alias: the built-ins, then plugins' (read on
    every call, as the allow-list may change; ``plugins`` caches the loading). A plugin's spec
    that reuses a taken id or alias is logged and left out."""
    index: dict[str, ProviderSpec] = {}
    for spec in BUILTIN_PROVIDERS:  # also when the entry points' metadata predates them
        for key in (spec.id, *spec.aliases):
            index.setdefault(key.lower(), spec)
    for entry_name, spec in _plugin_specs():
        keys = {key.lower() for key in (spec.id, *spec.aliases)}
        if spec in BUILTIN_PROVIDERS:
            continue
        taken = sorted(keys & index.keys())
        if taken:
            log.error(
                "model provider plugin %s: provider %s skipped: %s already taken",
                entry_name,
                spec.id,
                taken,
            )
            continue
        index.update(dict.fromkeys(keys, spec))
    return index


def known_providers() -> list[ProviderSpec]:
    """Every installed provider, in display order: the built-ins, then plugins'."""
    return list(dict.fromkeys(_index().values()))


def provider_spec(dify_provider: str) -> ProviderSpec:
    """The provider a DSL names: ``openai``, ``langgenius/openai/openai``, ``google``...

    A plugin id (``org/plugin/provider``) is tried by its provider name, then its plugin name.
    Raises UnknownProviderError naming the provider.
    """
    index = _index()
    parts = [part.strip().lower() for part in dify_provider.split("/") if part.strip()]
    for name in reversed(parts[-2:]):
        if name in index:
            return index[name]
    known = [spec.id for spec in dict.fromkeys(index.values())]
    raise UnknownProviderError(dify_provider, known)


def litellm_call_args(
    spec: ProviderSpec,
    model: str,
    credentials: Mapping[str, Any],
    model_type: ModelType = "llm",
) -> tuple[str, dict[str, Any]]:
    """litellm's model string (``openai/gpt-4o``) and keyword arguments for these credentials.

    Empty credential values are left out, so litellm's defaults apply.
    """
    kwargs: dict[str, Any] = {}
    for field in spec.credential_fields:
        value = credentials.get(field.name)
        if field.litellm_arg and value not in (None, ""):
            kwargs[field.litellm_arg] = _credential_value(field, value)
    api_base = str(kwargs.get("api_base") or spec.default_api_base).rstrip("/")
    if api_base:
        if spec.api_base_suffix and not api_base.endswith(spec.api_base_suffix):
            api_base += spec.api_base_suffix
        kwargs["api_base"] = api_base
    if spec.litellm_prefix == "openai" and "api_key" not in kwargs:
        kwargs["api_key"] = NO_KEY
    server_model = str(credentials.get(spec.model_field) or "") if spec.model_field else ""
    prefix = spec.embedding_prefix if model_type == "text-embedding" else ""
    return f"{prefix or spec.litellm_prefix}/{server_model or model}", kwargs


def gateway_call_args(
    gateway_url: str, gateway_key: str | None, model: str
) -> tuple[str, dict[str, Any]]:
    """Route a call to an OpenAI-compatible gateway, whatever the model's provider."""
    return f"openai/{model}", {
        "api_base": gateway_url.rstrip("/"),
        "api_key": gateway_key or NO_KEY,
    }


def _credential_value(field: CredentialField, value: Any) -> Any:
    if field.litellm_arg == "vertex_credentials":
        return _service_account_json(str(value))
    return value.strip() if isinstance(value, str) else value


def _service_account_json(value: str) -> str:
    """Dify stores the Vertex service-account key base64-encoded; litellm wants the JSON."""
    text = value.strip()
    if text.startswith("{"):
        return text
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(
            "vertex_service_account_key: expected the service-account JSON, or it base64-encoded"
        ) from None
