"""build_http_request: Dify http-request node data → a concrete request, purely."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.activities.support import build, http_node
from tideflow.activities.http import HttpRequestConfigError


def test_build_renders_url_headers_params_and_defaults() -> None:
    pool = {("start", "city"): "Paris", ("start", "token"): "s3cret", ("sys", "user_id"): "u1"}
    req = build(
        http_node(
            "https://api.example.com/{{#start.city#}}/weather",
            method="POST",
            headers="X-User:{{#sys.user_id#}}\n\nX-Empty\nAccept: application/json ",
            params="q:{{#start.city#}}\nq:again\nunits:metric",
            authorization={
                "type": "api-key",
                "config": {"type": "bearer", "api_key": "{{#start.token#}}"},
            },
        ),
        pool,
    )
    assert req.method == "POST"
    assert req.url == "https://api.example.com/Paris/weather"
    assert req.headers == {
        "X-User": "u1",
        "X-Empty": "",
        "Accept": "application/json",
        "Authorization": "Bearer s3cret",
    }
    assert req.params == [("q", "Paris"), ("q", "again"), ("units", "metric")]
    assert (req.timeout.connect, req.timeout.read, req.timeout.write) == (10, 600, 600)
    assert req.body_type == "none" and req.ssl_verify is None and req.follow_redirects
    assert not req.fail_on_error_status


def test_build_unresolved_reference_renders_as_dotted_path() -> None:
    assert build(http_node("http://h/{{#missing.var#}}")).url == "http://h/missing.var"


def test_build_variable_with_newline_cannot_add_a_header() -> None:
    req = build(
        http_node("http://h", headers="X-A:{{#start.v#}}"), {("start", "v"): "1\nX-Evil: 2"}
    )
    assert list(req.headers) == ["X-A"]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"type": "basic", "api_key": "user:pass"}, ("Authorization", "Basic dXNlcjpwYXNz")),
        ({"type": "basic", "api_key": "dXNlcjpwYXNz"}, ("Authorization", "Basic dXNlcjpwYXNz")),
        ({"type": "bearer", "api_key": "k", "header": "X-Auth"}, ("X-Auth", "Bearer k")),
        ({"type": "custom", "api_key": "k", "header": "X-Api-Key"}, ("X-Api-Key", "k")),
    ],
)
def test_build_authorization(config: dict[str, str], expected: tuple[str, str]) -> None:
    req = build(http_node("http://h", authorization={"type": "api-key", "config": config}))
    assert req.headers[expected[0]] == expected[1]


def test_build_json_body_is_templated_then_repaired() -> None:
    data = http_node(
        "http://h",
        method="post",
        body={
            "type": "json",
            "data": [{"key": "", "type": "text", "value": '{"q": "{{#start.q#}}", "n": 1,}'}],
        },
    )
    req = build(data, {("start", "q"): 'say "hi"'})
    assert req.headers["Content-Type"] == "application/json"
    assert json.loads(req.content or "") == {"q": 'say "hi"', "n": 1}


def test_build_keeps_users_content_type_and_reads_legacy_string_body() -> None:
    data = http_node(
        "http://h",
        method="post",
        headers="content-type: text/csv",
        body={"type": "raw-text", "data": "a,b"},
    )
    req = build(data)
    assert req.headers == {"content-type": "text/csv"} and req.content == "a,b"


def test_build_form_data_resolves_files_and_drops_boundaryless_content_type() -> None:
    file = {"transfer_method": "local_file", "related_id": "abc", "filename": "a.txt"}
    data = http_node(
        "http://h",
        method="post",
        headers="Content-Type: multipart/form-data",
        body={
            "type": "form-data",
            "data": [
                {"key": "name", "type": "text", "value": "{{#start.name#}}"},
                {"key": "docs", "type": "file", "file": ["start", "docs"]},
                {"key": "", "type": "text", "value": "ignored"},
            ],
        },
    )
    req = build(data, {("start", "name"): "Ann", ("start", "docs"): [file, file]})
    assert req.form == [("name", "Ann")] and req.form_files == [("docs", file), ("docs", file)]
    assert "Content-Type" not in req.headers


def test_build_timeouts_and_error_flags() -> None:
    req = build(
        http_node(
            "http://h",
            timeout={"connect": 3, "read": 0, "write": None},
            ssl_verify=False,
            retry_config={"retry_enabled": True, "max_retries": 3},
        )
    )
    assert (req.timeout.connect, req.timeout.read, req.timeout.write) == (3, 600, 600)
    assert req.ssl_verify is False and req.fail_on_error_status
    assert build(http_node("http://h", error_strategy="fail-branch")).fail_on_error_status


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"method": "fetch"}, "method"),
        ({"url": "ftp://h/x"}, "url"),
        ({"url": "{{#start.empty#}}"}, "url"),
        (
            {"authorization": {"type": "api-key", "config": {"type": "bearer"}}},
            "authorization.config.api_key",
        ),
        (
            {"authorization": {"type": "api-key", "config": {"type": "digest", "api_key": "k"}}},
            "authorization.config.type",
        ),
        ({"body": {"type": "xml", "data": []}}, "body.type"),
        ({"body": {"type": "json", "data": []}}, "body.data"),
        (
            {"body": {"type": "json", "data": [{"type": "text", "value": "not json"}]}},
            "body.data[0].value",
        ),
        (
            {"body": {"type": "binary", "data": [{"type": "file", "file": ["start", "none"]}]}},
            "body.data[0].file",
        ),
        (
            {
                "body": {
                    "type": "x-www-form-urlencoded",
                    "data": [{"key": "f", "type": "file", "file": ["a", "b"]}],
                }
            },
            "body.data[0].type",
        ),
        ({"timeout": {"connect": "soon"}}, "timeout.connect"),
        ({"headers": ["X:1"]}, "headers"),
    ],
)
def test_build_config_errors_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(HttpRequestConfigError) as caught:
        build({**http_node("http://h"), **data}, {("start", "empty"): ""})
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError) and "http1" in str(caught.value)
