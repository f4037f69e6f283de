"""Temporal payload encryption: the codec itself, and real runs whose stored history must not
hold a secret in clear (the codec server endpoints: test_codec_server.py)."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.platform.codec_support import (
    FAILING_CODE,
    SECRET,
    clear_payload,
    payloads_of,
    run_secret_graph,
    sealed_history,
)
from tideflow.platform.payload_codec import ENCODING, EncryptionCodec, PayloadDecryptionError
from tideflow.platform.settings import Settings
from tideflow.platform.temporal import DATA_CONVERTER, data_converter
from tideflow.workflows.engine.models import GraphRunInput


async def test_round_trip_hides_data_and_metadata() -> None:
    codec = EncryptionCodec("key-one")
    [sealed] = await codec.encode([clear_payload(SECRET)])
    assert sealed.metadata["encoding"] == ENCODING
    assert set(sealed.metadata) == {"encoding", "encryption-key-id"}
    assert SECRET.encode() not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.data  # the inner metadata is sealed too
    assert await codec.decode([sealed]) == [clear_payload(SECRET)]
    # A fresh nonce each time: the same payload never encrypts to the same bytes.
    [again] = await codec.encode([clear_payload(SECRET)])
    assert again.data != sealed.data


async def test_clear_payloads_pass_through_decode() -> None:
    """Histories written before encryption was switched on still read."""
    clear = clear_payload("old history")
    assert await EncryptionCodec("key-one").decode([clear]) == [clear]


async def test_rotation_and_unknown_key() -> None:
    [old] = await EncryptionCodec("key-old").encode([clear_payload(SECRET)])
    rotated = EncryptionCodec("key-new", ["key-old"])
    assert await rotated.decode([old]) == [clear_payload(SECRET)]
    [new] = await rotated.encode([clear_payload("x")])
    assert new.metadata["encryption-key-id"] == rotated.key_id.encode()
    assert new.metadata["encryption-key-id"] != old.metadata["encryption-key-id"]
    with pytest.raises(PayloadDecryptionError, match="TIDEFLOW_SECRET_KEY_PREVIOUS"):
        await EncryptionCodec("key-new").decode([old])


async def test_tampered_payload_fails_its_integrity_check() -> None:
    codec = EncryptionCodec("key-one")
    [sealed] = await codec.encode([clear_payload(SECRET)])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(PayloadDecryptionError, match="integrity"):
        await codec.decode([sealed])


def test_key_ids_do_not_reveal_the_key() -> None:
    codec = EncryptionCodec("key-one")
    assert "key-one" not in codec.key_id
    assert codec.key_id != EncryptionCodec("key-two").key_id


def test_setting_defaults_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_SECRET_KEY", "a-long-production-key")
    monkeypatch.delenv("TIDEFLOW_ENCRYPT_PAYLOADS", raising=False)
    assert Settings(env="production").payloads_encrypted
    assert not Settings(env="development").payloads_encrypted
    assert not Settings(env="test").payloads_encrypted
    assert Settings(env="test", encrypt_payloads=True).payloads_encrypted
    assert not Settings(env="production", encrypt_payloads=False).payloads_encrypted
    # Off: exactly the pydantic converter, as before; on: it plus the codec.
    assert data_converter(Settings(env="test")) is DATA_CONVERTER
    on = data_converter(Settings(env="test", encrypt_payloads=True))
    assert isinstance(on.payload_codec, EncryptionCodec)
    assert on.payload_converter_class is DATA_CONVERTER.payload_converter_class


async def test_history_holds_no_secret_in_clear(
    encrypting_settings: Settings, temporal_env: WorkflowEnvironment
) -> None:
    client, workflow_id, result = await run_secret_graph(encrypting_settings)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"r": f"{SECRET[:7]} has {len(SECRET)} characters"}

    # A client without the codec sees the stored history as it is: sealed payloads only.
    events = await sealed_history(temporal_env.client, workflow_id)
    scheduled = [e for e in events if e.HasField("activity_task_scheduled_event_attributes")]
    assert scheduled  # the code node's activity input was sealed too

    # With the codec the run's input reads again, the secret value included.
    started = events[0].workflow_execution_started_event_attributes
    [run_input] = await client.data_converter.decode(started.input.payloads, [GraphRunInput])
    assert isinstance(run_input, GraphRunInput)
    assert run_input.plan.environment_variables[0].value == SECRET


async def test_a_failure_quoting_the_secret_is_sealed(
    encrypting_settings: Settings, temporal_env: WorkflowEnvironment
) -> None:
    _client, workflow_id, result = await run_secret_graph(encrypting_settings, FAILING_CODE)
    # The worker decodes the failure: the node's error reaches the run's result intact.
    assert result.status == "failed" and f"bad token {SECRET}" in (result.error or "")
    events = await sealed_history(temporal_env.client, workflow_id)
    failed = [e for e in events if e.HasField("activity_task_failed_event_attributes")]
    assert failed and failed[0].activity_task_failed_event_attributes.failure.encoded_attributes


async def test_without_encryption_the_history_is_readable(
    encrypting_settings: Settings, temporal_env: WorkflowEnvironment
) -> None:
    """The control: encryption off (the development default), the same scan finds the secret
    in clear, as before this codec existed."""
    settings = encrypting_settings.model_copy(update={"encrypt_payloads": False})
    client, workflow_id, result = await run_secret_graph(settings)
    assert result.status == "succeeded" and client.data_converter is DATA_CONVERTER
    history = await temporal_env.client.get_workflow_handle(workflow_id).fetch_history()
    assert any(SECRET.encode() in event.SerializeToString() for event in history.events)
    encodings = {p.metadata["encoding"] for e in history.events for p in payloads_of(e)}
    assert ENCODING not in encodings and b"json/plain" in encodings
