"""A small pet-store API on 127.0.0.1 for the custom (OpenAPI) tool tests.

Its own ``/openapi.json`` (FastAPI's, with ``servers`` set to where it runs) is one schema under
test; ``swagger2_schema`` (Swagger 2.0 JSON) and ``openapi3_yaml`` (OpenAPI 3.0 YAML with
``$ref``s, server variables, header and cookie parameters and a form body) are hand-written
schemas of the same service. Every request is recorded (``received``) so a test can check what
actually arrived: headers, query, cookies, body.

    with start_openapi_service() as service:
        ...  # calls to service.base_url; service.last() is the latest request
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import uvicorn
from fastapi import APIRouter, Cookie, FastAPI, File, Form, Header, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from tests.activities.support import free_port

router = APIRouter()


class Kind(StrEnum):
    """What a pet is."""

    dog = "dog"
    cat = "cat"


class NewPet(BaseModel):
    """A pet to create."""

    name: str
    age: int
    kind: Kind = Kind.dog
    tags: list[str] = []
    vaccinated: bool = False


@router.get("/pets/{pet_id}", operation_id="getPet", summary="One pet")
async def get_pet(
    pet_id: str, verbose: bool = False, fields: Annotated[list[str] | None, Query()] = None
) -> dict[str, Any]:
    """A pet by id, echoing what it was asked."""
    return {"pet_id": pet_id, "verbose": verbose, "fields": fields}


@router.get("/pets", operation_id="listPets", description="All pets, optionally of one kind")
async def list_pets(limit: int = 10, kind: Kind | None = None) -> list[dict[str, Any]]:
    """A JSON array answer."""
    pets = [{"name": "Rex", "kind": "dog"}, {"name": "Tom", "kind": "cat"}]
    return [p for p in pets if kind is None or p["kind"] == kind.value][:limit]


@router.post("/pets", operation_id="createPet")
async def create_pet(pet: NewPet) -> dict[str, Any]:
    """A JSON body in, the created pet out."""
    return {"created": pet.model_dump(mode="json")}


@router.get("/whoami", operation_id="whoAmI")
async def who_am_i(request: Request) -> dict[str, Any]:
    """What authenticated the call (the API key arrives by header or query)."""
    return {
        "authorization": request.headers.get("authorization"),
        "x_api_key": request.headers.get("x-api-key"),
        "key": request.query_params.get("key"),
    }


@router.get("/hop", operation_id="hopTo")
async def hop_to(to: str) -> Response:
    """A redirect to ``to`` (another origin, or this one)."""
    return Response(status_code=307, headers={"location": to})


@router.get("/headers/{item}", operation_id="readHeaders")
async def read_headers(
    item: str,
    x_trace: Annotated[str, Header()],
    session: Annotated[str | None, Cookie()] = None,
) -> dict[str, Any]:
    """Header and cookie parameters."""
    return {"item": item, "x_trace": x_trace, "session": session}


@router.post("/form", operation_id="submitForm")
async def submit_form(
    name: Annotated[str, Form()], count: Annotated[int, Form()] = 1
) -> dict[str, Any]:
    """A form body (url-encoded or multipart)."""
    return {"name": name, "count": count}


@router.post("/upload", operation_id="uploadFile")
async def upload_file(
    file: Annotated[bytes, File()], note: Annotated[str, Form()] = ""
) -> dict[str, Any]:
    """A multipart body with a file."""
    return {"size": len(file), "note": note}


@router.get("/fail/{code}", operation_id="failWith")
async def fail_with(code: int, request: Request) -> Response:
    """A text body with status ``code``, echoing the query (to check the key is redacted)."""
    return PlainTextResponse(f"no luck ({request.url.query})", status_code=code)


@router.get("/text", operation_id="getText")
async def get_text(size: int = 11) -> Response:
    """Plain text of ``size`` bytes."""
    return PlainTextResponse(("hello world" * (size // 11 + 1))[:size])


@router.get("/report", operation_id="getReport")
async def get_report() -> Response:
    """An attachment: becomes a file."""
    return Response(
        b"a,b\n1,2\n",
        media_type="text/csv",
        headers={"content-disposition": 'attachment; filename="report.csv"'},
    )


@dataclass
class Received:
    """One request as it arrived."""

    method: str
    path: str
    # The path as sent (percent-encoded).
    raw_path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class OpenApiService:
    """The running service: where it is and what it received."""

    base_url: str
    received: list[Received] = field(default_factory=list[Received])

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        return int(self.base_url.rsplit(":", 1)[1])

    def last(self) -> Received:
        """The latest request (schema fetches included)."""
        return self.received[-1]


def make_app(service: OpenApiService) -> FastAPI:
    """The service's app, its schema's ``servers`` pointing at ``service.base_url``."""
    app = FastAPI(title="Pets", servers=[{"url": service.base_url}])
    app.include_router(router)

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Response:
        body = await request.body()
        service.received.append(
            Received(
                method=request.method,
                path=request.url.path,
                raw_path=request.scope["raw_path"].decode(),
                query=list(request.query_params.multi_items()),
                headers=dict(request.headers),
                body=body,
            )
        )
        return await call_next(request)

    return app


@contextmanager
def start_openapi_service() -> Iterator[OpenApiService]:
    """Serve the pet-store API on 127.0.0.1 in a thread."""
    port = free_port()
    service = OpenApiService(base_url=f"http://127.0.0.1:{port}")
    config = uvicorn.Config(
        make_app(service), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    else:
        raise RuntimeError("the OpenAPI test service did not start")
    try:
        yield service
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def swagger2_schema(port: int) -> str:
    """A Swagger 2.0 JSON schema of part of the service (body $ref, form data, a file, enum)."""
    schema: dict[str, Any] = {
        "swagger": "2.0",
        "info": {"title": "Pets (Swagger)", "version": "1"},
        "host": f"127.0.0.1:{port}",
        "basePath": "/",
        "schemes": ["http"],
        "paths": {
            "/pets/{pet_id}": {
                "get": {
                    "operationId": "getPet",
                    "summary": "One pet",
                    "parameters": [
                        {"name": "pet_id", "in": "path", "required": True, "type": "string"},
                        {"name": "verbose", "in": "query", "type": "boolean", "default": False},
                    ],
                }
            },
            "/pets": {
                "get": {
                    "operationId": "listPets",
                    "parameters": [
                        {"name": "kind", "in": "query", "type": "string", "enum": ["dog", "cat"]},
                        {"name": "limit", "in": "query", "type": "integer", "default": 10},
                    ],
                },
                "post": {
                    "operationId": "createPet",
                    "consumes": ["application/json"],
                    "parameters": [
                        {
                            "name": "pet",
                            "in": "body",
                            "required": True,
                            "schema": {"$ref": "#/definitions/NewPet"},
                        }
                    ],
                },
            },
            "/form": {
                "post": {
                    "operationId": "submitForm",
                    "consumes": ["application/x-www-form-urlencoded"],
                    "parameters": [
                        {"name": "name", "in": "formData", "required": True, "type": "string"},
                        {"name": "count", "in": "formData", "type": "integer"},
                    ],
                }
            },
            "/upload": {
                "post": {
                    "operationId": "uploadFile",
                    "parameters": [
                        {"name": "note", "in": "formData", "type": "string"},
                        {"name": "file", "in": "formData", "required": True, "type": "file"},
                    ],
                }
            },
        },
        "definitions": {
            "NewPet": {
                "type": "object",
                "required": ["name", "age"],
                "properties": {
                    "name": {"type": "string", "description": "The pet's name"},
                    "age": {"type": "integer"},
                    "kind": {"$ref": "#/definitions/Kind"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
            },
            "Kind": {"type": "string", "enum": ["dog", "cat"], "default": "dog"},
        },
    }
    return json.dumps(schema, indent=2)


def openapi3_yaml(port: int) -> str:
    """An OpenAPI 3.0 YAML schema of part of the service: server variables, path-level and
    $ref parameters, an operation without operationId, header and cookie parameters, a
    $ref'd request body built with allOf, a url-encoded and a multipart body."""
    return f"""\
openapi: 3.0.3
info: {{title: Pets (YAML), version: "1"}}
servers:
  - url: http://{{host}}:{{port}}
    variables:
      host: {{default: 127.0.0.1}}
      port: {{default: "{port}"}}
paths:
  /pets/{{pet_id}}:
    parameters:
      - $ref: '#/components/parameters/PetId'
    get:
      summary: One pet (no operationId)
      parameters:
        - name: verbose
          in: query
          schema: {{type: boolean}}
  /headers/{{item}}:
    get:
      operationId: readHeaders
      parameters:
        - {{name: item, in: path, required: true, schema: {{type: string}}}}
        - {{name: x-trace, in: header, required: true, schema: {{type: string}}}}
        - {{name: session, in: cookie, schema: {{type: string}}}}
  /pets:
    post:
      operationId: createPet
      requestBody:
        $ref: '#/components/requestBodies/NewPet'
  /form:
    post:
      operationId: submitForm
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [name]
              properties:
                name: {{type: string}}
                count: {{type: integer, enum: [1, 2, 3]}}
  /upload:
    post:
      operationId: uploadFile
      requestBody:
        content:
          multipart/form-data:
            schema:
              type: object
              required: [file]
              properties:
                file: {{type: string, format: binary}}
                note: {{type: string}}
components:
  parameters:
    PetId:
      name: pet_id
      in: path
      required: true
      description: The pet's id
      schema: {{type: string}}
  requestBodies:
    NewPet:
      required: true
      content:
        application/json:
          schema: {{$ref: '#/components/schemas/NewPet'}}
  schemas:
    PetBase:
      type: object
      required: [name]
      properties:
        name: {{type: string}}
    NewPet:
      allOf:
        - $ref: '#/components/schemas/PetBase'
        - type: object
          required: [age]
          properties:
            age: {{type: integer}}
            kind: {{type: string, enum: [dog, cat], default: dog}}
            vaccinated: {{type: boolean}}
"""
