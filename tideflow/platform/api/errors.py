"""Dify's error envelope ``{code, message, status}`` for every error the API answers."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tideflow.platform.security import UnreadableSecretError

log = logging.getLogger("tideflow.api")

_CODES = {
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


def _location(loc: tuple[int | str, ...]) -> str:
    # The first item says where (body, query string, path, header); the rest name the field,
    # which may itself be called "query" (a search body's field).
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    return ".".join(str(p) for p in loc) or "body"


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal")
    body = {"code": code, "message": str(exc.detail), "status": exc.status_code}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    messages: list[str] = []
    for error in exc.errors():
        loc: tuple[int | str, ...] = tuple(error.get("loc", ()))
        messages.append(f"{_location(loc)}: {error.get('msg', 'invalid')}")
    body = {"code": "invalid_param", "message": "; ".join(messages), "status": 400}
    return JSONResponse(body, status_code=400)


async def _unreadable_secret(_request: Request, exc: Exception) -> JSONResponse:
    # Secret-rotation helper (issue 10/3b): a key mix-up is named, not a bare 500.
    log.error("%s", exc)
    body = {"code": "secret_key_mismatch", "message": str(exc), "status": 500}
    return JSONResponse(body, status_code=500)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    body = {"code": "internal_server_error", "message": "internal server error", "status": 500}
    return JSONResponse(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with the envelope."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(UnreadableSecretError, _unreadable_secret)
    app.add_exception_handler(Exception, _unexpected)
