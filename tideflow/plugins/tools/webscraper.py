"""Dify's built-in ``webscraper``: a web page's readable text, fetched through the SSRF guard.

The page is fetched with ``tideflow.activities.ssrf.guarded_client`` (private and loopback
targets refused unless the settings allow them; every redirect hop checked) and read up to
the settings' HTTP size limits. HTML becomes ``TITLE: …`` plus its visible text; other types
go through the document extractor's readers (plain text, JSON, CSV, PDF, DOCX…).
"""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any

import httpx

from tideflow.activities.document import UnsupportedFileTypeError, extract_html, extractor_for
from tideflow.activities.ssrf import BodyTooLargeError, guarded_client, read_capped
from tideflow.plugins.tools.base import (
    FunctionTool,
    ToolContext,
    ToolError,
    ToolParameter,
    ToolResult,
)

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/91.0.4472.124 Safari/537.36"
)
# A page read is short work; the HTTP node's 10-minute read limit would be far too patient.
READ_TIMEOUT_S = 60.0
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TITLE_SCAN_BYTES = 16 * 1024
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _is_text(content_type: str) -> bool:
    return content_type.startswith("text/") or content_type in (
        "application/json",
        "application/xml",
        "application/xhtml+xml",
        "",
    )


async def _read_limited(response: httpx.Response, limit: int, url: str) -> bytes:
    try:
        return await read_capped(response, limit)
    except BodyTooLargeError as exc:
        size = f"{exc.declared} bytes, over" if exc.declared else "over"
        raise ToolError(f"{url}: the page is {size} the limit of {limit} bytes") from None


async def fetch_page(url: str, user_agent: str, context: ToolContext) -> tuple[str, bytes]:
    """(content type, body) of ``url`` through the SSRF guard; ToolError on a network failure,
    a non-200 status or a page over the size limit. SSRFBlockedError passes through."""
    settings = context.settings
    timeout = httpx.Timeout(
        connect=settings.http_max_connect_timeout_s,
        read=min(settings.http_max_read_timeout_s, READ_TIMEOUT_S),
        write=settings.http_max_connect_timeout_s,
        pool=settings.http_max_connect_timeout_s,
    )
    client = guarded_client(settings, timeout=timeout, verify=settings.http_ssl_verify)
    try:
        async with client, client.stream("GET", url, headers={"User-Agent": user_agent}) as resp:
            if resp.status_code != 200:
                raise ToolError(f"URL returned status code {resp.status_code}: {url}")
            content_type = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            limit = (
                settings.http_max_text_bytes
                if _is_text(content_type)
                else settings.http_max_binary_bytes
            )
            return content_type, await _read_limited(resp, limit, url)
    except httpx.InvalidURL as exc:
        raise ToolError(f"parameter 'url' is not a valid URL: {url!r} ({exc})") from None
    except httpx.HTTPError as exc:
        raise ToolError(f"fetching {url} failed: {exc or type(exc).__name__}") from None


def page_text(content_type: str, body: bytes, url: str) -> str:
    """The readable text of a fetched page."""
    looks_html = not content_type and body.lstrip()[:1] == b"<"
    if content_type in _HTML_TYPES or looks_html:
        text = extract_html(body)
        # The title is in the head: only the start is searched (the lazy pattern is
        # quadratic over a page of many unclosed <title> tags).
        found = _TITLE.search(body[:_TITLE_SCAN_BYTES].decode("utf-8", errors="replace"))
        title = " ".join(html.unescape(found.group(1)).split()) if found else ""
        return f"TITLE: {title}\nTEXT:\n\n{text}\n" if text else ""
    filename = httpx.URL(url).path.rpartition("/")[2]
    try:
        extractor = extractor_for({"mime_type": content_type, "filename": filename})
    except UnsupportedFileTypeError:
        raise ToolError(f"Unsupported content-type [{content_type}] of URL {url}") from None
    return extractor(body)


async def _webscraper(params: dict[str, Any], context: ToolContext) -> ToolResult:
    url = params["url"].strip()
    if not url.lower().startswith(("http://", "https://")):
        raise ToolError(f"parameter 'url' must start with http:// or https:// (got {url!r})")
    user_agent = params.get("user_agent") or DEFAULT_USER_AGENT
    content_type, body = await fetch_page(url, user_agent, context)
    try:
        # PDFs and the like are CPU work: keep the event loop free for heartbeats.
        text = await asyncio.to_thread(page_text, content_type, body, url)
    except ToolError:
        raise
    except Exception as exc:  # a reader failing on a malformed document
        raise ToolError(f"reading {url} failed: {exc}") from None
    return ToolResult(text=text)


WEBSCRAPER = FunctionTool(
    "webscraper",
    "Web Scraper",
    "A tool for scraping webpages. Input should be a URL.",
    [
        ToolParameter("url", "string", required=True, description="URL to read"),
        ToolParameter(
            "user_agent",
            "string",
            form="form",
            description="User-Agent header",
            default=DEFAULT_USER_AGENT,
        ),
        # Dify summarises with the workspace's model when set; Tideflow returns the full text.
        ToolParameter("generate_summary", "boolean", form="form", default=False),
    ],
    _webscraper,
)
