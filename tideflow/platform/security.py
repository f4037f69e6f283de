"""Passwords, console session tokens, API key tokens and secrets at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import time
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken

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


def read_session_token(token: str, secret_key: str) -> SessionClaims | None:
    """The claims of a valid, unexpired token; None otherwise."""
    payload, _, signature = token.partition(".")
    if not payload or not hmac.compare_digest(signature, _sign(payload, secret_key)):
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


def decrypt_secret(token: str, secret_key: str) -> str:
    """The clear value of ``encrypt_secret``; raises ValueError when the key changed."""
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("cannot decrypt: was TIDEFLOW_SECRET_KEY changed?") from None


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
