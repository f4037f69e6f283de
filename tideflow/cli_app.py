"""``tideflow app import|export``: scripts and operators talk to a running API."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tideflow.platform.settings import Settings

if TYPE_CHECKING:
    import httpx

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class ApiCallError(Exception):
    """The API refused a call (its error envelope's message)."""


def add_app_args(parser: argparse.ArgumentParser) -> None:
    """``app import FILE [--publish] [--key]`` and ``app export APP_ID``."""
    sub = parser.add_subparsers(dest="app_command", required=True)
    imp = sub.add_parser("import", help="import a Dify DSL file; prints {app_id, api_key}")
    imp.add_argument("file", type=Path, help="the .yml export")
    imp.add_argument("--publish", action="store_true", help="publish the imported draft")
    imp.add_argument("--key", action="store_true", help="create a service API key (app-...)")
    exp = sub.add_parser("export", help="print an app's draft as Dify DSL")
    exp.add_argument("app_id")


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    if response.status_code >= 400:
        try:
            message = str(response.json().get("message", response.text))
        except ValueError:
            message = response.text
        raise ApiCallError(f"{method} {path}: {response.status_code} {message}")
    return response.json()


def _session(settings: Settings) -> httpx.Client:
    from tideflow.platform.bootstrap import read_owner_password  # sqlmodel: not for other commands

    password = read_owner_password(settings)
    if password is None:
        raise ApiCallError("set TIDEFLOW_OWNER_PASSWORD to the console owner's password")
    import httpx  # with its CLI's click and rich: only when this command runs

    client = httpx.Client(base_url=settings.api_base_url, timeout=60)
    login = _call(
        client,
        "POST",
        "/console/api/login",
        json={"email": settings.owner_email, "password": password},
    )
    client.headers["Authorization"] = f"Bearer {login['data']['access_token']}"
    return client


def _import(client: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    path: Path = args.file
    files = {"file": (path.name, path.read_bytes(), "application/x-yaml")}
    imported = _call(client, "POST", "/console/api/apps/imports", files=files)
    app_id = str(imported["app_id"])
    out: dict[str, Any] = {"app_id": app_id, "api_key": None}
    if args.publish:
        published = _call(client, "POST", f"/console/api/apps/{app_id}/workflows/publish")
        out["version"] = published["version"]["version"]
    if args.key:
        out["api_key"] = _call(client, "POST", f"/console/api/apps/{app_id}/api-keys")["token"]
    return out


def app_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``tideflow app ...``; exit 0, 1 (the API refused or is down) or 2 (bad file)."""
    import httpx

    if args.app_command == "import" and not Path(args.file).is_file():
        print(f"tideflow: {args.file}: no such file", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        client = _session(settings)
        try:
            if args.app_command == "import":
                print(json.dumps(_import(client, args)))
            else:
                print(_call(client, "GET", f"/console/api/apps/{args.app_id}/export")["data"])
        finally:
            client.close()
    except ApiCallError as exc:
        print(f"tideflow: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except httpx.HTTPError as exc:
        print(f"tideflow: cannot reach the API at {settings.api_base_url}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0
