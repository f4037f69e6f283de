"""A webhook request as the run's inputs: each declared header, query param and body param
cast to its declared type, plus ``_webhook_raw`` (Dify's ``{method, headers, query_params,
body, files}``). A missing required parameter or a value of the wrong type is a 400 naming it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from tideflow.platform.api.errors import ApiError, invalid_param
from tideflow.workflows.nodes._common import as_dict, as_list
from tideflow.workflows.nodes.trigger_webhook import RAW_OUTPUT, content_type_of, header_output

# Stores an uploaded file's (name, mime type, bytes) and returns its Dify file object.
StoreFile = Callable[[str, str | None, bytes], Awaitable[dict[str, Any]]]
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class WebhookRequest:
    """What the route read: lower-case headers, query items and the raw body."""

    method: str
    headers: dict[str, str]
    query: list[tuple[str, str]]
    body: bytes
    scope: dict[str, Any]


def _bad(where: str, name: str, message: str) -> ApiError:
    return invalid_param(f"{where} parameter {name}: {message}")


def _scalar(kind: str, value: Any, textual: bool) -> Any:
    """``value`` as ``kind``; raises ValueError with what was expected."""
    if kind == "string":
        if isinstance(value, str):
            return value
        raise ValueError("must be a string")
    if kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if textual and isinstance(value, str):
            number = float(value)  # ValueError names the bad text
            return int(number) if number.is_integer() and "." not in value else number
        raise ValueError("must be a number")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if textual and isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError("must be true or false")
    if kind == "object":
        if textual and isinstance(value, str):
            value = json.loads(value)
        if isinstance(value, dict):
            return as_dict(value)
        raise ValueError("must be a JSON object")
    raise ValueError(f"type {kind} cannot be read here")


def cast(where: str, name: str, kind: str, value: Any, textual: bool) -> Any:
    """One value (a list of strings for repeated text parameters) as its declared type."""
    values = as_list(value)
    try:
        if not kind.startswith("array["):
            return _scalar(kind, values[-1] if values and textual else value, textual)
        item_kind = kind[6:-1]
        if textual and len(values) == 1:
            value = values[0]
        if textual and isinstance(value, str):
            value = json.loads(value) if value.lstrip().startswith("[") else [value]
        if not isinstance(value, list):
            raise ValueError(f"must be a list of {item_kind}")
        return [_scalar(item_kind, item, textual) for item in as_list(value)]
    except ValueError as err:  # json.JSONDecodeError is a ValueError
        message = str(err) if str(err).startswith("must") else f"must be {kind} ({err})"
        raise _bad(where, name, message) from None


def _declared(data: dict[str, Any], field: str) -> list[tuple[str, str, bool]]:
    out: list[tuple[str, str, bool]] = []
    for item in as_list(data.get(field)):
        param = as_dict(item)
        name = param.get("name")
        if isinstance(name, str) and name:
            out.append((name, str(param.get("type", "string")), bool(param.get("required"))))
    return out


def _missing(value: Any) -> bool:
    return value is None or value == "" or value == []


async def _form(request: WebhookRequest) -> list[tuple[str, str | UploadFile]]:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": request.body, "more_body": False}

    try:
        form = await Request(request.scope, receive=replay).form(max_files=100, max_fields=1000)
    except Exception as err:  # the multipart parser's errors have no common base
        raise invalid_param(f"the multipart body cannot be read: {err}") from None
    return list(form.multi_items())


def _grouped(items: list[tuple[str, Any]]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for key, value in items:
        grouped.setdefault(key, []).append(value)
    return grouped


async def _body(data: dict[str, Any], request: WebhookRequest) -> tuple[Any, dict[str, Any], bool]:
    """The parsed body (for ``_webhook_raw``), its values by name, and whether they are text."""
    content_type = content_type_of(data)
    if content_type == "application/json":
        if not request.body.strip():
            return {}, {}, False
        try:
            parsed = json.loads(request.body)
        except ValueError as err:
            raise invalid_param(f"the body is not valid JSON: {err}") from None
        return parsed, as_dict(parsed), False
    if content_type == "application/x-www-form-urlencoded":
        try:
            items = parse_qsl(request.body.decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            raise invalid_param("the form body is not UTF-8") from None
        grouped = _grouped(list(items))
        return {k: v[-1] for k, v in grouped.items()}, grouped, True
    if content_type == "multipart/form-data":
        grouped = _grouped(list(await _form(request)))
        raw = {k: v[-1] for k, v in grouped.items() if isinstance(v[-1], str)}
        return raw, grouped, True
    try:
        text = request.body.decode()
    except UnicodeDecodeError:
        text = None
    if content_type == "text/plain" and text is None:
        raise invalid_param("the text/plain body is not UTF-8")
    values = {name: [text if kind == "string" else request.body] for name, kind, _r in
              _declared(data, "body")}  # fmt: skip
    return {"raw": text if text is not None else ""}, values, True


async def _file_values(value: list[Any], store: StoreFile) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, UploadFile):
            files.append(await store(item.filename or "file", item.content_type, await item.read()))
        elif isinstance(item, bytes):
            files.append(await store("body", None, item))
    return files


async def webhook_inputs(
    data: dict[str, Any], request: WebhookRequest, store: StoreFile
) -> dict[str, Any]:
    """The run's inputs for a request to the node with config ``data``."""
    inputs: dict[str, Any] = {}
    for name, _kind, required in _declared(data, "headers"):
        value = request.headers.get(name.lower())
        if _missing(value) and required:
            raise _bad("header", name, "is required")
        inputs[header_output(name)] = value
    query = _grouped(list(request.query))
    for name, kind, required in _declared(data, "params"):
        value = query.get(name)
        if _missing(value):
            if required:
                raise _bad("query", name, "is required")
            inputs[name] = None
            continue
        inputs[name] = cast("query", name, kind, value, textual=True)
    parsed, values, textual = await _body(data, request)
    files: dict[str, Any] = {}
    for name, kind, required in _declared(data, "body"):
        value = values.get(name)
        if _missing(value):
            if required:
                raise _bad("body", name, "is required")
            inputs[name] = None
            continue
        if kind in ("file", "array[file]"):
            stored = await _file_values(as_list(value), store)
            if not stored:
                raise _bad("body", name, "must be a file")
            files[name] = inputs[name] = stored if kind == "array[file]" else stored[-1]
            continue
        inputs[name] = cast("body", name, kind, value, textual)
    inputs[RAW_OUTPUT] = {
        "method": request.method.upper(),
        "headers": dict(request.headers),
        "query_params": {k: v[-1] for k, v in query.items()},
        "body": parsed,
        "files": files,
    }
    return inputs
