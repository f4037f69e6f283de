"""Checks made before anything starts: a bad setting is one clear line and exit code 2."""

from __future__ import annotations

import errno
import socket
import uuid
from collections.abc import Iterable

from pydantic import ValidationError

from tideflow.platform.settings import Settings


class SettingError(Exception):
    """A setting that cannot work; the message names it and says what to do."""


def env_name(field: str) -> str:
    """The environment variable behind a settings field."""
    return f"TIDEFLOW_{field.upper()}"


def load_settings() -> Settings:
    """Read settings, turning validation errors into one line naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        if field == "settings" or not first["loc"]:
            raise SettingError(message) from None
        raise SettingError(f"{env_name(field)}: {message}") from None


def check_data_dir(settings: Settings) -> None:
    """The data dir must exist (or be creatable) and be writable."""
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SettingError(
            f"TIDEFLOW_DATA_DIR: {path} is not writable ({exc.strerror or exc}); "
            "point TIDEFLOW_DATA_DIR at a writable folder"
        ) from None


def check_ports_free(host: str, ports: Iterable[tuple[str, int]]) -> None:
    """Each (setting, port) must be free to bind on ``host``."""
    for field, port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As the servers themselves do: a socket in TIME_WAIT does not block them.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise SettingError(
                        f"{env_name(field)}: port {port} on {host} is in use; stop what holds "
                        f"it or set {env_name(field)} to a free port"
                    ) from None
                raise SettingError(
                    f"{env_name(field)}: cannot bind {host}:{port} ({exc})"
                ) from None


def check_database(settings: Settings) -> None:
    """A Postgres URL must answer within a few seconds."""
    if settings.database_url is None:
        return
    from sqlalchemy.engine import make_url  # sqlalchemy: only for a configured database URL

    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        return
    from tideflow.platform.db.session import ping

    try:
        ping(settings.database_url)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SettingError(
            f"TIDEFLOW_DATABASE_URL: cannot connect to {url.host}:{url.port or 5432}/"
            f"{url.database} ({reason}); check the server is up and the URL is right"
        ) from None


def check_temporal_reachable(settings: Settings) -> None:
    """An external Temporal address must accept TCP connections."""
    if settings.temporal_address is None:
        return
    host, _, port = settings.temporal_address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as exc:
        raise SettingError(
            f"TIDEFLOW_TEMPORAL_ADDRESS: nothing answers at {settings.temporal_address} "
            f"({exc.strerror or exc}); start Temporal there or unset it to use the embedded server"
        ) from None
