"""Encryption of Temporal payloads: a ``PayloadCodec`` keyed by the settings' secret key.

Temporal's history (the embedded server's SQLite file, a cluster's database) keeps every
workflow and activity payload: run inputs carry secret environment values, node inputs are
built from them. With ``TIDEFLOW_ENCRYPT_PAYLOADS`` on, every payload leaves the process
encrypted, the way Temporal's encryption sample does it: the whole serialized payload (its
metadata included) becomes the data of a new payload marked ``binary/encrypted``.

The AES-256-GCM key is derived from ``TIDEFLOW_SECRET_KEY`` with HKDF under a label of its own,
so it is not the key of the database's secret columns. Each payload names the id of the key
that sealed it; the keys of ``TIDEFLOW_SECRET_KEY_PREVIOUS`` still open payloads while they are
listed, so a key rotation does not strand running or finished workflows.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from tideflow.platform.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
_HKDF_INFO = b"tideflow temporal payloads v1"
_NONCE_BYTES = 12


class PayloadDecryptionError(ValueError):
    """A payload that none of the configured keys opens (a server setup problem)."""


@functools.cache
def _derive(secret_key: str) -> tuple[str, AESGCM]:
    """The key id and cipher of one secret key (derived once per process: HKDF is cheap, but
    every payload of every workflow task goes through here)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret_key.encode()
    )
    # A fingerprint of the derived key, not of the secret: the id is stored in clear.
    key_id = "tf-" + hmac.new(key, b"key-id", hashlib.sha256).hexdigest()[:16]
    return key_id, AESGCM(key)


class EncryptionCodec(PayloadCodec):
    """Seals payloads with the current key; opens them with it or any previous key."""

    def __init__(self, secret_key: str, previous: Sequence[str] = ()) -> None:
        self.key_id, self._cipher = _derive(secret_key)
        self._ciphers = {self.key_id: self._cipher}
        for old in previous:
            if old and old != secret_key:
                old_id, old_cipher = _derive(old)
                self._ciphers.setdefault(old_id, old_cipher)

    @classmethod
    def from_settings(cls, settings: Settings) -> EncryptionCodec:
        """The codec of TIDEFLOW_SECRET_KEY and TIDEFLOW_SECRET_KEY_PREVIOUS."""
        return cls(settings.secret_key, settings.secret_key_previous)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Each payload sealed whole into a ``binary/encrypted`` payload."""
        return [self.seal(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypted payloads opened; any other payload (a history written before encryption
        was switched on) unchanged."""
        return [self.open(p) for p in payloads]

    def seal(self, payload: Payload) -> Payload:
        """One payload encrypted (synchronous: the codec server and benchmarks use it)."""
        nonce = os.urandom(_NONCE_BYTES)
        # The key id is authenticated too: a payload relabelled with another id fails to open.
        sealed = self._cipher.encrypt(nonce, payload.SerializeToString(), self.key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: self.key_id.encode()},
            data=nonce + sealed,
        )

    def open(self, payload: Payload) -> Payload:
        """One payload decrypted, or returned as is when it is not encrypted."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(
                f"a Temporal payload is encrypted with key id {key_id!r}, which is neither "
                "TIDEFLOW_SECRET_KEY nor one of TIDEFLOW_SECRET_KEY_PREVIOUS: was the key "
                "changed without keeping the old one there?"
            )
        nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
        try:
            clear = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise PayloadDecryptionError(
                f"a Temporal payload encrypted with key id {key_id!r} failed its integrity "
                "check: it was altered or truncated"
            ) from None
        opened = Payload()
        opened.ParseFromString(clear)
        return opened
