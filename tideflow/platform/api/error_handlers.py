"""The API's exception handlers: every error answered with Dify's envelope (``errors``)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tideflow.platform.api.errors import CODES, ApiError
from tideflow.platform.security import UnreadableSecretError

log = logging.getLogger("tideflow.api")


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
    code = CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal")
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
