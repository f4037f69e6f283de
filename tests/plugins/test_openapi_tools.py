"""Custom tools from OpenAPI/Swagger schemas, against a real local pet-store service.

The service records every request, so each invocation test asserts what really arrived (path,
query, headers, cookies, body), not just what came back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openapi_service import (
    OpenApiService,
    openapi3_yaml,
    start_openapi_service,
    swagger2_schema,
)
from tideflow.activities.files import load_file, save_file
from tideflow.activities.ssrf import SSRFBlockedError
from tideflow.platform.settings import Settings
from tideflow.plugins.tools import ToolContext, ToolError, check_parameters
from tideflow.plugins.tools.openapi import (
    EMPTY_RESPONSE,
    ApiAuth,
    ApiOperation,
    ApiTool,
    OpenApiSchemaError,
    api_provider,
    fetch_schema,
    operations_as_tools,
    operations_from_tools,
    parse_openapi,
)

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def service() -> Iterator[OpenApiService]:
    """The pet-store service on 127.0.0.1."""
    with start_openapi_service() as running:
        yield running


@pytest.fixture
def allowed(tmp_path: Path) -> Settings:
    """Settings that let outbound requests reach 127.0.0.1 (and only it)."""
    return Settings(data_dir=tmp_path, ssrf_allowed_hosts=["127.0.0.1"])


@pytest.fixture
async def own_ops(service: OpenApiService, allowed: Settings) -> dict[str, ApiOperation]:
    """The operations of the service's own /openapi.json, fetched through the guard."""
    text = await fetch_schema(f"{service.base_url}/openapi.json", allowed)
    return {op.name: op for op in parse_openapi(text)}


def by_name(schema: str) -> dict[str, ApiOperation]:
    return {op.name: op for op in parse_openapi(schema)}


async def call(
    op: ApiOperation,
    settings: Settings,
    auth: ApiAuth | None = None,
    /,
    **params: Any,
) -> Any:
    """Invoke ``op`` with parameters checked as the tool node checks them."""
    tool = ApiTool(op, auth or ApiAuth())
    checked = check_parameters(tool, params)
    return await tool.invoke(checked, ToolContext(settings=settings, tenant_id="t", node_id="n"))


# Parsing -----------------------------------------------------------------------------------


async def test_the_services_own_openapi_json_becomes_tools(
    service: OpenApiService, own_ops: dict[str, ApiOperation]
) -> None:
    assert service.last().path == "/openapi.json"
    assert set(own_ops) >= {"getPet", "listPets", "createPet", "whoAmI", "submitForm"}
    get_pet = own_ops["getPet"]
    assert (get_pet.method, get_pet.path, get_pet.server_url) == (
        "get",
        "/pets/{pet_id}",
        service.base_url,
    )
    assert get_pet.summary == "One pet"
    assert dict(get_pet.locations) == {"pet_id": "path", "verbose": "query", "fields": "query"}
    assert [(p.name, p.type, p.required, p.default) for p in get_pet.parameters] == [
        ("pet_id", "string", True, None),
        ("verbose", "boolean", False, False),
        ("fields", "array", False, None),
    ]
    create = own_ops["createPet"]
    assert create.body_type == "application/json"
    params = {p.name: p for p in create.parameters}
    assert set(create.locations.values()) == {"body"}
    assert (params["age"].type, params["age"].required) == ("number", True)
    # $ref with a sibling default (OpenAPI 3.1), enum -> select.
    assert (params["kind"].type, params["kind"].options, params["kind"].default) == (
        "select",
        ("dog", "cat"),
        "dog",
    )
    kind = {p.name: p for p in own_ops["listPets"].parameters}["kind"]  # anyOf [$ref, null]
    assert (kind.type, kind.options, kind.required) == ("select", ("dog", "cat"), False)
    assert own_ops["submitForm"].body_type == "application/x-www-form-urlencoded"
    upload = own_ops["uploadFile"]
    assert upload.body_type == "multipart/form-data"
    assert [(p.name, p.type) for p in upload.parameters] == [("file", "file"), ("note", "string")]


def test_swagger2_schema(service: OpenApiService) -> None:
    ops = by_name(swagger2_schema(service.port))
    assert {op.server_url for op in ops.values()} == {service.base_url}
    create = ops["createPet"]
    assert create.body_type == "application/json"
    assert [(p.name, p.type, p.required) for p in create.parameters] == [
        ("name", "string", True),
        ("age", "number", True),
        ("kind", "select", False),
        ("tags", "array", False),
    ]
    assert create.parameters[0].description == "The pet's name"
    assert create.parameters[2].default == "dog"
    assert ops["submitForm"].body_type == "application/x-www-form-urlencoded"
    assert dict(ops["submitForm"].locations) == {"name": "body", "count": "body"}
    limit = {p.name: p for p in ops["listPets"].parameters}["limit"]
    assert (limit.type, limit.default) == ("number", 10)
    upload = ops["uploadFile"]  # a file among the form fields makes it multipart
    assert upload.body_type == "multipart/form-data"
    assert [(p.name, p.type) for p in upload.parameters] == [("note", "string"), ("file", "file")]


def test_openapi3_yaml_schema(service: OpenApiService) -> None:
    ops = by_name(openapi3_yaml(service.port))
    # Dify's fallback name when operationId is missing: path stripped of symbols + method.
    assert set(ops) == {"petspet_id_get", "readHeaders", "createPet", "submitForm", "uploadFile"}
    pet = ops["petspet_id_get"]
    assert pet.server_url == service.base_url  # server variables filled with their defaults
    assert pet.parameters[0].description == "The pet's id"  # path-level $ref parameter
    assert dict(ops["readHeaders"].locations) == {
        "item": "path",
        "x-trace": "header",
        "session": "cookie",
    }
    create = ops["createPet"]  # $ref'd requestBody whose schema is an allOf
    assert [(p.name, p.required) for p in create.parameters] == [
        ("name", True),
        ("age", True),
        ("kind", False),
        ("vaccinated", False),
    ]
    count = ops["submitForm"].parameters[1]
    assert (count.type, count.description) == ("number", "(one of 1, 2, 3)")
    assert ops["uploadFile"].parameters[0].type == "file"


BASE = {"openapi": "3.0.0", "info": {"title": "x"}, "servers": [{"url": "https://api.test"}]}


def op_at(path: str, **operation: Any) -> dict[str, Any]:
    return {path: {"get": {"operationId": "op", **operation}}}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ("not: [valid", "neither JSON"),
        ("just some words", "must be a JSON or YAML object, not str"),
        ({**BASE, "paths": {}}, "no paths"),
        ({**BASE, "paths": {"/a": {"summary": "nothing"}}}, "no operations"),
        ({k: v for k, v in BASE.items() if k != "servers"} | {"paths": op_at("/a")}, "servers"),
        (
            {**BASE, "servers": [{"url": "/api/v1"}], "paths": op_at("/a")},
            "servers[0].url: '/api/v1' is not an absolute http(s) URL",
        ),
        (
            {
                **BASE,
                "paths": {"/a": {"get": {"operationId": "x"}}, "/b": {"get": {"operationId": "x"}}},
            },
            "operation name 'x' is used by both GET /a and GET /b",
        ),
        (
            {
                **BASE,
                "paths": op_at(
                    "/a",
                    requestBody={
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Nope"}}
                        }
                    },
                ),
            },
            "GET /a: requestBody: $ref '#/components/schemas/Nope' points to nothing",
        ),
        (
            {
                **BASE,
                "components": {
                    "parameters": {
                        "A": {"$ref": "#/components/parameters/B"},
                        "B": {"$ref": "#/components/parameters/A"},
                    }
                },
                "paths": op_at("/a", parameters=[{"$ref": "#/components/parameters/A"}]),
            },
            "$ref cycle",
        ),
        (
            {**BASE, "paths": op_at("/a", parameters=[{"$ref": "other.yaml#/x"}])},
            "is not a local reference",
        ),
        (
            {**BASE, "paths": op_at("/a/{id}")},
            "GET /a/{id}: path variable {id} has no path parameter",
        ),
        (
            {**BASE, "paths": op_at("/a", requestBody={"content": {"application/xml": {}}})},
            "GET /a: requestBody: content types ['application/xml'] are not supported",
        ),
        (
            {
                **BASE,
                "paths": op_at(
                    "/a", parameters=[{"name": "q", "in": "query"}, {"name": "q", "in": "header"}]
                ),
            },
            "parameter 'q' is declared twice (query and header)",
        ),
        ({"swagger": "2.0", "paths": op_at("/a")}, "Swagger 2.0 schema has no 'host'"),
    ],
)
def test_schema_errors_name_the_problem(schema: Any, expected: str) -> None:
    with pytest.raises(OpenApiSchemaError) as caught:
        parse_openapi(schema)
    assert expected in str(caught.value)


def test_operations_round_trip_through_storage(service: OpenApiService) -> None:
    for schema in (swagger2_schema(service.port), openapi3_yaml(service.port)):
        ops = parse_openapi(schema)
        stored = json.loads(json.dumps(operations_as_tools(ops)))
        assert operations_from_tools(stored) == ops
    with pytest.raises(OpenApiSchemaError, match=r"tools\[0\]: missing or malformed field"):
        operations_from_tools([{"name": "x"}])


# Invocation --------------------------------------------------------------------------------


async def test_get_with_path_and_query(
    service: OpenApiService, own_ops: dict[str, ApiOperation], allowed: Settings
) -> None:
    result = await call(
        own_ops["getPet"], allowed, pet_id="rex 1?x", verbose="true", fields='["a", "b"]'
    )
    seen = service.last()
    assert (seen.method, seen.raw_path) == ("GET", "/pets/rex%201%3Fx")
    assert seen.query == [("verbose", "true"), ("fields", "a"), ("fields", "b")]
    answer = {"pet_id": "rex 1?x", "verbose": True, "fields": ["a", "b"]}
    assert result.json == [answer]
    assert json.loads(result.text) == answer
    listed = await call(own_ops["listPets"], allowed, kind="cat")
    assert service.last().query == [("limit", "10"), ("kind", "cat")]
    assert listed.json == [{"data": [{"name": "Tom", "kind": "cat"}]}]


async def test_post_with_json_body(
    service: OpenApiService, own_ops: dict[str, ApiOperation], allowed: Settings
) -> None:
    result = await call(own_ops["createPet"], allowed, name="Rex", age="3", tags='["good"]')
    seen = service.last()
    assert seen.headers["content-type"] == "application/json"
    sent = {"name": "Rex", "age": 3, "kind": "dog", "tags": ["good"], "vaccinated": False}
    assert seen.json() == sent
    assert result.json == [{"created": sent}]


async def test_form_cookie_and_header_parameters(
    service: OpenApiService, allowed: Settings
) -> None:
    swagger = by_name(swagger2_schema(service.port))
    result = await call(swagger["submitForm"], allowed, name="Rex & co", count=2)
    seen = service.last()
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen.body == b"name=Rex+%26+co&count=2"
    assert result.json == [{"name": "Rex & co", "count": 2}]
    yaml_ops = by_name(openapi3_yaml(service.port))
    result = await call(
        yaml_ops["readHeaders"], allowed, item="i1", **{"x-trace": "t-9"}, session="abc"
    )
    seen = service.last()
    assert (seen.headers["x-trace"], seen.headers["cookie"]) == ("t-9", "session=abc")
    assert result.json == [{"item": "i1", "x_trace": "t-9", "session": "abc"}]


async def test_multipart_upload_of_a_stored_file(
    service: OpenApiService, own_ops: dict[str, ApiOperation], allowed: Settings
) -> None:
    file = save_file(
        b"hello", filename="a.txt", mime_type="text/plain", settings=allowed, tenant_id="t"
    )
    swagger_upload = by_name(swagger2_schema(service.port))["uploadFile"]
    for op in (own_ops["uploadFile"], swagger_upload):
        result = await call(op, allowed, file=file, note="first")
        seen = service.last()
        assert seen.headers["content-type"].startswith("multipart/form-data; boundary=")
        assert b'filename="a.txt"' in seen.body
        assert b'name="note"\r\n\r\nfirst\r\n' in seen.body
        assert result.json == [{"size": 5, "note": "first"}]
    missing = {**file, "related_id": "nope"}
    with pytest.raises(ToolError, match="uploadFile: parameter 'file': file nope is not in"):
        await call(swagger_upload, allowed, file=missing)


async def test_api_key_in_a_header_with_each_prefix(
    service: OpenApiService, own_ops: dict[str, ApiOperation], allowed: Settings
) -> None:
    bearer = ApiAuth.from_credentials(
        {"auth_type": "api_key_header", "api_key_value": KEY, "api_key_header_prefix": "bearer"}
    )
    result = await call(own_ops["whoAmI"], allowed, bearer)
    assert service.last().headers["authorization"] == f"Bearer {KEY}"
    assert result.json[0]["authorization"] == f"Bearer {KEY}"
    basic = ApiAuth.from_credentials(
        {"auth_type": "api_key", "api_key_value": KEY, "api_key_header_prefix": "basic"}
    )
    await call(own_ops["whoAmI"], allowed, basic)
    assert service.last().headers["authorization"] == f"Basic {KEY}"
    custom = ApiAuth.from_credentials(
        {"auth_type": "api_key_header", "api_key_header": "X-Api-Key", "api_key_value": KEY}
    )
    await call(own_ops["whoAmI"], allowed, custom)
    assert service.last().headers["x-api-key"] == KEY
    assert "authorization" not in service.last().headers


async def test_a_redirect_to_another_origin_does_not_carry_the_key(
    service: OpenApiService, own_ops: dict[str, ApiOperation]
) -> None:
    # localhost and 127.0.0.1 are the same server but two origins.
    both = Settings(ssrf_allowed_hosts=[f"127.0.0.1:{service.port}", f"localhost:{service.port}"])
    custom = ApiAuth.from_credentials(
        {"auth_type": "api_key_header", "api_key_header": "X-Api-Key", "api_key_value": KEY}
    )
    elsewhere = f"http://localhost:{service.port}/whoami"
    result = await call(own_ops["hopTo"], both, custom, to=elsewhere)
    assert service.last().path == "/whoami" and "x-api-key" not in service.last().headers
    assert result.json == [{"authorization": None, "x_api_key": None, "key": None}]
    same = f"http://127.0.0.1:{service.port}/whoami"
    result = await call(own_ops["hopTo"], both, custom, to=same)
    assert result.json[0]["x_api_key"] == KEY  # the same origin keeps it


async def test_api_key_in_the_query(
    service: OpenApiService, own_ops: dict[str, ApiOperation], allowed: Settings
) -> None:
    auth = ApiAuth.from_credentials({"auth_type": "api_key_query", "api_key_value": KEY})
    result = await call(own_ops["whoAmI"], allowed, auth)
    assert service.last().query == [("key", KEY)]
    assert result.json[0]["key"] == KEY


async def test_error_status_is_a_tool_error_without_the_key(
    service: OpenApiService, own_ops: dict[str, ApiOperation], allowed: Settings
) -> None:
    auth = ApiAuth(auth_type="api_key_query", api_key_value=KEY)
    with pytest.raises(ToolError) as caught:
        await call(own_ops["failWith"], allowed, auth, code=404)
    message = str(caught.value)
    assert service.last().query == [("key", KEY)]  # the service got the key and echoed it
    assert message == "operation failWith: request failed with status code 404: no luck (key=***)"
    assert KEY not in repr(auth)


async def test_missing_required_path_parameter(
    own_ops: dict[str, ApiOperation], allowed: Settings
) -> None:
    tool = ApiTool(own_ops["getPet"], ApiAuth())
    with pytest.raises(ToolError, match="operation getPet: required path parameter 'pet_id'"):
        await tool.invoke({}, ToolContext(settings=allowed, tenant_id="t", node_id="n"))


async def test_text_empty_oversized_and_attachment_responses(
    own_ops: dict[str, ApiOperation], allowed: Settings, tmp_path: Path
) -> None:
    text = await call(own_ops["getText"], allowed)
    assert (text.text, text.json) == ("hello world", [])
    empty = await call(own_ops["getText"], allowed, size=0)
    assert empty.text == EMPTY_RESPONSE
    small = Settings(data_dir=tmp_path, ssrf_allowed_hosts=["127.0.0.1"], http_max_text_bytes=1024)
    with pytest.raises(ToolError, match="getText: the response is over the limit of 1024 bytes"):
        await call(own_ops["getText"], small, size=2000)
    report = await call(own_ops["getReport"], allowed)
    [file] = report.files
    assert (file["filename"], file["mime_type"]) == ("report.csv", "text/csv")
    assert load_file(file["related_id"], allowed, tenant_id="t") == b"a,b\n1,2\n"


async def test_ssrf_guard_refuses_a_private_server_without_allowance(
    service: OpenApiService, own_ops: dict[str, ApiOperation], tmp_path: Path
) -> None:
    closed = Settings(data_dir=tmp_path, allow_private_network=False, ssrf_allowed_hosts=[])
    count = len(service.received)
    auth = ApiAuth(auth_type="api_key_query", api_key_value=KEY)
    # SSRFBlockedError propagates (tool_invoke reports it as SSRFBlocked, not retried).
    with pytest.raises(SSRFBlockedError) as caught:
        await call(own_ops["whoAmI"], closed, auth)
    assert "127.0.0.1 is a loopback address" in str(caught.value)
    assert KEY not in str(caught.value)
    with pytest.raises(OpenApiSchemaError, match="refused to connect"):
        await fetch_schema(f"{service.base_url}/openapi.json", closed)
    assert len(service.received) == count  # nothing reached the service


async def test_fetch_schema_failures(service: OpenApiService, allowed: Settings) -> None:
    with pytest.raises(OpenApiSchemaError, match="returned status code 404"):
        await fetch_schema(f"{service.base_url}/nothing.json", allowed)
    with pytest.raises(OpenApiSchemaError, match="must start with http:// or https://"):
        await fetch_schema("file:///etc/passwd", allowed)


# Credentials and provider ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        ({"auth_type": "oauth"}, "credentials.auth_type: unknown 'oauth'"),
        ({"auth_type": "api_key_header"}, "credentials.api_key_value: required"),
        (
            {"auth_type": "api_key_query", "api_key_value": 5},
            "credentials.api_key_value: must be a string",
        ),
        (
            {"auth_type": "api_key", "api_key_value": "k", "api_key_header_prefix": "token"},
            "credentials.api_key_header_prefix: unknown 'token'",
        ),
    ],
)
def test_bad_credentials_name_the_field(credentials: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match="credentials") as caught:
        ApiAuth.from_credentials(credentials)
    assert expected in str(caught.value)


def test_provider_exposes_one_checked_tool_per_operation(service: OpenApiService) -> None:
    ops = parse_openapi(swagger2_schema(service.port))
    provider = api_provider("api-pets", "Pets", ops, ApiAuth.from_credentials({}))
    assert set(provider.tools) == {"getPet", "listPets", "createPet", "submitForm", "uploadFile"}
    tool = provider.tools["createPet"]
    assert (tool.name, tool.label) == ("createPet", "createPet")
    with pytest.raises(ToolError, match="parameter 'kind' must be one of dog, cat"):
        check_parameters(tool, {"name": "Rex", "age": 1, "kind": "bird"})
    with pytest.raises(ToolError, match="parameter 'age' is required"):
        check_parameters(tool, {"name": "Rex"})
    with pytest.raises(ValueError, match="two operations are named 'getPet'"):
        api_provider("api-pets", "Pets", [ops[0], ops[0]], ApiAuth())
