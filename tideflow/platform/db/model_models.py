"""Model providers per tenant (credentials, default models) and the token stream store.

``StreamChunk`` rows are the side channel of token streaming: the ``llm_invoke`` activity
appends the chunks it receives, the API's SSE relay reads them by run id while the model
streams, and the API deletes a run's chunks once the run has ended (its final text is in the
workflow's history, the durable record). It is the one table a worker writes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from tideflow.platform.db.ids import new_id, utcnow


class ProviderCredential(SQLModel, table=True):
    """One tenant's credentials for one model provider (Fernet-encrypted JSON)."""

    __table_args__ = (UniqueConstraint("tenant_id", "provider"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    # The canonical provider id (``tideflow.plugins.model_providers``): openai, anthropic...
    provider: str = Field(max_length=128)
    encrypted_credentials: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DefaultModel(SQLModel, table=True):
    """A tenant's default model of one type (llm, text-embedding, rerank...)."""

    __table_args__ = (UniqueConstraint("tenant_id", "model_type"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    model_type: str = Field(max_length=32)
    provider: str = Field(max_length=128)
    model: str = Field(max_length=255)
    updated_at: datetime = Field(default_factory=utcnow)


class StreamChunk(SQLModel, table=True):
    """A piece of a model's streamed output, as it arrived (transient; see the module doc)."""

    seq: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True, max_length=64)
    node_id: str = Field(max_length=255)
    node_run_id: str = Field(max_length=64)
    # The activity attempt that streamed it: a retried call streams again from offset 0.
    attempt: int = 1
    # "text" or "reasoning".
    kind: str = Field(default="text", max_length=16)
    # Characters of this attempt's output (of this kind) before this chunk.
    offset: int = 0
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
