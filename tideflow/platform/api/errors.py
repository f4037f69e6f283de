"""Dify's error envelope ``{code, message, status}``: the errors the platform raises.

FastAPI answers them through ``error_handlers``; this module imports no web framework, so the
worker's activities can raise them without loading one.
"""

from __future__ import annotations

from typing import Any

# The envelope's code for a status, when an error carries only the status (HTTPException).
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "file_too_large",
    415: "unsupported_file_type",
    422: "invalid_param",
    429: "too_many_requests",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An expected failure with Dify's code; ``extra`` adds fields (e.g. ``problems``)."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def body(self) -> dict[str, Any]:
        """The JSON body (also the ``error`` SSE event's data)."""
        return {"code": self.code, "message": self.message, "status": self.status, **self.extra}


def not_found(what: str) -> ApiError:
    """404 ``not_found`` naming what was looked for."""
    return ApiError(404, "not_found", f"{what} not found")


def invalid_param(message: str) -> ApiError:
    """400 ``invalid_param``."""
    return ApiError(400, "invalid_param", message)
