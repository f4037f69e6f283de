"""Temporal wiring in one place: data converter, sandbox pass-through, failure types, client.

The API, the worker, the CLI and the tests all connect through ``TideflowTemporal``, so they
agree on how payloads are encoded and which exceptions fail a workflow instead of retrying its
task forever.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from tideflow.platform.failures import GraphRunFailure
from tideflow.platform.settings import Settings
from tideflow.platform.telemetry import temporal_interceptors, temporal_runtime

# Modules the workflow sandbox passes through instead of re-importing per workflow run.
# Each is deterministic in the way workflows use it, and re-importing them is slow.
PASSTHROUGH_MODULES: tuple[str, ...] = (
    "pydantic",  # models for workflow inputs and results; pure data
    "pydantic_core",  # pydantic's compiled core
    "annotated_types",  # pydantic's metadata types
    "jinja2",  # template-transform renders in workflow code; sandboxed env, no I/O
    "markupsafe",  # jinja2's escaping
    "json_repair",  # repairs JSON bodies of http-request nodes; pure
    "yaml",  # not used at run time, imported by the graph package
    # The tracing interceptor's workflow half: spans are made outside the sandbox (an extern
    # function), and its context must be the same module the interceptor set.
    "opentelemetry",
)


__all__ = ["DATA_CONVERTER", "GraphRunFailure", "TideflowTemporal", "data_converter"]

# Payloads are pydantic models (JSON): readable in the Temporal UI, and fields can be added
# without breaking histories.
DATA_CONVERTER = pydantic_data_converter


def data_converter(settings: Settings) -> DataConverter:
    """DATA_CONVERTER, with payloads encrypted when TIDEFLOW_ENCRYPT_PAYLOADS is on."""
    if not settings.payloads_encrypted:
        return DATA_CONVERTER
    # Imported here: workflow modules import this one inside the sandbox, where re-importing
    # cryptography's compiled core fails.
    from tideflow.platform.payload_codec import EncryptionCodec

    return dataclasses.replace(
        DATA_CONVERTER,
        payload_codec=EncryptionCodec.from_settings(settings),
        # A failure's message and stack trace go into an (encrypted) payload too: a node's
        # error can quote its inputs, secret values included.
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


# Exceptions raised in workflow code that fail the workflow rather than its task.
WORKFLOW_FAILURE_EXCEPTION_TYPES: Sequence[type[BaseException]] = (GraphRunFailure,)


@dataclasses.dataclass(frozen=True)
class TideflowTemporal:
    """How every Tideflow process talks to Temporal."""

    settings: Settings
    # Whether this process's client serves Temporal SDK metrics on TIDEFLOW_METRICS_BIND: the
    # worker does; the API, often on the same machine, must not take the same port.
    serve_metrics: bool = True

    async def connect(self) -> Client:
        """A client with Tideflow's data converter (payloads encrypted when the settings say
        so), tracing interceptors and metrics runtime (``tideflow.platform.telemetry``);
        workers built from it inherit the converter and the interceptors."""
        return await Client.connect(
            self.settings.temporal_target,
            namespace=self.settings.temporal_namespace,
            data_converter=data_converter(self.settings),
            interceptors=temporal_interceptors(),
            runtime=temporal_runtime(self.settings, serve_metrics=self.serve_metrics),
        )

    def worker(
        self,
        client: Client,
        *,
        workflows: Sequence[type],
        activities: Sequence[Any],
        task_queue: str | None = None,
        **options: Any,
    ) -> Worker:
        """A worker with the sandbox pass-through list and failure types applied."""
        restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
        return Worker(
            client,
            task_queue=task_queue or self.settings.task_queue,
            workflows=workflows,
            activities=activities,
            workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
            workflow_failure_exception_types=WORKFLOW_FAILURE_EXCEPTION_TYPES,
            **options,
        )
