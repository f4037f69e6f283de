"""What a model call sends, made from a request: messages with images resolved, and params.

Dify's ``completion_params`` arrive as the editor wrote them (numbers or strings); only the
sampling parameters litellm knows are sent, coerced to their types. Image parts name a Dify file
object; the model gets a URL: the file's remote URL, or a data URL read from the file store.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, cast

from tideflow.activities.files import read_file_object
from tideflow.activities.llm.models import LlmMessage, LlmRequest
from tideflow.platform.settings import Settings


class LlmParamError(ValueError):
    """A completion parameter whose value cannot be sent; names the parameter."""


def _as_list_of_str(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list | tuple):
        return [str(item) for item in cast(list[Any], value)]
    raise TypeError(f"expected a list of strings, got {type(value).__name__}")


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(number)


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    return float(value)


def _as_response_format(value: Any) -> dict[str, Any] | None:
    """Dify writes ``JSON``/``json_object``/``text``; an OpenAI dict passes as it is."""
    if isinstance(value, dict):
        return cast(dict[str, Any], value)
    text = str(value).strip().lower()
    if text in ("json", "json_object"):
        return {"type": "json_object"}
    if text in ("", "text"):
        return None
    raise ValueError(f"expected JSON, json_object or text, got {value!r}")


_PARAMS: dict[str, Callable[[Any], Any]] = {
    "temperature": _as_float,
    "top_p": _as_float,
    "max_tokens": _as_int,
    "stop": _as_list_of_str,
    "presence_penalty": _as_float,
    "frequency_penalty": _as_float,
    "seed": _as_int,
    "response_format": _as_response_format,
}


def completion_params(params: dict[str, Any]) -> dict[str, Any]:
    """The known sampling parameters, typed; empty values and unknown names are left out.

    Raises LlmParamError naming the parameter whose value is not of its type.
    """
    out: dict[str, Any] = {}
    for name, coerce in _PARAMS.items():
        value = params.get(name)
        if value is None or value == "" or value == []:
            continue
        try:
            typed = coerce(value)
        except (TypeError, ValueError) as exc:
            raise LlmParamError(f"completion_params.{name}: {exc}") from None
        if typed is not None and typed != []:
            out[name] = typed
    return out


async def litellm_messages(request: LlmRequest, settings: Settings) -> list[dict[str, Any]]:
    """The request's messages in OpenAI's shape, ``image_file`` parts turned into URLs.

    Raises FileFetchError (or SSRFBlockedError) when an image cannot be read; stored images
    are read only from the request's workspace.
    """
    return [await _message(message, settings, request.tenant_id) for message in request.messages]


async def _message(message: LlmMessage, settings: Settings, tenant_id: str) -> dict[str, Any]:
    out = message.model_dump(exclude_none=True, exclude={"memory"})
    if isinstance(message.content, list):
        out["content"] = [await _part(part, settings, tenant_id) for part in message.content]
    return out


async def _part(part: dict[str, Any], settings: Settings, tenant_id: str) -> dict[str, Any]:
    if part.get("type") != "image_file":
        return part
    file = cast(dict[str, Any], part.get("file") or {})
    image_url: dict[str, Any] = {"url": await image_url_for(file, settings, tenant_id)}
    if part.get("detail"):
        image_url["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image_url}


async def image_url_for(file: dict[str, Any], settings: Settings, tenant_id: str) -> str:
    """A remote file's URL as it is; a stored file of workspace ``tenant_id`` as a ``data:``
    URL of its bytes."""
    if file.get("transfer_method") == "remote_url":
        url = file.get("remote_url") or file.get("url")
        if isinstance(url, str) and url:
            return url
    content = await read_file_object(file, settings, tenant_id=tenant_id)
    mime = str(file.get("mime_type") or "image/png")
    return f"data:{mime};base64,{base64.b64encode(content).decode()}"
