"""The Streamlit console server's command line (``tideflow console``, and ``tideflow up`` which
starts it directly, without a ``tideflow`` process in between)."""

from __future__ import annotations

import sys
from pathlib import Path

from tideflow.platform.settings import Settings

CONSOLE_SCRIPT = Path(__file__).parent / "console" / "app.py"


def console_argv(settings: Settings) -> list[str]:
    """``python -m streamlit run`` of the console on the configured host and port."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(CONSOLE_SCRIPT),
        "--server.address",
        settings.host,
        "--server.port",
        str(settings.console_port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]
