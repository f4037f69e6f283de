"""The file store: uploaded and generated files kept as bytes under ``settings.files_dir``.

A stored file is named by its ``related_id``; beside it the store records the workspace
(tenant) that owns it (``file_owners``). Every read names the reader's tenant and is refused for
a file of another workspace, so an id that leaked cannot be read from another workspace's run.
Everything else about a file (name, MIME type, size) travels in the Dify file object (a dict)
that workflows pass around.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import uuid
from pathlib import Path
from typing import Any, Literal

import httpx

from tideflow.activities.file_owners import (
    OwnerLookupError,
    delete_owner,
    file_owner,
    write_owner,
)
from tideflow.activities.ssrf import BodyTooLargeError, guarded_client, read_capped
from tideflow.platform.settings import Settings

# Lets the variable system tell a file object from any other dict, as Dify's File does.
FILE_IDENTITY = "__dify__file__"

_RELATED_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_DOCUMENT_MIME = ("pdf", "word", "officedocument", "text/", "json", "xml", "csv", "epub")


class FileFetchError(Exception):
    """A file object whose content cannot be had (missing in the store, download failed)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        # True for failures a later attempt may not meet (network, server errors).
        self.retryable = retryable


class FileNotInWorkspaceError(FileFetchError):
    """A stored file owned by another workspace (or by none): never read, never retried."""


def file_path(related_id: str, settings: Settings) -> Path:
    """Where the store keeps ``related_id``; refuses ids that could escape the store."""
    if not _RELATED_ID.match(related_id):
        raise FileFetchError(f"invalid file id {related_id!r}")
    return settings.files_dir / related_id


def file_type_for(mime_type: str, extension: str) -> str:
    """Dify's coarse file type (image, audio, video, document, custom) for a MIME type."""
    major = mime_type.split("/", 1)[0]
    if major in ("image", "audio", "video"):
        return major
    if any(marker in mime_type for marker in _DOCUMENT_MIME) or extension in (".md", ".txt"):
        return "document"
    return "custom"


def save_file(
    content: bytes,
    *,
    filename: str,
    mime_type: str | None,
    settings: Settings,
    tenant_id: str,
    transfer_method: Literal["local_file", "tool_file"] = "tool_file",
) -> dict[str, Any]:
    """Store ``content`` as a file of workspace ``tenant_id``; return its Dify file object."""
    related_id = uuid.uuid4().hex
    path = file_path(related_id, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The owner first: bytes in the store always have one.
    write_owner(path, tenant_id)
    path.write_bytes(content)
    extension = Path(filename).suffix.lower()
    mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if not extension:
        extension = mimetypes.guess_extension(mime) or ""
    return {
        "dify_model_identity": FILE_IDENTITY,
        "id": related_id,
        "type": file_type_for(mime, extension),
        "transfer_method": transfer_method,
        "remote_url": None,
        "related_id": related_id,
        "filename": filename,
        "extension": extension,
        "mime_type": mime,
        "size": len(content),
    }


def load_file(
    related_id: str, settings: Settings, *, tenant_id: str, name: str | None = None
) -> bytes:
    """The stored bytes of ``related_id``, for a reader in workspace ``tenant_id``.

    Raises FileNotInWorkspaceError when another workspace owns the file or none does (``name``,
    the file's name, goes in the message), FileFetchError when it is not stored.
    """
    path = file_path(related_id, settings)
    try:
        owner = file_owner(path, related_id, settings.db_url)
    except OwnerLookupError as exc:
        raise FileFetchError(f"file {related_id}: {exc}", retryable=True) from exc
    if owner is None and not path.exists():
        raise FileFetchError(f"file {related_id} is not in the file store")
    if owner != tenant_id:
        shown = f"{name!r} (id {related_id})" if name and name != related_id else related_id
        raise FileNotInWorkspaceError(f"file {shown} is not in this workspace")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileFetchError(f"file {related_id} is not in the file store") from None


def delete_file(related_id: str, settings: Settings) -> None:
    """Remove a stored file and its owner record (missing is fine)."""
    path = file_path(related_id, settings)
    path.unlink(missing_ok=True)
    delete_owner(path)


async def read_file_object(file: dict[str, Any], settings: Settings, *, tenant_id: str) -> bytes:
    """The content of a Dify file object: from the store (only a file of workspace
    ``tenant_id``), or downloaded through the SSRF guard.

    Raises FileFetchError (FileNotInWorkspaceError for another workspace's file), or
    SSRFBlockedError for a remote URL the guard refuses.
    """
    name = file.get("filename") or file.get("id") or "file"
    method = file.get("transfer_method")
    if method == "remote_url":
        url = file.get("remote_url") or file.get("url")
        if not isinstance(url, str) or not url:
            raise FileFetchError(f"file {name!r} has transfer_method remote_url but no remote_url")
        return await _download(url, settings)
    related_id = file.get("related_id") or file.get("reference")
    if method not in ("local_file", "tool_file", "datasource_file") or not related_id:
        raise FileFetchError(
            f"file {name!r}: cannot read transfer_method {method!r} without a related_id"
        )
    return await asyncio.to_thread(
        load_file, str(related_id), settings, tenant_id=tenant_id, name=str(name)
    )


async def _download(url: str, settings: Settings) -> bytes:
    cap = settings.file_fetch_max_bytes
    timeout = httpx.Timeout(
        connect=settings.http_max_connect_timeout_s,
        read=settings.http_max_read_timeout_s,
        write=settings.http_max_write_timeout_s,
        pool=settings.http_max_connect_timeout_s,
    )
    async with guarded_client(settings, timeout=timeout) as client:
        try:
            async with client.stream("GET", url) as response:
                if not response.is_success:
                    raise FileFetchError(
                        f"downloading {url}: HTTP {response.status_code}",
                        retryable=response.status_code >= 500,
                    )
                try:
                    return await read_capped(response, cap)
                except BodyTooLargeError:
                    raise FileFetchError(f"downloading {url}: larger than {cap} bytes") from None
        except httpx.HTTPError as exc:
            raise FileFetchError(
                f"downloading {url} failed: {exc or type(exc).__name__}", retryable=True
            ) from exc
