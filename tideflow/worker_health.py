"""Whether a worker on this machine is alive: ``python -m tideflow.worker_health`` exits 0 when
the worker's health file (``TIDEFLOW_WORKER_HEALTH_FILE``) was touched within 30 s, else 1.

A container healthcheck: it imports the settings only (not Temporal, nor the activities), so
running it every few seconds costs little. ``tideflow worker --check`` does the same.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

# The worker touches its file every HEALTH_TOUCH_INTERVAL_S while all its workers run.
HEALTH_TOUCH_INTERVAL_S = 5.0
HEALTH_MAX_AGE_S = 30.0


def touch_health_file(path: Path) -> None:
    """Mark the worker alive (``check_health_file`` reads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def check_health_file(path: Path, max_age_s: float = HEALTH_MAX_AGE_S) -> str | None:
    """None when a running worker touched ``path`` within ``max_age_s``; else why not."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return f"{path} does not exist: no worker is running here"
    if age > max_age_s:
        return f"{path} is {age:.0f} s old: the worker stopped or hangs"
    return None


def main() -> int:
    """Print the verdict; 0 healthy, 1 not."""
    from tideflow.platform.settings import Settings

    problem = check_health_file(Settings().worker_health_file)
    print(problem or "worker is running", file=sys.stderr if problem else sys.stdout)
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
