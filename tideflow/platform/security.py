"""Passwords, console session tokens, API key tokens and secrets at rest."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from tideflow.platform.redaction import remember_secret
from tideflow.platform.settings import get_settings

# scrypt cost: 16 MiB of memory per hash, well under a second.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_KEY_ALPHABET = string.ascii_letters + string.digits
# Dify shows a secret environment variable as this, and keeps the stored value when a client
# sends it back unchanged.
HIDDEN_VALUE = "[__HIDDEN__]"


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    parts = (_b64(salt), _b64(digest))
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${parts[0]}${parts[1]}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches a ``hash_password`` result."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class SessionClaims:
    """Who a console session token speaks for, and until when."""

    account_id: str
    tenant_id: str
    expires_at: int


def issue_session_token(claims: SessionClaims, secret_key: str) -> str:
    """``<payload>.<signature>``, both base64url; the signature is HMAC-SHA256."""
    payload = _b64(json.dumps(claims.__dict__, separators=(",", ":")).encode())
    return f"{payload}.{_sign(payload, secret_key)}"


def read_session_token(
    token: str, secret_key: str, previous: Sequence[str] = ()
) -> SessionClaims | None:
    """The claims of a valid, unexpired token; None otherwise. A token signed with one of the
    ``previous`` keys still counts, so rotating the key does not log everyone out."""
    payload, _, signature = token.partition(".")
    if not payload or not any(
        hmac.compare_digest(signature, _sign(payload, key)) for key in (secret_key, *previous)
    ):
        return None
    try:
        raw = json.loads(_unb64(payload))
        claims = SessionClaims(
            str(raw["account_id"]), str(raw["tenant_id"]), int(raw["expires_at"])
        )
    except (ValueError, KeyError, TypeError):
        return None
    return claims if claims.expires_at > time.time() else None


def new_api_token(kind: str) -> str:
    """``app-`` or ``dataset-`` followed by 24 random letters and digits."""
    return f"{kind}-" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(24))


def token_digest(token: str) -> str:
    """What the database stores of an API token (sha256 hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def encrypt_secret(value: str, secret_key: str) -> str:
    """Fernet-encrypt ``value`` with a key derived from the settings' secret key."""
    return _fernet(secret_key).encrypt(value.encode()).decode()


def decrypt_secret(token: str, secret_key: str, previous: Sequence[str] | None = None) -> str:
    """The clear value of ``encrypt_secret`` made with ``secret_key`` or one of ``previous``
    (default: TIDEFLOW_SECRET_KEY_PREVIOUS when ``secret_key`` is the configured key); raises
    ValueError when none of them opens it."""
    try:
        clear = secret_keyring(secret_key, previous).decrypt(token.encode()).decode()
    except InvalidToken:
        raise UnreadableSecretError() from None
    remember_secret(clear)  # from now on this process's logs mask it
    return clear


class UnreadableSecretError(ValueError):
    """A stored secret that none of the configured keys opens (a server setup problem)."""

    def __init__(self) -> None:
        super().__init__(
            "cannot decrypt a stored secret with TIDEFLOW_SECRET_KEY or any of "
            "TIDEFLOW_SECRET_KEY_PREVIOUS: was the key changed without keeping the old one there?"
        )


def secret_keyring(secret_key: str, previous: Sequence[str] | None = None) -> MultiFernet:
    """Encrypts with ``secret_key``, decrypts with it or any of ``previous`` (in order)."""
    if previous is None:
        previous = configured_previous_keys(secret_key)
    keys = [secret_key, *(k for k in previous if k and k != secret_key)]
    return MultiFernet([_fernet(k) for k in keys])


def configured_previous_keys(secret_key: str) -> tuple[str, ...]:
    """TIDEFLOW_SECRET_KEY_PREVIOUS, when ``secret_key`` is the process's configured key.

    Every caller passes ``settings.secret_key``; reading the former keys here spares each of
    them a second argument while a rotation is under way."""
    settings = get_settings()
    return tuple(settings.secret_key_previous) if settings.secret_key == secret_key else ()


@functools.cache
def _fernet(secret_key: str) -> Fernet:
    derived = hashlib.sha256(b"tideflow-secrets\0" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def _sign(payload: str, secret_key: str) -> str:
    mac = hmac.new(b"tideflow-session\0" + secret_key.encode(), payload.encode(), "sha256")
    return _b64(mac.digest())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from None
