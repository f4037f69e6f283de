"""Per-key request limits of the service API: a sliding window of one minute per key.

The counts live in the API process. With several API replicas each counts on its own, so a
key may make up to ``replicas x limit`` requests a minute; a shared store (the app database or
Redis) would make it exact at the cost of a write per request, which this does not pay.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


class RequestWindow:
    """When each key's accepted requests of the last minute came (oldest first)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        # Sync dependencies run in FastAPI's thread pool: one request at a time per window.
        self._lock = threading.Lock()

    def admit(self, key: str, limit: int) -> float | None:
        """Count one request of ``key``; None when it is within ``limit`` per minute, else the
        seconds until one more would be (the request is then not counted)."""
        if limit <= 0:
            return None
        now = self._clock()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - WINDOW_S:
                seen.popleft()
            # A lowered limit leaves extra entries: the oldest of the last ``limit`` decides.
            if len(seen) >= limit:
                return seen[len(seen) - limit] + WINDOW_S - now
            seen.append(now)
            return None


def retry_after_header(wait_s: float) -> str:
    """The Retry-After value (whole seconds, at least 1) for a wait."""
    return str(max(1, math.ceil(wait_s)))
