"""One model call to a real provider through the tenant-credentials path, run only when the
provider's key is given (``TIDEFLOW_TEST_OPENAI_API_KEY``, ``TIDEFLOW_TEST_ANTHROPIC_API_KEY``);
skipped otherwise, so the suite stays loopback-only. The key is saved as a tenant's encrypted
credentials and checked with ``check_model_credentials`` first, as the console does."""

from __future__ import annotations

import dataclasses
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment

from tests.activities.support import UseSettings
from tideflow.activities.llm.activity import check_model_credentials, llm_invoke
from tideflow.activities.llm.models import CredentialCheck, LlmMessage, LlmRequest, LlmResult
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.models import Tenant
from tideflow.platform.db.session import get_engine
from tideflow.platform.model_credentials import save_credentials, seal
from tideflow.plugins.model_providers import provider_spec
from tideflow.workflows.nodes._llm_common import LLM_TIMEOUT_SECONDS

# provider as a DSL names it, its key field, the env var part (the model: the provider's
# cheap check model)
PROVIDERS = [
    ("langgenius/openai/openai", "openai_api_key", "OPENAI"),
    ("langgenius/anthropic/anthropic", "anthropic_api_key", "ANTHROPIC"),
]


@pytest.mark.parametrize(
    ("dsl_provider", "key_field", "env"),
    [
        pytest.param(
            *row,
            id=row[2].lower(),
            marks=pytest.mark.skipif(
                not os.environ.get(f"TIDEFLOW_TEST_{row[2]}_API_KEY"),
                reason=f"TIDEFLOW_TEST_{row[2]}_API_KEY is not set",
            ),
        )
        for row in PROVIDERS
    ],
)
@pytest.mark.usefixtures("real_network")
async def test_a_real_provider_answers(
    dsl_provider: str, key_field: str, env: str, use_settings: UseSettings, tmp_path: Path
) -> None:
    spec = provider_spec(dsl_provider)
    provider, model = spec.id, spec.check_model
    url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade_database(url)
    settings = use_settings(database_url=url)
    credentials = {key_field: os.environ[f"TIDEFLOW_TEST_{env}_API_KEY"]}
    activities = ActivityEnvironment()
    check = CredentialCheck(
        provider=provider, sealed_credentials=seal(credentials, settings.secret_key), model=model
    )
    assert await activities.run(check_model_credentials, check) == {"ok": True}
    with Session(get_engine(url)) as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.commit()
        save_credentials(session, tenant.id, provider, credentials, settings.secret_key)
        tenant_id = tenant.id
    request = LlmRequest(
        tenant_id=tenant_id,
        provider=dsl_provider,
        model=model,
        messages=[LlmMessage(role="user", content="Reply with the single word: pong")],
        params={"max_tokens": 10, "temperature": 0},
        node_id="llm",
    )
    limit = timedelta(seconds=LLM_TIMEOUT_SECONDS)  # as the LLM nodes schedule it
    activities.info = dataclasses.replace(activities.info, start_to_close_timeout=limit)
    result: LlmResult = await activities.run(llm_invoke, request)
    assert "pong" in result.text.lower()
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert Decimal(result.usage.total_price) > 0
