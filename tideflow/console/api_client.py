"""The console's only way to the platform: Tideflow's HTTP API (``/console/api``, ``/v1``).

``ConsoleClient`` sends the signed-in account's token, turns an error answer into
``ConsoleApiError`` carrying the API's own message (it names the field or node at fault), and
reads Server-Sent Events for streamed runs. ``client()`` builds one for the current Streamlit
session.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import httpx

TOKEN_KEY = "tideflow_token"
ACCOUNT_KEY = "tideflow_account"


class ConsoleApiError(Exception):
    """The API refused a request: its status, Dify-style code and message."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"{message} ({status} {code})")
        self.status = status
        self.code = code
        self.message = message
        self.body = body


@dataclass
class ConsoleClient:
    """Calls to the API as the signed-in account."""

    base_url: str
    token: str | None = None
    timeout: float = 60.0

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**headers, **(extra or {})}

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        files: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The answer's JSON (None for an empty answer); ConsoleApiError for a 4xx or 5xx, and
        for an API that cannot be reached (status 0)."""
        try:
            response = httpx.request(
                method,
                f"{self.base_url}{path}",
                json=json_body,
                params=params,
                files=files,
                data=data,
                headers=self._headers(headers),
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise ConsoleApiError(0, "unreachable", f"the API at {self.base_url}: {exc}") from exc
        return _answer(response)

    def get(self, path: str, **params: Any) -> Any:
        """GET with query parameters (None values left out)."""
        kept = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=kept)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        """POST a JSON body (or ``files``/``data`` for multipart)."""
        return self.request("POST", path, json_body=body, **kwargs)

    def put(self, path: str, body: Any = None) -> Any:
        """PUT a JSON body."""
        return self.request("PUT", path, json_body=body)

    def patch(self, path: str, body: Any = None) -> Any:
        """PATCH a JSON body."""
        return self.request("PATCH", path, json_body=body)

    def delete(self, path: str, body: Any = None) -> Any:
        """DELETE (Dify's MCP route takes a body)."""
        return self.request("DELETE", path, json_body=body)

    def stream(
        self,
        path: str,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """POST and yield each SSE event's JSON payload as it arrives (pings left out)."""
        try:
            with httpx.stream(
                "POST",
                f"{self.base_url}{path}",
                json=body,
                headers=self._headers(headers),
                timeout=httpx.Timeout(self.timeout, read=None),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    _answer(response)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    try:
                        payload: Any = json.loads(line[5:].strip())
                    except ValueError:
                        continue  # not an event of ours (a comment or a broken line)
                    if isinstance(payload, dict):
                        yield cast(dict[str, Any], payload)
        except httpx.HTTPError as exc:
            raise ConsoleApiError(0, "unreachable", f"the API at {self.base_url}: {exc}") from exc


def _answer(response: httpx.Response) -> Any:
    body: Any = None
    if response.content:
        try:
            body = response.json()
        except ValueError:
            body = response.text
    if response.status_code >= 400:
        fields: dict[str, Any] = cast(dict[str, Any], body) if isinstance(body, dict) else {}
        message = str(fields.get("message") or response.text or response.reason_phrase)
        raise ConsoleApiError(response.status_code, str(fields.get("code") or ""), message, body)
    if isinstance(body, str):  # a JSON API answered with something else: not ours to index
        raise ConsoleApiError(response.status_code, "not_json", f"unexpected answer: {body[:200]}")
    return body


def api_base_url() -> str:
    """Where the API is (``TIDEFLOW_API_URL``, else the configured host and port)."""
    from tideflow.platform.settings import get_settings

    return get_settings().api_base_url


def client() -> ConsoleClient:
    """A client for this Streamlit session, signed in when the session has a token."""
    import streamlit as st

    token = st.session_state.get(TOKEN_KEY)
    return ConsoleClient(api_base_url(), str(token) if token else None)
