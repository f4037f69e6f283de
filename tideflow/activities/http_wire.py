"""Wire details of the http-request activity: multipart bodies and reading responses.

A response is kept as text (the node's ``body``) or saved to the file store (the node's
``files``), decided like Dify: Content-Disposition first, then the MIME type, then a look at
the first KiB. Text is capped at ``http_max_text_bytes``, files at ``http_max_binary_bytes``.
"""

from __future__ import annotations

import asyncio
import codecs
import uuid
from email.message import Message
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

import httpx

from tideflow.activities.files import save_file
from tideflow.activities.ssrf import BodyTooLargeError, read_capped
from tideflow.platform.settings import Settings

# application/* subtypes that are text whatever the bytes look like.
_TEXTUAL_SUBTYPES = ("json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "graphql")
# Byte patterns that mark an untyped application/* body as text (JSON, markup, scripts).
_TEXT_MARKERS = (b"{", b"[", b"<", b"function", b"var ", b"const ", b"let ")
_SAMPLE_BYTES = 1024


class ResponseSizeError(Exception):
    """A response larger than the cap for its kind (text or file)."""


def _quote(value: str) -> bytes:
    # Browsers' form encoding: quotes and line breaks in names are percent-escaped.
    escaped = value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    return escaped.encode()


def encode_multipart(
    fields: list[tuple[str, str]],
    files: list[tuple[str, dict[str, Any]]],
    contents: list[bytes],
) -> tuple[bytes, str]:
    """A multipart/form-data body (even with no files) and its Content-Type header value."""
    boundary = uuid.uuid4().hex.encode()
    out = bytearray()
    for name, value in fields:
        out += b"--" + boundary + b"\r\n"
        out += b'Content-Disposition: form-data; name="' + _quote(name) + b'"\r\n\r\n'
        out += value.encode() + b"\r\n"
    for (name, file), content in zip(files, contents, strict=True):
        filename = str(file.get("filename") or "file")
        mime = str(file.get("mime_type") or "application/octet-stream")
        out += b"--" + boundary + b"\r\n"
        out += b'Content-Disposition: form-data; name="' + _quote(name) + b'"; filename="'
        out += _quote(filename) + b'"\r\nContent-Type: ' + mime.encode() + b"\r\n\r\n"
        out += content + b"\r\n"
    out += b"--" + boundary + b"--\r\n"
    return bytes(out), f"multipart/form-data; boundary={boundary.decode()}"


def _disposition(header: str) -> tuple[str | None, str | None]:
    """(disposition type, filename) of a Content-Disposition header, RFC 2231 names included."""
    if not header:
        return None, None
    message = Message()
    message["content-disposition"] = header
    return message.get_content_disposition(), message.get_filename()


def _decodes_as_utf8(sample: bytes) -> bool:
    try:
        # Not final: the sample may end in the middle of a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def response_is_file(content_type: str, disposition: str, sample: bytes) -> bool:
    """Whether a response is a file (saved, returned in ``files``) rather than text."""
    kind, filename = _disposition(disposition)
    if kind == "attachment" or filename:
        return True
    mime = content_type.split(";", 1)[0].strip().lower()
    major, _, minor = mime.partition("/")
    if not mime:  # untyped: binary bytes are a file, anything readable is text
        return not _decodes_as_utf8(sample)
    if major == "text":
        return "csv" in minor  # CSV downloads are files; other text is the body
    if major in ("image", "audio", "video"):
        return True
    if major == "application":
        if any(subtype in minor for subtype in _TEXTUAL_SUBTYPES):
            return False
        looks_textual = any(marker in sample for marker in _TEXT_MARKERS)
        return not (_decodes_as_utf8(sample) and looks_textual)
    return False


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    try:
        return await read_capped(response, cap)
    except BodyTooLargeError as exc:
        size = f"{exc.declared} bytes, over" if exc.declared else "over"
        raise ResponseSizeError(
            f"response from {response.url} is {size} the {cap}-byte file cap"
        ) from None


def _filename(response: httpx.Response, disposition: str) -> str:
    _, filename = _disposition(disposition)
    # Only the last path part: a name like "../../x" must not mean anything to anyone.
    name = PurePosixPath(filename or unquote(response.url.path)).name
    return name or "file"


def _text(content: bytes, content_type: str) -> str:
    message = Message()
    message["content-type"] = content_type or "text/plain"
    charset = str(message.get_param("charset") or "utf-8")
    try:
        return content.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return content.decode("utf-8", errors="replace")


async def read_response(
    response: httpx.Response, settings: Settings, tenant_id: str
) -> tuple[str, list[dict[str, Any]]]:
    """Read a streamed response into the node's ``body`` and ``files`` outputs (a file response
    is stored as a file of workspace ``tenant_id``).

    Raises ResponseSizeError when it is over the cap for its kind.
    """
    content = await _read_capped(response, settings.http_max_binary_bytes)
    content_type = response.headers.get("content-type", "")
    disposition = response.headers.get("content-disposition", "")
    if response_is_file(content_type, disposition, content[:_SAMPLE_BYTES]):
        mime = content_type.split(";", 1)[0].strip().lower() or None
        file = await asyncio.to_thread(
            save_file,
            content,
            filename=_filename(response, disposition),
            mime_type=mime,
            settings=settings,
            tenant_id=tenant_id,
        )
        return "", [file]
    cap = settings.http_max_text_bytes
    if len(content) > cap:
        raise ResponseSizeError(
            f"text response from {response.url} is {len(content)} bytes, "
            f"over the {cap}-byte text cap"
        )
    return _text(content, content_type), []
