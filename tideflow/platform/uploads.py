"""Uploaded files: checked against the size and type limits, kept in the file store, and
turned into the Dify file objects a run expects when a request refers to them by
``upload_file_id``."""

from __future__ import annotations

import mimetypes
from pathlib import PurePath
from typing import Any

from sqlmodel import Session

from tideflow.activities.files import FILE_IDENTITY, file_type_for, save_file
from tideflow.platform.api.errors import ApiError, invalid_param
from tideflow.platform.db.crud import feedback as file_crud
from tideflow.platform.db.models import App, EndUser, UploadFile
from tideflow.platform.settings import Settings
from tideflow.workflows.graph.plan import ExecutionPlan

_FILE_TYPES = ("file", "file-list")


def store_upload(
    session: Session,
    settings: Settings,
    app: App,
    user: EndUser,
    filename: str,
    mime_type: str | None,
    content: bytes,
) -> UploadFile:
    """Check the limits, store the bytes, record the upload; 413 or 415 when refused."""
    if len(content) > settings.upload_max_bytes:
        limit_mb = settings.upload_max_bytes / (1024 * 1024)
        raise ApiError(413, "file_too_large", f"{filename}: larger than {limit_mb:g} MB")
    extension = PurePath(filename).suffix.lower().lstrip(".")
    blocked = {e.lower().lstrip(".") for e in settings.upload_blocked_extensions}
    if extension in blocked:
        raise ApiError(415, "unsupported_file_type", f"{filename}: .{extension} files are refused")
    mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    stored = save_file(
        content,
        filename=filename,
        mime_type=mime,
        settings=settings,
        tenant_id=app.tenant_id,
        transfer_method="local_file",
    )
    upload = UploadFile(
        tenant_id=app.tenant_id,
        app_id=app.id,
        end_user_id=user.id,
        name=filename,
        size=len(content),
        extension=extension,
        mime_type=mime,
        store_id=str(stored["related_id"]),
    )
    return file_crud.add_upload(session, upload)


def file_object(upload: UploadFile, declared_type: str | None = None) -> dict[str, Any]:
    """The Dify file object of an upload (what nodes such as document-extractor read)."""
    extension = f".{upload.extension}" if upload.extension else ""
    return {
        "dify_model_identity": FILE_IDENTITY,
        "id": upload.id,
        "type": declared_type or file_type_for(upload.mime_type, extension),
        "transfer_method": "local_file",
        "remote_url": None,
        "related_id": upload.store_id,
        "upload_file_id": upload.id,
        "filename": upload.name,
        "extension": extension,
        "mime_type": upload.mime_type,
        "size": upload.size,
    }


_CALLER_METHODS = ("local_file", "remote_url")
# Keys that name a file in the store: only the API sets them (from an app-scoped upload).
_STORE_KEYS = ("related_id", "reference", "upload_file_id")


def _resolve_one(session: Session, app: App, item: Any, where: str) -> Any:
    """A caller's file object: a ``local_file`` becomes the object of this app's upload, a
    ``remote_url`` keeps only its URL fields; any other transfer method is refused (it
    would name a stored file directly, across apps)."""
    if not isinstance(item, dict):
        raise invalid_param(f"{where}: expected a file object")
    fields: dict[str, Any] = dict(item)  # pyright: ignore[reportUnknownArgumentType]
    method = fields.get("transfer_method")
    if method not in _CALLER_METHODS:
        raise invalid_param(f"{where}: transfer_method must be local_file or remote_url")
    if method == "remote_url":
        return {k: v for k, v in fields.items() if k not in _STORE_KEYS}
    upload_id = fields.get("upload_file_id") or fields.get("related_id")  # an upload id
    if not isinstance(upload_id, str) or not upload_id:
        raise invalid_param(f"{where}: a local_file needs upload_file_id")
    upload = file_crud.get_upload(session, app, upload_id)
    if upload is None:
        raise invalid_param(f"{where}: upload_file_id {upload_id} was not uploaded to this app")
    declared = fields.get("type")
    return file_object(upload, declared if isinstance(declared, str) else None)


def resolve_files(session: Session, app: App, files: list[Any], where: str) -> list[Any]:
    """``files`` with each ``{transfer_method: local_file, upload_file_id}`` made a file object."""
    return [_resolve_one(session, app, f, f"{where}[{i}]") for i, f in enumerate(files)]


def resolve_inputs(
    session: Session, app: App, plan: ExecutionPlan, inputs: dict[str, Any]
) -> dict[str, Any]:
    """``inputs`` with the uploads that file and file-list start variables refer to resolved."""
    root = plan.nodes.get(plan.root_id)
    variables: list[dict[str, Any]] = list(root.data.get("variables") or []) if root else []
    resolved = dict(inputs)
    for variable in variables:
        name = str(variable.get("variable", ""))
        value = resolved.get(name)
        if variable.get("type") not in _FILE_TYPES or value is None:
            continue
        if isinstance(value, list):
            resolved[name] = resolve_files(session, app, list(value), f"inputs.{name}")  # pyright: ignore[reportUnknownArgumentType]
        else:
            resolved[name] = _resolve_one(session, app, value, f"inputs.{name}")
    return resolved
