"""Dify's custom ("api") tools: one tool per operation of an OpenAPI 3.x or Swagger 2.0 schema.

``parse_openapi`` turns a schema (JSON or YAML text, or a parsed mapping) into ``ApiOperation``
records: the server URL, the path template and the operation's parameters as ToolParameters,
each with where it goes (path, query, header, cookie, or a top-level property of the request
body). ``ApiTool`` invokes one operation the way Dify's ApiTool does, through the SSRF guard,
with the provider's ``ApiAuth`` (an API key in a header or in the query).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote, quote_plus

import httpx
import yaml

from tideflow.activities.files import FileFetchError, read_file_object, save_file
from tideflow.activities.ssrf import (
    BodyTooLargeError,
    SSRFBlockedError,
    guarded_client,
    read_capped,
)
from tideflow.platform.settings import Settings
from tideflow.plugins.tools.base import (
    ToolContext,
    ToolError,
    ToolParameter,
    ToolProvider,
    ToolResult,
)

Json = Mapping[str, Any]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BODY_TYPES = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
# Dify's API_TOOL_DEFAULT_READ_TIMEOUT: an API call is short work.
READ_TIMEOUT_S = 60.0
EMPTY_RESPONSE = "Empty response from the tool, please check your parameters and try again."
_ERROR_PREFIX_CHARS = 500
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class OpenApiSchemaError(ValueError):
    """A schema Tideflow cannot turn into tools; the message names the path, operation or
    field at fault."""


@dataclasses.dataclass(frozen=True)
class ApiOperation:
    """One operation of a schema, which becomes one tool (named ``name``)."""

    name: str
    method: str
    path: str
    server_url: str
    summary: str
    description: str
    parameters: tuple[ToolParameter, ...]
    # Parameter name -> "path" | "query" | "header" | "cookie" | "body".
    locations: Mapping[str, str]
    body_type: str | None


# Schema loading and $ref resolution -------------------------------------------------------


def _load(schema: str | Json) -> Json:
    if not isinstance(schema, str):
        return schema
    text = schema.strip()
    if not text:
        raise OpenApiSchemaError("the schema is empty")
    try:
        loaded: Any = json.loads(text)
    except ValueError as json_error:
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as yaml_error:
            raise OpenApiSchemaError(
                f"the schema is neither JSON ({json_error}) nor YAML ({yaml_error})"
            ) from None
    if not isinstance(loaded, Mapping):
        raise OpenApiSchemaError(
            f"the schema must be a JSON or YAML object, not {type(loaded).__name__}"
        )
    return cast(Json, loaded)


@dataclasses.dataclass(frozen=True)
class _Refs:
    """Resolves local ``$ref``s (``#/components/...``, ``#/definitions/...``) in one document."""

    doc: Json

    def resolve(self, node: Any, where: str) -> Json:
        chain: list[str] = []
        # OpenAPI 3.1 lets a $ref carry siblings (a default, a description): they win.
        siblings: dict[str, Any] = {}
        while isinstance(node, Mapping) and "$ref" in node:
            ref = cast(Json, node)["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                raise OpenApiSchemaError(
                    f"{where}: $ref {ref!r} is not a local reference (only '#/...' is supported)"
                )
            if ref in chain:
                raise OpenApiSchemaError(f"{where}: $ref cycle: {' -> '.join([*chain, ref])}")
            chain.append(ref)
            siblings = {k: v for k, v in cast(Json, node).items() if k != "$ref"} | siblings
            node = self._follow(ref, where)
        if not isinstance(node, Mapping):
            raise OpenApiSchemaError(f"{where}: expected an object, got {type(node).__name__}")
        return {**cast(Json, node), **siblings} if siblings else cast(Json, node)

    def _follow(self, ref: str, where: str) -> Any:
        node: Any = self.doc
        for raw in ref[2:].split("/"):
            key = raw.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or key not in node:
                raise OpenApiSchemaError(f"{where}: $ref {ref!r} points to nothing (no {key!r})")
            node = cast(Json, node)[key]
        return node

    def effective(self, schema: Any, where: str, depth: int = 0) -> Json:
        """The schema with its ref resolved, a nullable anyOf/oneOf reduced to its first
        non-null choice and allOf parts merged (outer description and default kept)."""
        resolved = self.resolve(schema if schema is not None else {}, where)
        if depth > 20:
            raise OpenApiSchemaError(f"{where}: schema nests allOf/anyOf too deeply (a cycle?)")
        outer = {k: v for k, v in resolved.items() if k not in ("anyOf", "oneOf", "allOf")}
        choices = cast(list[Any], resolved.get("anyOf") or resolved.get("oneOf") or [])
        for choice in choices:
            picked = self.effective(choice, where, depth + 1)
            if picked.get("type") != "null":
                return {**picked, **outer}
        merged: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        required: list[Any] = []
        for part in cast(list[Any], resolved.get("allOf") or []):
            piece = self.effective(part, where, depth + 1)
            properties.update(cast(Json, piece.get("properties") or {}))
            required.extend(cast(list[Any], piece.get("required") or []))
            merged.update(piece)
        merged.update(outer)
        if properties:
            merged["properties"] = {**properties, **cast(Json, outer.get("properties") or {})}
            merged["required"] = [*required, *cast(list[Any], outer.get("required") or [])]
        return merged


# Parsing ---------------------------------------------------------------------------------


def parse_openapi(schema: str | Mapping[str, Any]) -> list[ApiOperation]:
    """The operations of an OpenAPI 3.0/3.1 or Swagger 2.0 schema (JSON/YAML text or parsed).

    Raises OpenApiSchemaError naming the path, operation or field at fault: text that is
    neither JSON nor YAML, no absolute server URL, a bad ``$ref``, no operations, two
    operations with the same name; a part of the wrong shape (a list where an object
    belongs...) is an OpenApiSchemaError too.
    """
    try:
        return _parse_openapi(schema)
    except (TypeError, AttributeError, KeyError, IndexError) as exc:
        raise OpenApiSchemaError(
            f"the schema is malformed ({type(exc).__name__}: {exc}): check that objects, "
            "lists and strings are where OpenAPI expects them"
        ) from None


def _keep_secrets_on(
    origin: httpx.URL, auth: ApiAuth
) -> Callable[[httpx.Request], Awaitable[None]]:
    """A request hook: a redirect to another origin does not carry the API key header or
    cookies (httpx itself only drops ``Authorization``)."""
    secret = {"cookie", "authorization"}
    if auth.auth_type in ("api_key", "api_key_header"):
        secret.add(auth.api_key_header.lower())

    async def strip(request: httpx.Request) -> None:
        url = request.url
        if (url.scheme, url.host, url.port) != (origin.scheme, origin.host, origin.port):
            for name in secret:
                request.headers.pop(name, None)

    return strip


def _parse_openapi(schema: str | Mapping[str, Any]) -> list[ApiOperation]:
    doc = _load(schema)
    refs = _Refs(doc)
    swagger = str(doc.get("swagger", "")).startswith("2")
    root_server = _swagger_server(doc) if swagger else _server_url(doc.get("servers"), "servers")
    paths = doc.get("paths")
    if not isinstance(paths, Mapping) or not paths:
        raise OpenApiSchemaError("the schema has no paths")
    operations: list[ApiOperation] = []
    seen: dict[str, str] = {}
    for path, raw_item in cast(Json, paths).items():
        item = refs.resolve(raw_item, f"paths.{path}")
        for method in HTTP_METHODS:
            if method not in item:
                continue
            where = f"{method.upper()} {path}"
            op = refs.resolve(item[method], where)
            server = root_server
            if not swagger:
                server = (
                    _server_url(op.get("servers"), f"{where}: servers")
                    or _server_url(item.get("servers"), f"paths.{path}.servers")
                    or root_server
                )
            if not server:
                raise OpenApiSchemaError(
                    f"{where}: no server URL: the schema needs 'servers' with an absolute "
                    "http(s) URL"
                )
            operation = _operation(refs, doc, path, method, item, op, server, swagger)
            if operation.name in seen:
                raise OpenApiSchemaError(
                    f"operation name {operation.name!r} is used by both {seen[operation.name]} "
                    f"and {where}"
                )
            seen[operation.name] = where
            operations.append(operation)
    if not operations:
        raise OpenApiSchemaError("the schema has no operations under 'paths'")
    return operations


def _server_url(servers: Any, where: str) -> str | None:
    if not servers:
        return None
    if not isinstance(servers, list) or not isinstance(servers[0], Mapping):
        raise OpenApiSchemaError(f"{where}: must be a list of {{url: ...}} objects")
    server = cast(Json, cast(list[Any], servers)[0])
    url = str(server.get("url") or "")
    variables = cast(Json, server.get("variables") or {})

    def fill(match: re.Match[str]) -> str:
        variable = variables.get(match.group(1))
        if not isinstance(variable, Mapping) or "default" not in variable:
            raise OpenApiSchemaError(
                f"{where}[0].url: variable {match.group(1)!r} has no default value"
            )
        return str(cast(Json, variable)["default"])

    url = _PLACEHOLDER.sub(fill, url)
    parsed = httpx.URL(url) if url else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise OpenApiSchemaError(
            f"{where}[0].url: {url!r} is not an absolute http(s) URL (Tideflow, like Dify, "
            "needs the API's full address)"
        )
    return url.rstrip("/")


def _swagger_server(doc: Json) -> str:
    if doc.get("servers"):  # Dify's own Swagger conversion reads an OpenAPI-style list
        return cast(str, _server_url(doc.get("servers"), "servers"))
    host = doc.get("host")
    if not isinstance(host, str) or not host:
        raise OpenApiSchemaError(
            "Swagger 2.0 schema has no 'host': Tideflow needs the API's full address"
        )
    schemes = cast(list[Any], doc.get("schemes") or ["https"])
    scheme = "https" if "https" in schemes else str(schemes[0])
    base = str(doc.get("basePath") or "")
    return cast(str, _server_url([{"url": f"{scheme}://{host}{base}"}], "host/basePath"))


def _fallback_name(path: str, method: str) -> str:
    # Dify's rule: the path without its first "/" and anything outside [a-zA-Z0-9_-], then
    # "_<method>" ("/pets/{petId}" GET -> "petspetId_get"); "root" stands in for an empty path.
    cleaned = re.sub(r"[^a-zA-Z0-9_-]", "", path.removeprefix("/"))
    return f"{cleaned or 'root'}_{method}"


def _operation(
    refs: _Refs,
    doc: Json,
    path: str,
    method: str,
    item: Json,
    op: Json,
    server: str,
    swagger: bool,
) -> ApiOperation:
    where = f"{method.upper()} {path}"
    declared: dict[tuple[str, str], Json] = {}
    for level, source in (("paths." + path, item), (where, op)):
        raw: Any = source.get("parameters") or []
        if not isinstance(raw, list):
            raise OpenApiSchemaError(f"{level}: parameters must be a list")
        for index, entry in enumerate(cast(list[Any], raw)):
            param = refs.resolve(entry, f"{level}: parameters[{index}]")
            name, location = param.get("name"), param.get("in")
            if not isinstance(name, str) or not name:
                raise OpenApiSchemaError(f"{level}: parameters[{index}] has no 'name'")
            declared[(name, str(location))] = param  # the operation's overrides the path's
    params: list[tuple[ToolParameter, str]] = []
    body_type: str | None = None
    consumes = cast(list[Any], op.get("consumes") or doc.get("consumes") or [])
    has_file = False  # one file field makes the whole form multipart
    for (name, location), param in declared.items():
        at = f"{where}: parameter {name!r}"
        if swagger and location == "body":
            body_type = _swagger_body_type(consumes, form=False)
            params += [(p, "body") for p in _body_parameters(refs, param.get("schema"), at)]
        elif swagger and location == "formData":
            has_file = has_file or param.get("type") == "file"
            body_type = _swagger_body_type(consumes, form=True, has_file=has_file)
            required = bool(param.get("required"))
            params.append((_parameter(refs, name, param, param, at, required), "body"))
        elif location in ("path", "query", "header", "cookie"):
            schema = param if swagger else _parameter_schema(param)
            required = bool(param.get("required")) or location == "path"
            params.append((_parameter(refs, name, param, schema, at, required), location))
        else:
            raise OpenApiSchemaError(
                f"{at}: 'in' must be path, query, header or cookie (got {location!r})"
            )
    if not swagger and op.get("requestBody") is not None:
        body_type, schema = _request_body(refs, op["requestBody"], f"{where}: requestBody")
        params += [(p, "body") for p in _body_parameters(refs, schema, f"{where}: requestBody")]
    locations: dict[str, str] = {}
    for param, location in params:
        if param.name in locations:
            raise OpenApiSchemaError(
                f"{where}: parameter {param.name!r} is declared twice "
                f"({locations[param.name]} and {location})"
            )
        locations[param.name] = location
    for variable in _PLACEHOLDER.findall(path):
        if locations.get(variable) != "path":
            raise OpenApiSchemaError(f"{where}: path variable {{{variable}}} has no path parameter")
    name = op.get("operationId")
    return ApiOperation(
        name=name if isinstance(name, str) and name else _fallback_name(path, method),
        method=method,
        path=path,
        server_url=server,
        summary=str(op.get("summary") or ""),
        description=str(op.get("description") or ""),
        parameters=tuple(param for param, _ in params),
        locations=locations,
        body_type=body_type,
    )


def _parameter_schema(param: Json) -> Any:
    if "schema" in param:
        return param["schema"]
    content = cast(Json, param.get("content") or {})
    first: Any = next(iter(content.values()), None)
    return cast(Json, first).get("schema") if isinstance(first, Mapping) else None


def _swagger_body_type(consumes: list[Any], *, form: bool, has_file: bool = False) -> str:
    types = [str(c).split(";")[0].strip().lower() for c in consumes]
    if not form:
        return "application/json"
    if has_file or "multipart/form-data" in types:
        return "multipart/form-data"
    return "application/x-www-form-urlencoded"


def _request_body(refs: _Refs, raw: Any, where: str) -> tuple[str, Any]:
    body = refs.resolve(raw, where)
    content = cast(Json, body.get("content") or {})
    offered = [str(media) for media in content]
    for media in offered:
        kind = media.split(";")[0].strip().lower()
        if kind.endswith("+json"):
            kind = "application/json"
        if kind in BODY_TYPES:
            media_object = content[media]
            schema = cast(Json, media_object).get("schema") if media_object else None
            return kind, schema
    raise OpenApiSchemaError(
        f"{where}: content types {offered or '(none)'} are not supported "
        f"(use one of {', '.join(BODY_TYPES)})"
    )


def _body_parameters(refs: _Refs, schema: Any, where: str) -> list[ToolParameter]:
    body = refs.effective(schema, where)
    required = set(cast(list[Any], body.get("required") or []))
    found: list[ToolParameter] = []
    for name, prop in cast(Json, body.get("properties") or {}).items():
        at = f"{where}: property {name!r}"
        resolved = refs.resolve(prop, at)
        found.append(_parameter(refs, name, resolved, resolved, at, name in required))
    return found


def _parameter(
    refs: _Refs, name: str, param: Json, schema: Any, where: str, required: bool
) -> ToolParameter:
    """A ToolParameter from an OpenAPI parameter (or body property) and its schema."""
    spec = refs.effective(schema, where)
    kind, options = _kind(refs, spec, where)
    description = str(param.get("description") or spec.get("description") or "")
    enum = [v for v in cast(list[Any], spec.get("enum") or []) if v is not None]
    if enum and kind != "select":  # a numeric enum stays a number: say what it allows
        shown = ", ".join(json.dumps(v) for v in enum)
        description = f"{description} (one of {shown})".strip()
    return ToolParameter(
        name=name,
        type=kind,
        required=required,
        form="llm",
        description=description,
        options=options,
        default=spec.get("default", param.get("default")),
    )


def _is_binary(spec: Json) -> bool:
    # 3.0 writes a file as format: binary; 3.1 as contentMediaType (FastAPI: octet-stream).
    media = str(spec.get("contentMediaType") or "")
    return spec.get("type") == "string" and (
        spec.get("format") == "binary" or media == "application/octet-stream"
    )


def _kind(refs: _Refs, spec: Json, where: str) -> tuple[str, tuple[str, ...]]:
    raw_type = spec.get("type")
    if isinstance(raw_type, list):  # OpenAPI 3.1: ["string", "null"]
        raw_type = next((t for t in cast(list[Any], raw_type) if t != "null"), None)
    enum = [v for v in cast(list[Any], spec.get("enum") or []) if v is not None]
    if enum and all(isinstance(v, str) for v in enum):
        return "select", tuple(cast(list[str], enum))
    if raw_type in ("integer", "number"):
        return "number", ()
    if raw_type == "boolean":
        return "boolean", ()
    if raw_type == "array":
        items = refs.effective(spec.get("items"), f"{where}: items")
        return ("files" if _is_binary(items) else "array"), ()
    if raw_type == "file" or _is_binary(spec):
        return "file", ()
    if raw_type == "object" or "properties" in spec:
        return "object", ()
    return "string", ()


# Storage -----------------------------------------------------------------------------------


def operations_as_tools(ops: Sequence[ApiOperation]) -> list[dict[str, Any]]:
    """The operations as JSON-able rows (for the database and the console); the inverse of
    ``operations_from_tools``."""
    return [
        {
            "name": op.name,
            "method": op.method,
            "path": op.path,
            "server_url": op.server_url,
            "summary": op.summary,
            "description": op.description,
            "parameters": [
                {
                    "name": p.name,
                    "type": p.type,
                    "required": p.required,
                    "form": p.form,
                    "description": p.description,
                    "options": list(p.options),
                    "default": p.default,
                }
                for p in op.parameters
            ],
            "locations": dict(op.locations),
            "body_type": op.body_type,
        }
        for op in ops
    ]


def operations_from_tools(rows: Sequence[Mapping[str, Any]]) -> list[ApiOperation]:
    """Operations back from ``operations_as_tools`` rows; OpenApiSchemaError names a
    malformed row's field."""
    ops: list[ApiOperation] = []
    for index, row in enumerate(rows):
        where = f"tools[{index}]"
        try:
            params = tuple(
                ToolParameter(
                    name=str(p["name"]),
                    type=str(p["type"]),
                    required=bool(p.get("required", False)),
                    form=str(p.get("form", "llm")),
                    description=str(p.get("description", "")),
                    options=tuple(str(o) for o in p.get("options") or ()),
                    default=p.get("default"),
                )
                for p in cast(list[Json], row.get("parameters") or [])
            )
            locations = {str(k): str(v) for k, v in cast(Json, row.get("locations") or {}).items()}
            body_type = row.get("body_type")
            op = ApiOperation(
                name=str(row["name"]),
                method=str(row["method"]),
                path=str(row["path"]),
                server_url=str(row["server_url"]),
                summary=str(row.get("summary", "")),
                description=str(row.get("description", "")),
                parameters=params,
                locations=locations,
                body_type=None if body_type is None else str(body_type),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise OpenApiSchemaError(f"{where}: missing or malformed field ({exc})") from None
        unplaced = [p.name for p in params if p.name not in locations]
        if unplaced:
            raise OpenApiSchemaError(f"{where}.locations: no location for {unplaced}")
        ops.append(op)
    return ops


# Credentials -------------------------------------------------------------------------------

AUTH_TYPES = ("none", "api_key_header", "api_key", "api_key_query")
HEADER_PREFIXES = ("basic", "bearer", "custom")


@dataclasses.dataclass(frozen=True)
class ApiAuth:
    """How an API provider authenticates (Dify's credentials of a custom tool provider)."""

    auth_type: str = "none"
    api_key_header: str = "Authorization"
    api_key_value: str = dataclasses.field(default="", repr=False)
    api_key_header_prefix: str = "custom"
    api_key_query_param: str = "key"

    def __post_init__(self) -> None:
        if self.auth_type not in AUTH_TYPES:
            raise ValueError(
                f"credentials.auth_type: unknown {self.auth_type!r} "
                "(expected none, api_key_header or api_key_query)"
            )
        if self.auth_type == "none":
            return
        if not self.api_key_value:
            raise ValueError(f"credentials.api_key_value: required for auth_type {self.auth_type}")
        if self.auth_type == "api_key_query":
            if not self.api_key_query_param:
                raise ValueError("credentials.api_key_query_param: must not be empty")
        elif self.api_key_header_prefix not in HEADER_PREFIXES:
            raise ValueError(
                f"credentials.api_key_header_prefix: unknown {self.api_key_header_prefix!r} "
                "(expected basic, bearer or custom)"
            )
        elif not self.api_key_header:
            raise ValueError("credentials.api_key_header: must not be empty")

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any]) -> ApiAuth:
        """ApiAuth from Dify's credential fields; ValueError names a bad field."""

        def text(key: str, default: str) -> str:
            value = credentials.get(key)
            if value is None or value == "":
                return default
            if not isinstance(value, str):
                raise ValueError(f"credentials.{key}: must be a string")
            return value

        return cls(
            auth_type=text("auth_type", "none"),
            api_key_header=text("api_key_header", "Authorization"),
            api_key_value=text("api_key_value", ""),
            api_key_header_prefix=text("api_key_header_prefix", "custom"),
            api_key_query_param=text("api_key_query_param", "key"),
        )

    def header(self) -> tuple[str, str] | None:
        """The (name, value) header the key goes in, if any."""
        if self.auth_type not in ("api_key_header", "api_key"):
            return None
        prefix = {"basic": "Basic ", "bearer": "Bearer "}.get(self.api_key_header_prefix, "")
        return self.api_key_header, prefix + self.api_key_value

    def redact(self, text: str) -> str:
        """``text`` with the key (as is and URL-encoded) replaced by ``***``."""
        if not self.api_key_value:
            return text
        for form in {self.api_key_value, quote_plus(self.api_key_value), quote(self.api_key_value)}:
            text = text.replace(form, "***")
        return text


# Invocation --------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _items(value: Any) -> list[Any]:
    return cast(list[Any], value) if isinstance(value, list) else [value]


async def _read(response: httpx.Response, limit: int) -> bytes | None:
    """The body, or None when it is over ``limit`` bytes."""
    try:
        return await read_capped(response, limit)
    except BodyTooLargeError:
        return None


def _timeout(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(
        connect=settings.http_max_connect_timeout_s,
        read=min(settings.http_max_read_timeout_s, READ_TIMEOUT_S),
        write=min(settings.http_max_write_timeout_s, READ_TIMEOUT_S),
        pool=settings.http_max_connect_timeout_s,
    )


def _decode(content: bytes, response: httpx.Response) -> str:
    try:
        return content.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return content.decode("utf-8", errors="replace")


@dataclasses.dataclass(frozen=True)
class ApiTool:
    """One operation as a Tool: ``invoke`` sends the request and returns the response."""

    operation: ApiOperation
    auth: ApiAuth
    # Extra headers sent with every request (Dify's custom headers of an API provider).
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict[str, str])

    @property
    def name(self) -> str:
        """The operation's name (its operationId)."""
        return self.operation.name

    @property
    def label(self) -> str:
        """As Dify labels an API tool: its operation name."""
        return self.operation.name

    @property
    def description(self) -> str:
        """The operation's description, else its summary."""
        return self.operation.description or self.operation.summary

    @property
    def parameters(self) -> Sequence[ToolParameter]:
        """Path, query, header, cookie and top-level body parameters."""
        return self.operation.parameters

    async def invoke(self, params: dict[str, Any], context: ToolContext) -> ToolResult:
        """Send the request through the SSRF guard.

        ToolError for a missing required parameter, a network failure, a status >= 400 or a
        response over the size limit; SSRFBlockedError (its URL without the API key) when the
        guard refuses the server.
        """
        op, settings = self.operation, context.settings
        values = self._values(params)
        url = op.server_url + _PLACEHOLDER.sub(lambda m: self._path_value(values, m), op.path)
        query: list[tuple[str, str | int | float | bool | None]] = []
        headers = dict(self.headers)
        if (auth_header := self.auth.header()) is not None:
            headers[auth_header[0]] = auth_header[1]
        if self.auth.auth_type == "api_key_query":
            query.append((self.auth.api_key_query_param, self.auth.api_key_value))
        cookies: list[str] = []
        body: dict[str, Any] = {}
        for name, value in values.items():
            location = op.locations.get(name)
            if location == "query" and value != "":  # Dify leaves empty query values out
                query += [(name, _text(item)) for item in _items(value)]
            elif location == "header":
                headers[name] = ",".join(_text(item) for item in _items(value))
            elif location == "cookie":
                cookies.append(f"{name}={_text(value)}")
            elif location == "body":
                body[name] = value
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        content = await self._body(body, headers, context)
        client = guarded_client(
            settings, timeout=_timeout(settings), verify=settings.http_ssl_verify
        )
        client.event_hooks = {"request": [_keep_secrets_on(httpx.URL(url), self.auth)]}
        try:
            async with (
                client,
                client.stream(
                    op.method.upper(), url, params=query, headers=headers, **content
                ) as resp,
            ):
                return await self._result(resp, context)
        except SSRFBlockedError as exc:
            raise SSRFBlockedError(self.auth.redact(exc.url), exc.reason) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            message = self.auth.redact(str(exc) or type(exc).__name__)
            raise ToolError(
                f"operation {op.name}: {op.method.upper()} {url} failed: {message}"
            ) from None

    def _path_value(self, values: Mapping[str, Any], match: re.Match[str]) -> str:
        if values.get(match.group(1)) is None:
            raise ToolError(
                f"operation {self.name}: required path parameter {match.group(1)!r} is missing"
            )
        return quote(_text(values[match.group(1)]), safe="")

    def _values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        op = self.operation
        values: dict[str, Any] = {}
        for parameter in op.parameters:
            value = params.get(parameter.name)
            if value is None:
                value = parameter.default
            if value is not None:
                values[parameter.name] = value
            elif parameter.required or op.locations.get(parameter.name) == "path":
                location = op.locations.get(parameter.name, "body")
                raise ToolError(
                    f"operation {op.name}: required {location} parameter "
                    f"{parameter.name!r} is missing"
                )
        return values

    async def _body(
        self, body: dict[str, Any], headers: dict[str, str], context: ToolContext
    ) -> dict[str, Any]:
        """httpx keyword arguments carrying the body as the operation's content type (file
        parameters are read only from the calling workspace's files)."""
        kind = self.operation.body_type
        if kind == "application/json":
            headers["Content-Type"] = kind
            return {"content": json.dumps(body, ensure_ascii=False).encode()}
        if kind == "application/x-www-form-urlencoded":
            return {"data": {k: [_text(item) for item in _items(v)] for k, v in body.items()}}
        if kind != "multipart/form-data":
            return {}
        kinds = {p.name: p.type for p in self.operation.parameters}
        parts: list[tuple[str, tuple[str | None, Any, str | None]]] = []
        for name, value in body.items():
            for item in _items(value):
                if kinds.get(name) in ("file", "files") and isinstance(item, dict):
                    file = cast(dict[str, Any], item)
                    try:
                        data = await read_file_object(
                            file, context.settings, tenant_id=context.tenant_id
                        )
                    except FileFetchError as exc:
                        raise ToolError(
                            f"operation {self.name}: parameter {name!r}: {exc}"
                        ) from None
                    filename = str(file.get("filename") or name)
                    parts.append((name, (filename, data, file.get("mime_type"))))
                else:
                    parts.append((name, (None, _text(item).encode(), None)))
        # A form of plain fields only must still go as multipart: httpx sends it so when
        # ``files`` is not empty, and fields without a filename are plain form fields.
        return {"files": parts} if parts else {}

    async def _result(self, resp: httpx.Response, context: ToolContext) -> ToolResult:
        name, settings = self.operation.name, context.settings
        if resp.status_code >= 400:
            head = bytearray()
            async for chunk in resp.aiter_bytes():
                head += chunk
                if len(head) >= _ERROR_PREFIX_CHARS * 4:
                    break
            prefix = self.auth.redact(_decode(bytes(head), resp)[:_ERROR_PREFIX_CHARS])
            raise ToolError(
                f"operation {name}: request failed with status code {resp.status_code}: {prefix}"
            )
        mime = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        disposition = resp.headers.get("content-disposition", "")
        attachment = disposition.split(";")[0].strip().lower() == "attachment"
        limit = settings.http_max_binary_bytes if attachment else settings.http_max_text_bytes
        content = await _read(resp, limit)
        if content is None:
            raise ToolError(f"operation {name}: the response is over the limit of {limit} bytes")
        if not content:
            return ToolResult(text=EMPTY_RESPONSE)
        if attachment:  # Dify's blob message: the response becomes a file
            found = re.search(r'filename="?([^";]+)"?', disposition)
            filename = found.group(1) if found else name
            file = await asyncio.to_thread(
                save_file,
                content,
                filename=filename,
                mime_type=mime or None,
                settings=settings,
                tenant_id=context.tenant_id,  # a tool_file of the run's workspace
            )
            return ToolResult(files=[file])
        text = _decode(content, resp)
        if mime == "application/json" or mime.endswith("+json"):
            try:
                data: Any = json.loads(text)
            except ValueError:
                return ToolResult(text=text)
            if isinstance(data, dict):
                return ToolResult(text=text, json=[cast(dict[str, Any], data)])
            if isinstance(data, list):
                return ToolResult(text=text, json=[{"data": data}])
        return ToolResult(text=text)


def api_provider(
    provider_id: str, name: str, operations: Sequence[ApiOperation], auth: ApiAuth
) -> ToolProvider:
    """A ToolProvider of one ApiTool per operation (Dify's custom tool provider)."""
    tools: dict[str, ApiTool] = {}
    for op in operations:
        if op.name in tools:
            raise ValueError(f"provider {provider_id}: two operations are named {op.name!r}")
        tools[op.name] = ApiTool(op, auth)
    return ToolProvider(id=provider_id, name=name, label=name, tools=tools)


async def fetch_schema(url: str, settings: Settings) -> str:
    """The schema text at ``url``, fetched through the SSRF guard and capped at
    ``http_max_text_bytes``; every failure (a refused or unreachable host, a non-200 status,
    a schema over the limit) is an OpenApiSchemaError saying what happened."""
    if not url.lower().startswith(("http://", "https://")):
        raise OpenApiSchemaError(f"schema URL must start with http:// or https:// (got {url!r})")
    limit = settings.http_max_text_bytes
    client = guarded_client(settings, timeout=_timeout(settings), verify=settings.http_ssl_verify)
    try:
        async with client, client.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise OpenApiSchemaError(
                    f"fetching the schema from {url} returned status code {resp.status_code}"
                )
            content = await _read(resp, limit)
            if content is None:
                raise OpenApiSchemaError(f"the schema at {url} is over the limit of {limit} bytes")
            return _decode(content, resp)
    except SSRFBlockedError as exc:
        raise OpenApiSchemaError(str(exc)) from exc
    except httpx.HTTPError as exc:
        raise OpenApiSchemaError(
            f"fetching the schema from {url} failed: {exc or type(exc).__name__}"
        ) from exc
