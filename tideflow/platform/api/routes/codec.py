"""Temporal's codec server protocol, so operators can read encrypted payloads in the Temporal UI.

``POST /codec/decode`` and ``POST /codec/encode`` take and return ``{"payloads": [...]}`` (the
protobuf JSON of ``Payloads``: base64 ``data`` and ``metadata`` values). They hold the server
key, so they answer only an operator's console session (``Authorization: Bearer``: an owner
or admin named in TIDEFLOW_CODEC_OPERATOR_EMAILS, by default the bootstrap owner), and
browsers only from the configured Temporal UI's origin (CORS).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, cast
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from tideflow.platform.api.deps import CurrentAccount, SettingsDep
from tideflow.platform.api.errors import ApiError, invalid_param
from tideflow.platform.api.routes.console_models import ManagedTenant
from tideflow.platform.api.routes.console_runs import temporal_ui_base
from tideflow.platform.payload_codec import EncryptionCodec, PayloadDecryptionError
from tideflow.platform.settings import Settings, get_settings

_Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_ALLOWED_HEADERS = "authorization, content-type, x-namespace"


class _CorsRoute(APIRoute):
    """Adds the CORS headers to every answer, refusals included, so the Temporal UI shows why
    a request was refused instead of an opaque network error."""

    def get_route_handler(self) -> _Handler:
        handler = super().get_route_handler()

        async def with_cors(request: Request) -> Response:
            try:
                response = await handler(request)
            except ApiError as exc:
                response = JSONResponse(exc.body(), status_code=exc.status)
            origin = request.headers.get("origin")
            if origin is not None and origin in allowed_origins(get_settings()):
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Vary"] = "Origin"
            return response

        return with_cors


def _operator(settings: SettingsDep, account: CurrentAccount, _tenant: ManagedTenant) -> None:
    """403 unless the caller, an owner or admin, is one of the operators."""
    operators = settings.codec_operator_emails or [settings.owner_email]
    if account.email.lower() not in {email.lower() for email in operators}:
        raise ApiError(
            403,
            "forbidden",
            "the codec server answers operators only (TIDEFLOW_CODEC_OPERATOR_EMAILS)",
        )


router = APIRouter(prefix="/codec", tags=["codec server"], route_class=_CorsRoute)


def allowed_origins(settings: Settings) -> set[str]:
    """The Temporal UI's origin (TIDEFLOW_TEMPORAL_UI_URL, else the embedded UI's port)."""
    base = temporal_ui_base(settings)
    if base is None:
        return set()
    url = urlsplit(base)
    origins = {f"{url.scheme}://{url.netloc}"}
    if url.hostname == "127.0.0.1":  # the same embedded UI, opened as localhost
        origins.add(f"{url.scheme}://localhost" + (f":{url.port}" if url.port else ""))
    return origins


@router.options("/decode", include_in_schema=False)
@router.options("/encode", include_in_schema=False)
def preflight(request: Request, settings: SettingsDep) -> Response:
    """CORS preflight: allowed for the Temporal UI's origin only."""
    if request.headers.get("origin") not in allowed_origins(settings):
        raise ApiError(403, "forbidden", "this origin is not the configured Temporal UI")
    headers = {
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
        "Access-Control-Max-Age": "600",
    }
    return Response(status_code=204, headers=headers)


@router.post("/decode", dependencies=[Depends(_operator)])
async def decode_payloads(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """The payloads decrypted (payloads that are not encrypted come back unchanged)."""
    codec, payloads = await _read(request, settings)
    try:
        opened = [codec.open(p) for p in payloads]
    except PayloadDecryptionError as exc:
        raise invalid_param(f"payloads: {exc}") from None
    return _write(opened)


@router.post("/encode", dependencies=[Depends(_operator)])
async def encode_payloads(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """The payloads encrypted with the current key (as workers would write them)."""
    codec, payloads = await _read(request, settings)
    return _write([codec.seal(p) for p in payloads])


async def _read(request: Request, settings: Settings) -> tuple[EncryptionCodec, list[Payload]]:
    namespace = request.headers.get("x-namespace")
    if namespace not in (None, "", settings.temporal_namespace):
        raise invalid_param(
            f"X-Namespace: this codec server serves namespace {settings.temporal_namespace!r}"
        )
    try:
        body: object = await request.json()
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        raise invalid_param('body: expected JSON {"payloads": [...]}') from None
    items = cast("dict[str, object]", body).get("payloads") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise invalid_param("payloads: expected a list of payloads")
    payloads: list[Payload] = []
    for index, item in enumerate(cast("list[object]", items)):
        if not isinstance(item, dict):
            raise invalid_param(f"payloads[{index}]: expected an object")
        try:
            payloads.append(json_format.ParseDict(cast("dict[str, Any]", item), Payload()))
        except json_format.ParseError as exc:
            raise invalid_param(f"payloads[{index}]: not a Temporal payload ({exc})") from None
    return EncryptionCodec.from_settings(settings), payloads


def _write(payloads: list[Payload]) -> dict[str, Any]:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}
