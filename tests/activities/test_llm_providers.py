"""The provider table: Dify's provider names and credential fields to litellm's routes."""

from __future__ import annotations

import base64
import json

import pytest

from tideflow.plugins.model_providers import (
    UnknownProviderError,
    gateway_call_args,
    known_providers,
    litellm_call_args,
    provider_spec,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("langgenius/openai/openai", "openai"),
        ("openai", "openai"),
        ("langgenius/openai_api_compatible/openai_api_compatible", "openai_api_compatible"),
        ("azure_openai", "azure_openai"),
        ("langgenius/azure_openai/azure_openai", "azure_openai"),
        ("google", "gemini"),
        ("langgenius/gemini/google", "gemini"),
        ("langgenius/anthropic/anthropic", "anthropic"),
        ("langgenius/x/x", "xai"),
        ("langgenius/volcengine_maas/volcengine_maas", "volcengine"),
        ("langgenius/tongyi/tongyi", "tongyi"),
        ("Ollama", "ollama"),
        ("langgenius/bedrock/bedrock", "bedrock"),
    ],
)
def test_provider_names_resolve(name: str, expected: str) -> None:
    assert provider_spec(name).id == expected


def test_unknown_provider_is_named() -> None:
    with pytest.raises(UnknownProviderError, match="'acme/nothing/nothing'") as caught:
        provider_spec("acme/nothing/nothing")
    assert isinstance(caught.value, ValueError)


def test_every_provider_is_consistent() -> None:
    specs = known_providers()
    assert len({spec.id for spec in specs}) == len(specs) >= 20
    for spec in specs:
        assert provider_spec(spec.id) is spec
        assert spec.litellm_prefix and spec.label and spec.credential_fields
        assert "llm" in spec.model_types


def test_openai_credentials_map_and_base_gets_v1() -> None:
    model, kwargs = litellm_call_args(
        provider_spec("langgenius/openai/openai"),
        "gpt-4o",
        {
            "openai_api_key": "sk-1",
            "openai_api_base": "https://proxy.example.com/",
            "openai_organization": "",
        },
    )
    assert model == "openai/gpt-4o"
    assert kwargs == {"api_key": "sk-1", "api_base": "https://proxy.example.com/v1"}


def test_openai_compatible_uses_endpoint_and_its_model_name() -> None:
    spec = provider_spec("openai_api_compatible")
    model, kwargs = litellm_call_args(
        spec,
        "my-model",
        {"endpoint_url": "http://10.0.0.5:8000/v1", "endpoint_model_name": "served-name"},
    )
    # No key given: a placeholder, since OpenAI's client refuses to start without one.
    assert (model, kwargs) == (
        "openai/served-name",
        {"api_base": "http://10.0.0.5:8000/v1", "api_key": "no-key"},
    )


def test_azure_bedrock_ollama_tongyi_map() -> None:
    assert litellm_call_args(
        provider_spec("azure_openai"),
        "my-deployment",
        {
            "openai_api_base": "https://r.openai.azure.com",
            "openai_api_key": "k",
            "openai_api_version": "2024-10-21",
        },
    ) == (
        "azure/my-deployment",
        {"api_base": "https://r.openai.azure.com", "api_key": "k", "api_version": "2024-10-21"},
    )
    assert litellm_call_args(
        provider_spec("bedrock"),
        "anthropic.claude-3-haiku-20240307-v1:0",
        {"aws_access_key_id": "A", "aws_secret_access_key": "S", "aws_region": "us-east-1"},
    ) == (
        "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
        {"aws_access_key_id": "A", "aws_secret_access_key": "S", "aws_region_name": "us-east-1"},
    )
    ollama = provider_spec("ollama")
    assert litellm_call_args(ollama, "llama3", {"base_url": "http://gpu:11434"}) == (
        "ollama_chat/llama3",
        {"api_base": "http://gpu:11434"},
    )
    assert litellm_call_args(ollama, "nomic", {"base_url": "http://gpu:11434"}, "text-embedding")[
        0
    ] == ("ollama/nomic")
    assert litellm_call_args(provider_spec("tongyi"), "qwen-max", {"dashscope_api_key": "d"}) == (
        "dashscope/qwen-max",
        {"api_key": "d"},
    )


def test_compatible_services_get_their_default_base() -> None:
    _, kwargs = litellm_call_args(provider_spec("siliconflow"), "Qwen/Qwen3-8B", {"api_key": "s"})
    assert kwargs == {"api_key": "s", "api_base": "https://api.siliconflow.cn/v1"}


def test_vertex_service_account_key_is_decoded() -> None:
    account = json.dumps({"type": "service_account", "project_id": "p"})
    credentials = {
        "vertex_project_id": "p",
        "vertex_location": "us-central1",
        "vertex_service_account_key": base64.b64encode(account.encode()).decode(),
    }
    _, kwargs = litellm_call_args(provider_spec("vertex_ai"), "gemini-2.0-flash", credentials)
    assert json.loads(kwargs["vertex_credentials"]) == {
        "type": "service_account",
        "project_id": "p",
    }
    assert kwargs["vertex_project"] == "p"
    with pytest.raises(ValueError, match="vertex_service_account_key"):
        litellm_call_args(
            provider_spec("vertex_ai"), "m", {**credentials, "vertex_service_account_key": "%%"}
        )


def test_gateway_routes_every_model_as_openai() -> None:
    assert gateway_call_args("http://gw:4000/v1/", "gk", "claude-3-5-sonnet") == (
        "openai/claude-3-5-sonnet",
        {"api_base": "http://gw:4000/v1", "api_key": "gk"},
    )
    assert gateway_call_args("http://gw:4000/v1", None, "m")[1]["api_key"] == "no-key"
