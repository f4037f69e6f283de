"""Reading a Dify http-request node's ``data``: the pure parts of ``build_http_request``.

Nothing here does I/O: it runs in workflow code. Each reader takes ``fail(field, message)``,
which makes the caller's config error, so every mistake names the field at fault.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, cast

import json_repair

Fail = Callable[[str, str], Exception]
Render = Callable[[str], str]
Resolve = Callable[[list[str]], Any]

BODY_TYPES = ("none", "form-data", "x-www-form-urlencoded", "raw-text", "json", "binary")
# Dify's HTTP_REQUEST_MAX_{CONNECT,READ,WRITE}_TIMEOUT: what a node gets when it sets none.
DEFAULT_TIMEOUTS = {"connect": 10.0, "read": 600.0, "write": 600.0}


def rendered_lines(text: Any, render: Render, field: str, fail: Fail) -> list[tuple[str, str]]:
    """``key:value`` lines → rendered pairs. Split before rendering, so values can't add lines."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise fail(field, "expected key:value lines of text")
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        key = render(key).strip()
        if key:
            pairs.append((key, render(value).strip()))
    return pairs


def header_named(headers: dict[str, str], name: str) -> str | None:
    """The key under which ``headers`` holds ``name`` (header names ignore case), if any."""
    return next((key for key in headers if key.lower() == name.lower()), None)


def add_authorization(auth: Any, headers: dict[str, str], render: Render, fail: Fail) -> None:
    """Add the header Dify's ``authorization`` block asks for."""
    if not isinstance(auth, dict) or cast(dict[str, Any], auth).get("type") in (None, "no-auth"):
        return
    auth = cast(dict[str, Any], auth)
    if auth.get("type") != "api-key":
        raise fail("authorization.type", f"expected no-auth or api-key, got {auth.get('type')!r}")
    config = cast(dict[str, Any], auth.get("config") or {})
    key = render(str(config.get("api_key") or "")).strip()
    if not key:
        raise fail("authorization.config.api_key", "api-key authorization needs a key")
    header = render(str(config.get("header") or "")).strip() or "Authorization"
    kind = config.get("type") or "bearer"
    if kind == "bearer":
        headers[header] = f"Bearer {key}"
    elif kind == "basic":
        # "user:pass" is encoded here; a key without a colon is taken as already encoded.
        token = base64.b64encode(key.encode()).decode() if ":" in key else key
        headers[header] = f"Basic {token}"
    elif kind == "custom":
        headers[header] = key
    else:
        raise fail("authorization.config.type", f"expected basic, bearer or custom, got {kind!r}")


def read_timeouts(raw: Any, fail: Fail) -> dict[str, float]:
    """connect/read/write seconds; a missing or zero value gets Dify's maximum."""
    values = dict(DEFAULT_TIMEOUTS)
    source = cast(dict[str, Any], raw) if isinstance(raw, dict) else {}
    for phase in values:
        value = source.get(phase)
        if value is None:  # some editors wrote max_<phase>_timeout
            value = source.get(f"max_{phase}_timeout")
        if value in (None, "", 0):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise fail(f"timeout.{phase}", f"not a number: {value!r}") from None
        if number < 0:
            raise fail(f"timeout.{phase}", "must not be negative")
        values[phase] = number
    return values


def _body_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    data = body.get("data")
    if data is None:
        return []
    if isinstance(data, str):  # legacy DSL: the body was one text
        return [{"key": "", "type": "text", "value": data}]
    if not isinstance(data, list):
        return []
    return [cast(dict[str, Any], item) for item in cast(list[Any], data) if isinstance(item, dict)]


def _file_objects(value: Any) -> list[dict[str, Any]]:
    items = cast(list[Any], value) if isinstance(value, list) else [value]
    return [cast(dict[str, Any], item) for item in items if isinstance(item, dict)]


def _selector(item: dict[str, Any]) -> list[str]:
    raw = item.get("file")
    return [str(part) for part in cast(list[Any], raw)] if isinstance(raw, list) else []


def build_body(
    raw: Any, headers: dict[str, str], render: Render, resolve: Resolve, fail: Fail
) -> dict[str, Any]:
    """The body fields of HttpRequestInput; sets a default Content-Type in ``headers``."""
    body = cast(dict[str, Any], raw) if isinstance(raw, dict) else {}
    body_type = body.get("type") or "none"
    if body_type not in BODY_TYPES:
        raise fail("body.type", f"unsupported body type {body_type!r}")
    items = _body_items(body)
    if body_type == "none":
        return {}
    if body_type in ("raw-text", "json", "binary"):
        if len(items) != 1:
            raise fail("body.data", f"a {body_type} body needs exactly one item, got {len(items)}")
        fields, content_type = _single_item_body(body_type, items[0], render, resolve, fail)
        if not header_named(headers, "Content-Type"):
            headers["Content-Type"] = content_type
        return {"body_type": body_type, **fields}
    fields = _form_body(body_type, items, render, resolve, fail)
    name = header_named(headers, "Content-Type")
    if body_type == "x-www-form-urlencoded" and not name:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body_type == "form-data" and name and "boundary=" not in headers[name]:
        del headers[name]  # a multipart type without the body's boundary makes it unreadable
    return {"body_type": body_type, **fields}


def _single_item_body(
    body_type: str, item: dict[str, Any], render: Render, resolve: Resolve, fail: Fail
) -> tuple[dict[str, Any], str]:
    if body_type == "raw-text":
        return {"content": render(str(item.get("value") or ""))}, "text/plain"
    if body_type == "json":
        text = render(str(item.get("value") or ""))
        # Templates often break JSON (a quote in a value, a trailing comma): repair, then parse.
        parsed = json_repair.loads(text)
        if parsed == "" and text.strip() not in ('""', "''"):
            raise fail("body.data[0].value", f"not JSON, even after repair: {text[:200]!r}")
        return {"content": json.dumps(parsed, ensure_ascii=False)}, "application/json"
    files = _file_objects(resolve(_selector(item)))
    if len(files) != 1:
        raise fail("body.data[0].file", "a binary body needs a variable holding one file")
    mime = str(files[0].get("mime_type") or "application/octet-stream")
    return {"binary_file": files[0]}, mime


def _form_body(
    body_type: str, items: list[dict[str, Any]], render: Render, resolve: Resolve, fail: Fail
) -> dict[str, Any]:
    form: list[tuple[str, str]] = []
    form_files: list[tuple[str, dict[str, Any]]] = []
    for index, item in enumerate(items):
        key = render(str(item.get("key") or "")).strip()
        if not key:
            continue
        if item.get("type") != "file":
            form.append((key, render(str(item.get("value") or ""))))
            continue
        if body_type != "form-data":
            raise fail(f"body.data[{index}].type", "file fields need a form-data body")
        found = _file_objects(resolve(_selector(item)))
        if not found:
            raise fail(f"body.data[{index}].file", f"no file in the variable for {key!r}")
        form_files.extend((key, file) for file in found)
    return {"form": form, "form_files": form_files}
