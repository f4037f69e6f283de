"""Secret environment values never land in a run's stored records.

A run carries its app's secret ``env.`` values in clear (its nodes need them), so a node's
inputs, outputs or process data may hold one (an HTTP node's Authorization header, a body that
echoes it). API responses mask them as they read, but the records themselves must not keep
them either: they outlive the secret (a changed value would no longer be masked) and anyone
with database access reads them. ``mask_run_result`` masks a result as it is projected.

Left as they are: the run's own outputs and answer (what the caller asked for; a chat's next
turn reads the answer back as memory), conversation variables (read back as values), and
values shorter than MIN_MASKED_LENGTH, which would mask ordinary text ("1", "yes") instead.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from tideflow.platform.db.models import AppEnvironmentVariable
from tideflow.platform.runs.sse import mask_secrets
from tideflow.platform.security import decrypt_secret
from tideflow.platform.settings import get_settings
from tideflow.workflows.engine.models import GraphRunResult, NodeRun

MIN_MASKED_LENGTH = 6


def app_secret_values(session: Session, app_id: str) -> tuple[str, ...]:
    """The clear values of the app's secret variables (those the current keys open)."""
    query = select(AppEnvironmentVariable).where(
        col(AppEnvironmentVariable.app_id) == app_id,
        col(AppEnvironmentVariable.value_type) == "secret",
    )
    secret_key = get_settings().secret_key
    values: list[str] = []
    for row in session.exec(query):
        try:
            values.append(decrypt_secret(row.value, secret_key))
        except ValueError:  # a key mix-up: reported where the run started; nothing to mask
            continue
    # Longest first, so a secret inside another is masked whole.
    return tuple(sorted((v for v in values if len(v) >= MIN_MASKED_LENGTH), key=len, reverse=True))


def mask_run_result(session: Session, app_id: str, result: GraphRunResult) -> GraphRunResult:
    """``result`` with the app's secret values masked in its error and every node's inputs,
    outputs, process data, metadata and error."""
    secrets = app_secret_values(session, app_id)
    if not secrets:
        return result
    nodes = [_masked_node(node, secrets) for node in result.node_runs]
    return result.model_copy(
        update={
            "error": mask_secrets(result.error, secrets),
            "node_runs": nodes,
        }
    )


def _masked_node(node: NodeRun, secrets: tuple[str, ...]) -> NodeRun:
    fields = ("inputs", "outputs", "process_data", "execution_metadata", "error")
    return node.model_copy(update={f: mask_secrets(getattr(node, f), secrets) for f in fields})
