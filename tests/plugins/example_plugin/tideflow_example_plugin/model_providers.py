"""Model provider ``example_llm``: an OpenAI-compatible server at a base URL the workspace
gives, reached through litellm's ``openai/`` route."""

from __future__ import annotations

from tideflow.plugins.model_providers import CredentialField, ProviderSpec

PROVIDERS = (
    ProviderSpec(
        id="example_llm",
        label="Example LLM",
        litellm_prefix="openai",
        credential_fields=(
            CredentialField("api_key", "API Key", secret=True, litellm_arg="api_key"),
            CredentialField("endpoint_url", "API Base URL", required=True, litellm_arg="api_base"),
        ),
        model_types=("llm", "text-embedding"),
        aliases=("example_llm_v2",),
    ),
)
