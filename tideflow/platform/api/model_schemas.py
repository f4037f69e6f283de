"""Bodies of the console's model provider and default model routes (Dify's field names)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from tideflow.plugins.model_providers import CredentialField, ProviderSpec

# Dify's model types a workspace can pick a default for.
DefaultModelType = Literal["llm", "text-embedding", "rerank", "speech2text", "tts"]


class CredentialsBody(BaseModel):
    """``POST .../model-providers/{provider}/credentials``: the provider's credential form.

    ``model`` is the model the check call uses (the provider's cheap default when omitted).
    """

    credentials: dict[str, Any]
    model: str | None = Field(default=None, max_length=255)


class DefaultModelSetting(BaseModel):
    """One entry of ``model_settings``; an entry without a provider is skipped (as Dify)."""

    model_type: DefaultModelType
    provider: str | None = Field(default=None, max_length=255)
    model: str = Field(max_length=255)


class DefaultModelsBody(BaseModel):
    """``POST /console/api/workspaces/current/default-model``."""

    model_settings: list[DefaultModelSetting]


class FormSchema(BaseModel):
    """One credential field as Dify's ``credential_form_schemas`` has it."""

    variable: str
    label: dict[str, str]
    type: Literal["secret-input", "text-input"]
    required: bool

    @classmethod
    def of(cls, field: CredentialField) -> FormSchema:
        """From the provider's field."""
        return cls(
            variable=field.name,
            label={"en_US": field.label},
            type="secret-input" if field.secret else "text-input",
            required=field.required,
        )


class CustomConfiguration(BaseModel):
    """Whether the workspace has its own credentials for the provider (Dify's statuses)."""

    status: Literal["active", "no-configure"]


class ProviderPublic(BaseModel):
    """A provider as the console lists it; ``credentials`` has every secret masked."""

    provider: str
    label: dict[str, str]
    supported_model_types: list[str]
    provider_credential_schema: dict[str, list[FormSchema]]
    custom_configuration: CustomConfiguration
    credentials: dict[str, Any] | None
    # Why the stored credentials cannot be used (they cannot be decrypted), else None.
    error: str | None = None

    @classmethod
    def of(cls, spec: ProviderSpec, masked: Mapping[str, Any] | None) -> ProviderPublic:
        """From the provider and the tenant's masked credentials (None: not configured)."""
        return cls(
            provider=spec.id,
            label={"en_US": spec.label},
            supported_model_types=list(spec.model_types),
            provider_credential_schema={
                "credential_form_schemas": [FormSchema.of(f) for f in spec.credential_fields]
            },
            custom_configuration=CustomConfiguration(
                status="active" if masked is not None else "no-configure"
            ),
            credentials=dict(masked) if masked is not None else None,
        )


class ProviderBrief(BaseModel):
    """The provider of a default model (Dify's ``SimpleProviderEntity`` fields we have)."""

    provider: str
    label: dict[str, str]
    supported_model_types: list[str]


class DefaultModelPublic(BaseModel):
    """A workspace's default model of one type."""

    model: str
    model_type: str
    provider: ProviderBrief
