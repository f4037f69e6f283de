"""Bad settings give one clear line naming the variable, and exit code 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port
from tideflow.platform.settings import Settings
from tideflow.preflight import (
    SettingError,
    check_data_dir,
    check_database,
    check_ports_free,
    load_settings,
)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TIDEFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "tideflow.cli", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TIDEFLOW_DATABASE_URL": "not a url"}, "TIDEFLOW_DATABASE_URL: not a database URL"),
        ({"TIDEFLOW_DATABASE_URL": "mysql://x@h/db"}, "TIDEFLOW_DATABASE_URL: only sqlite"),
        ({"TIDEFLOW_TEMPORAL_ADDRESS": "nohostport"}, "TIDEFLOW_TEMPORAL_ADDRESS: expected"),
        ({"TIDEFLOW_API_PORT": "99999"}, "TIDEFLOW_API_PORT:"),
        ({"TIDEFLOW_ENV": "production"}, "TIDEFLOW_SECRET_KEY: the development default"),
    ],
)
def test_malformed_settings_name_the_variable(
    env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingError) as info:
        load_settings()
    assert str(info.value).startswith(expected)


def test_production_accepts_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_ENV", "production")
    monkeypatch.setenv("TIDEFLOW_SECRET_KEY", "x" * 40)
    assert load_settings().env == "production"


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(SettingError, match=r"^TIDEFLOW_DATA_DIR: .* is not writable"):
        check_data_dir(Settings(data_dir=blocker / "sub"))


def test_port_in_use() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = int(holder.getsockname()[1])
        with pytest.raises(
            SettingError, match=rf"^TIDEFLOW_API_PORT: port {port} on 127.0.0.1 is in use"
        ):
            check_ports_free("127.0.0.1", [("api_port", port)])
    check_ports_free("127.0.0.1", [("api_port", free_port())])


def test_unreachable_postgres() -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x"
    with pytest.raises(SettingError, match=r"^TIDEFLOW_DATABASE_URL: cannot connect to 127.0.0.1"):
        check_database(Settings(database_url=url))


@pytest.mark.parametrize(
    ("command", "env", "expected"),
    [
        ("up", {"TIDEFLOW_DATABASE_URL": "not a url"}, "TIDEFLOW_DATABASE_URL"),
        ("migrate", {"TIDEFLOW_DATA_DIR": "/proc/tideflow-cannot"}, "TIDEFLOW_DATA_DIR"),
        ("up", {"TIDEFLOW_TEMPORAL_ADDRESS": "127.0.0.1:1"}, "TIDEFLOW_TEMPORAL_ADDRESS"),
    ],
)
def test_cli_exits_2_with_one_line(
    command: str, env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    env = {"TIDEFLOW_DATA_DIR": str(tmp_path), **env}
    env.update({"TIDEFLOW_API_PORT": str(free_port()), "TIDEFLOW_CONSOLE_PORT": str(free_port())})
    result = run_cli(command, env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tideflow: {expected}:")
    assert "Traceback" not in result.stderr
