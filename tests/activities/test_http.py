"""The http_request activity against a real local server: bodies, auth, files, caps, errors."""

from __future__ import annotations

import base64
import json

import pytest

from tests.activities.support import (
    PNG,
    UseSettings,
    build,
    echoed,
    fails,
    free_port,
    http_node,
    run,
)
from tideflow.activities.files import load_file, save_file
from tideflow.platform.settings import Settings


@pytest.fixture
def private(use_settings: UseSettings) -> Settings:
    """Settings that let nodes reach the loopback test server."""
    return use_settings(allow_private_network="true")


async def test_get_with_params_headers_and_auth(server: str, private: Settings) -> None:
    del private
    req = build(
        http_node(
            f"{server}/echo?fixed=1",
            headers="X-Trace:{{#start.id#}}\nX-Name: Zoë",
            params="q:{{#start.city#}}\nq:two",
            authorization={
                "type": "api-key",
                "config": {"type": "custom", "api_key": "k1", "header": "X-Key"},
            },
        ),
        {("start", "id"): "t-9", ("start", "city"): "São Paulo"},
    )
    result = await run(req)
    got = echoed(result)
    assert got["method"] == "GET"
    assert got["query"] == [["fixed", "1"], ["q", "São Paulo"], ["q", "two"]]
    assert got["headers"]["x-trace"] == "t-9" and got["headers"]["x-key"] == "k1"
    assert got["headers"]["x-name"].encode("latin-1").decode() == "Zoë"  # sent as UTF-8
    assert result.headers["content-type"] == "application/json" and result.files == []


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
async def test_json_body_every_method(server: str, private: Settings, method: str) -> None:
    del private
    body = {"type": "json", "data": [{"type": "text", "value": '{"city": "{{#start.c#}}"}'}]}
    got = echoed(
        await run(
            build(http_node(f"{server}/echo", method=method, body=body), {("start", "c"): "Oslo"})
        )
    )
    assert got["method"] == method.upper()
    assert json.loads(got["body"]) == {"city": "Oslo"}
    assert got["headers"]["content-type"] == "application/json"


async def test_head_request(server: str, private: Settings) -> None:
    del private
    result = await run(build(http_node(f"{server}/status/200", method="head")))
    assert result.status_code == 200 and result.body == ""


async def test_raw_text_and_urlencoded_bodies(server: str, private: Settings) -> None:
    del private
    raw = {"type": "raw-text", "data": [{"type": "text", "value": "hello {{#start.n#}}"}]}
    got = echoed(
        await run(
            build(http_node(f"{server}/echo", method="post", body=raw), {("start", "n"): "Ann"})
        )
    )
    assert got["body"] == "hello Ann" and got["headers"]["content-type"] == "text/plain"
    form = {
        "type": "x-www-form-urlencoded",
        "data": [
            {"key": "a", "type": "text", "value": "1 & 2"},
            {"key": "a", "type": "text", "value": "é"},
        ],
    }
    got = echoed(await run(build(http_node(f"{server}/echo", method="post", body=form))))
    assert got["form"] == {"a": ["1 & 2", "é"]}


async def test_form_data_with_files_and_without(server: str, private: Settings) -> None:
    pdf = save_file(
        b"%PDF-fake",
        filename="report.pdf",
        mime_type="application/pdf",
        settings=private,
        tenant_id="",
    )
    body = {
        "type": "form-data",
        "data": [
            {"key": "title", "type": "text", "value": "Q{{#start.q#}}"},
            {"key": "upload", "type": "file", "file": ["start", "doc"]},
        ],
    }
    req = build(
        http_node(f"{server}/echo", method="post", body=body),
        {("start", "q"): "3", ("start", "doc"): pdf},
    )
    got = echoed(await run(req))
    assert got["form"]["title"] == ["Q3"]
    [upload] = got["form"]["upload"]
    assert upload["filename"] == "report.pdf" and upload["content_type"] == "application/pdf"
    assert base64.b64decode(upload["content_b64"]) == b"%PDF-fake"
    # Text fields only: still multipart, as a form-data body must be.
    text_only = {"type": "form-data", "data": [{"key": "k", "type": "text", "value": "v"}]}
    got = echoed(await run(build(http_node(f"{server}/echo", method="post", body=text_only))))
    assert got["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert got["form"] == {"k": ["v"]}


async def test_binary_body_sends_the_files_bytes(server: str, private: Settings) -> None:
    image = save_file(
        PNG, filename="dot.png", mime_type="image/png", settings=private, tenant_id=""
    )
    body = {"type": "binary", "data": [{"type": "file", "file": ["start", "img"]}]}
    got = echoed(
        await run(
            build(http_node(f"{server}/echo", method="post", body=body), {("start", "img"): image})
        )
    )
    assert base64.b64decode(got["body_b64"]) == PNG
    assert got["headers"]["content-type"] == "image/png"


async def test_missing_stored_file_is_not_retryable(server: str, private: Settings) -> None:
    del private
    missing = {"transfer_method": "local_file", "related_id": "nope", "filename": "x.bin"}
    body = {"type": "binary", "data": [{"type": "file", "file": ["start", "f"]}]}
    error = await fails(
        build(http_node(f"{server}/echo", method="post", body=body), {("start", "f"): missing})
    )
    assert error.type == "FileFetchError" and error.non_retryable


@pytest.mark.parametrize(
    ("query", "mime", "filename", "kind"),
    [
        ("fill=png&media_type=image/png", "image/png", "bytes", "image"),
        (
            "size=10&media_type=application/pdf&disposition=attachment;%20filename*=UTF-8''r%25C3%25A9sum%25C3%25A9.pdf",
            "application/pdf",
            "résumé.pdf",
            "document",
        ),
        ("size=10&media_type=text/csv", "text/csv", "bytes", "document"),
        (
            "size=300&fill=binary&media_type=application/octet-stream",
            "application/octet-stream",
            "bytes",
            "custom",
        ),
        ("size=300&fill=binary", "application/octet-stream", "bytes", "custom"),
        (
            "size=5&media_type=text/plain&disposition=inline;%20filename=../../etc/a.txt",
            "text/plain",
            "a.txt",
            "document",
        ),
    ],
)
async def test_file_responses_are_saved(
    server: str, private: Settings, query: str, mime: str, filename: str, kind: str
) -> None:
    result = await run(build(http_node(f"{server}/bytes?{query}")))
    assert result.status_code == 200 and result.body == ""
    [file] = result.files
    assert file["transfer_method"] == "tool_file" and file["mime_type"] == mime
    assert file["filename"] == filename and file["type"] == kind
    stored = load_file(file["related_id"], private, tenant_id="")
    assert len(stored) == file["size"] > 0
    assert file["extension"].startswith(".")


@pytest.mark.parametrize(
    "query",
    [
        "size=20&fill={&media_type=application/octet-stream",  # sniffed: JSON-ish text
        "size=20&media_type=application/vnd.api%2Bjson",
        "size=20&media_type=text/html;%20charset=utf-8",
        "size=20",  # no content type, readable bytes
    ],
)
async def test_text_responses_stay_in_body(server: str, private: Settings, query: str) -> None:
    del private
    result = await run(build(http_node(f"{server}/bytes?{query}")))
    assert result.files == [] and len(result.body) == 20


async def test_size_caps(server: str, use_settings: UseSettings) -> None:
    use_settings(
        allow_private_network="true", http_max_text_bytes="2048", http_max_binary_bytes="4096"
    )
    ok = await run(build(http_node(f"{server}/bytes?size=2048&media_type=text/plain")))
    assert len(ok.body) == 2048
    for query in ("size=2049&media_type=text/plain", "size=4097&fill=binary&media_type=image/png"):
        error = await fails(build(http_node(f"{server}/bytes?{query}")))
        assert error.type == "ResponseSizeError" and "cap" in error.message
    assert (
        await run(build(http_node(f"{server}/bytes?size=4096&fill=binary&media_type=image/png")))
    ).files


async def test_error_status_succeeds_unless_retry_or_strategy(
    server: str, private: Settings
) -> None:
    del private
    result = await run(build(http_node(f"{server}/status/404")))
    assert result.status_code == 404 and result.body == "status 404"
    error = await fails(build(http_node(f"{server}/status/503", error_strategy="default-value")))
    assert error.type == "HTTPResponseCodeError" and not error.non_retryable
    assert error.message == "status 503"
    assert error.details[0]["status_code"] == 503 and error.details[0]["body"] == "status 503"


async def test_read_timeout_is_retryable(server: str, private: Settings) -> None:
    del private
    error = await fails(build(http_node(f"{server}/slow?seconds=3", timeout={"read": 0.3})))
    assert error.type == "HttpRequestNodeError" and not error.non_retryable
    assert "timed out reading the response" in error.message


async def test_node_timeouts_are_capped_by_settings(server: str, use_settings: UseSettings) -> None:
    use_settings(allow_private_network="true", http_max_read_timeout_s="0.3")
    error = await fails(build(http_node(f"{server}/slow?seconds=3", timeout={"read": 60})))
    assert "timed out" in error.message


async def test_connection_refused_is_retryable(private: Settings) -> None:
    del private
    error = await fails(build(http_node(f"http://127.0.0.1:{free_port()}/")))
    assert error.type == "HttpRequestNodeError" and not error.non_retryable


async def test_redirects_are_followed_when_allowed(server: str, private: Settings) -> None:
    del private
    result = await run(build(http_node(f"{server}/redirect?to=/echo")))
    assert echoed(result)["method"] == "GET"
    result = await run(build(http_node(f"{server}/redirect?to=/echo", follow_redirects=False)))
    assert result.status_code == 302
