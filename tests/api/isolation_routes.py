"""The route table of the tenant-isolation suite (tests/api/test_tenant_isolation.py): every
(method, path) of the app, each with how tenant B probes tenant A's resources through it, or
why it is exempt."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from tests.api.isolation_support import MODEL_PROVIDER, PETS

PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
DENIED = (403, 404)
# A foreign id inside a request body (a file of A's given as an input) is a bad input of the
# caller's own request: 400 naming the field, or 404.
FOREIGN_BODY = (400, 403, 404)
HOOK_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


@dataclass(frozen=True)
class Probe:
    """One request by tenant B.

    ``cred``: which of B's credentials (console, chat, review, dataset, completion). Path params
    are filled from A's ids; ``ids`` overrides a param's default key (``=text`` is a literal,
    ``b:key`` B's own id). In ``body`` and ``params`` a string ``@key`` stands for A's id.
    ``scoped``: the route takes no foreign id, so it must answer B about B only (no A id or
    secret in the body) instead of refusing."""

    cred: str
    ids: dict[str, str] = field(default_factory=dict[str, str])
    body: Any = None
    params: dict[str, str] = field(default_factory=dict[str, str])
    files: bool = False
    scoped: bool = False
    expect: tuple[int, ...] = DENIED


@dataclass(frozen=True)
class Exempt:
    """A route outside tenant scoping, and why."""

    reason: str


# Path param -> the key of A's id plugged in by default.
DEFAULT_IDS = {
    "app_id": "review_app",
    "run_id": "run_id",
    "workflow_run_id": "run_id",
    "version_id": "version_id",
    "workflow_id": "version_id",
    "var_id": "env_var_id",
    "key_id": "app_key_id",
    "server_id": "mcp_server_id",
    "provider_id": "mcp_provider_id",
    "task_id": "run_id",
    "provider": f"={MODEL_PROVIDER}",
}
USER = {"user": "alice"}
C, S, DS = "/console/api", "/console/api/workspaces/current", "/datasets/{dataset_id}"
DOC, SEG = DS + "/documents/{document_id}", DS + "/documents/{document_id}/segments/{segment_id}"
MCP_BODY = {"name": "Beta", "server_identifier": "alpha-mcp", "server_url": "http://example.com/m"}
HOOK_EXEMPT = Exempt("public webhook endpoint: authenticated by its own unguessable webhook id")
MCP_EXEMPT = Exempt("public MCP endpoint: authenticated by the server's unguessable code")
CODEC_EXEMPT = Exempt(
    "operator-only codec server: decodes payloads with the server key; requires an owner "
    "session (OPTIONS: its CORS preflight, no data)"
)
CODEC_OPS = ("decode", "encode")
Entry = Probe | Exempt | tuple[Probe, ...]
B_APP = {"app_id": "b:app_id"}


def _console_routes() -> dict[tuple[str, str], Entry]:
    con = "console"
    schedule, hook = {"app_id": "schedule_app"}, {"app_id": "hook_app"}
    return {
        ("GET", "/health"): Exempt("liveness: no tenant data"),
        ("POST", f"{C}/login"): Exempt("sign-in: answers only the account's own credentials"),
        ("GET", f"{C}/account/profile"): Probe(con, scoped=True),
        ("GET", f"{C}/apps"): Probe(con, scoped=True),
        ("POST", f"{C}/apps"): Probe(con, body={"name": "beta"}, scoped=True),
        ("GET", f"{C}/apps/{{app_id}}"): Probe(con),
        ("DELETE", f"{C}/apps/{{app_id}}"): Probe(con),
        ("POST", f"{C}/apps/imports"): Probe(con, files=True, scoped=True),
        ("GET", f"{C}/apps/{{app_id}}/export"): Probe(con),
        ("GET", f"{C}/apps/{{app_id}}/workflows/draft"): Probe(con),
        ("POST", f"{C}/apps/{{app_id}}/workflows/draft"): Probe(
            con, body={"graph": {"nodes": [], "edges": []}}
        ),
        ("POST", f"{C}/apps/{{app_id}}/workflows/publish"): Probe(con),
        ("DELETE", f"{C}/apps/{{app_id}}/workflows/publish"): Probe(con),
        ("GET", f"{C}/apps/{{app_id}}/workflows"): Probe(con),
        ("POST", f"{C}/apps/{{app_id}}/workflows/{{version_id}}/restore"): Probe(con),
        ("POST", f"{C}/apps/{{app_id}}/workflows/draft/run"): Probe(con, body={"inputs": {}}),
        ("GET", f"{C}/apps/{{app_id}}/workflow-runs"): Probe(con),
        ("GET", f"{C}/apps/{{app_id}}/workflow-runs/{{run_id}}"): Probe(con),
        ("GET", f"{C}/apps/{{app_id}}/workflow-runs/{{run_id}}/node-executions"): Probe(con),
        ("GET", f"{C}/apps/{{app_id}}/environment-variables"): Probe(con),
        ("POST", f"{C}/apps/{{app_id}}/environment-variables"): Probe(con, body={"name": "x"}),
        ("PATCH", f"{C}/apps/{{app_id}}/environment-variables/{{var_id}}"): Probe(
            con, body={"name": "hijacked", "value": "b"}
        ),
        ("DELETE", f"{C}/apps/{{app_id}}/environment-variables/{{var_id}}"): Probe(con),
        ("POST", f"{C}/apps/{{app_id}}/api-keys"): Probe(con),
        ("GET", f"{C}/apps/{{app_id}}/api-keys"): Probe(con),
        ("DELETE", f"{C}/apps/{{app_id}}/api-keys/{{key_id}}"): Probe(con),
        ("POST", f"{C}/datasets/api-keys"): Probe(con, scoped=True),
        ("GET", f"{C}/datasets/api-keys"): Probe(con, scoped=True),
        ("DELETE", f"{C}/datasets/api-keys/{{key_id}}"): Probe(
            con, ids={"key_id": "dataset_key_id"}
        ),
        ("GET", f"{S}/model-providers"): Probe(con, scoped=True),
        ("GET", f"{S}/model-providers/{{provider:path}}/credentials"): Probe(con, scoped=True),
        ("POST", f"{S}/model-providers/{{provider:path}}/credentials"): Probe(
            con,
            body={"credentials": {"api_key": "sk-b", "endpoint_url": "http://example.com/v1"}},
            scoped=True,
        ),
        ("DELETE", f"{S}/model-providers/{{provider:path}}/credentials"): Probe(con, scoped=True),
        ("GET", f"{S}/default-model"): Probe(con, params={"model_type": "llm"}, scoped=True),
        ("POST", f"{S}/default-model"): Probe(con, body={"model_settings": []}, scoped=True),
        ("GET", f"{C}/apps/{{app_id}}/schedule"): Probe(con, ids=schedule),
        ("POST", f"{C}/apps/{{app_id}}/schedule/pause"): Probe(con, ids=schedule),
        ("POST", f"{C}/apps/{{app_id}}/schedule/resume"): Probe(con, ids=schedule),
        ("POST", f"{C}/apps/{{app_id}}/schedule/trigger"): Probe(con, ids=schedule),
        ("POST", f"{C}/apps/{{app_id}}/schedule/backfill"): Probe(
            con,
            ids=schedule,
            body={"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
        ),
        ("GET", f"{C}/apps/{{app_id}}/server"): Probe(con),
        ("POST", f"{C}/apps/{{app_id}}/server"): Probe(con, body={"description": "b"}),
        ("PUT", f"{C}/apps/{{app_id}}/server"): (
            Probe(con, body={"status": "inactive"}),
            # B's own app's server, with A's server id in the body.
            Probe(con, ids=B_APP, body={"id": "@mcp_server_id", "status": "inactive"}),
        ),
        ("GET", f"{C}/apps/{{server_id}}/server/refresh"): Probe(con),
        ("GET", f"{C}/apps/{{app_id}}/triggers/webhook"): Probe(con, ids=hook),
        ("POST", f"{C}/apps/{{app_id}}/triggers/webhook/secret"): Probe(con, ids=hook),
        ("DELETE", f"{C}/apps/{{app_id}}/triggers/webhook/secret"): Probe(con, ids=hook),
        ("GET", f"{C}/human-input/forms"): (
            Probe(con, scoped=True),
            Probe(con, params={"app_id": "@review_app"}, scoped=True),
        ),
        ("GET", f"{C}/human-input/forms/{{form_id}}"): Probe(con),
        ("POST", f"{C}/human-input/forms/{{form_id}}/submit"): Probe(
            con, body={"inputs": {"comment": "b", "level": "low"}, "action": "approve"}
        ),
        **_tool_routes(),
    }


def _tool_routes() -> dict[tuple[str, str], Entry]:
    con = "console"
    pets = {"provider": "alpha-pets", "schema": json.dumps(PETS)}
    return {
        ("GET", f"{S}/tool-providers"): Probe(con, scoped=True),
        ("GET", f"{S}/tools/{{kind}}"): Probe(con, ids={"kind": "=mcp"}, scoped=True),
        ("POST", f"{S}/tool-provider/api/schema"): Probe(
            con, body={"schema": json.dumps(PETS)}, scoped=True
        ),
        ("GET", f"{S}/tool-provider/api/remote"): Exempt(
            "fetches a URL the caller names (SSRF-guarded); reads no workspace data"
        ),
        ("POST", f"{S}/tool-provider/api/add"): Probe(
            con,
            body={**pets, "provider": "beta-pets", "original_provider": "alpha-pets"},
            scoped=True,
        ),
        ("POST", f"{S}/tool-provider/api/update"): Probe(con, body=pets),
        ("GET", f"{S}/tool-provider/api/get"): Probe(con, params={"provider": "alpha-pets"}),
        ("GET", f"{S}/tool-provider/api/tools"): Probe(con, params={"provider": "alpha-pets"}),
        ("POST", f"{S}/tool-provider/api/delete"): Probe(con, body={"provider": "alpha-pets"}),
        ("POST", f"{S}/tool-provider/mcp"): Probe(con, body=MCP_BODY, scoped=True),
        ("PUT", f"{S}/tool-provider/mcp"): Probe(
            con, body={**MCP_BODY, "provider_id": "@mcp_provider_id"}
        ),
        ("DELETE", f"{S}/tool-provider/mcp"): Probe(con, body={"provider_id": "@mcp_provider_id"}),
        ("GET", f"{S}/tool-provider/mcp/update/{{provider_id}}"): Probe(con),
        ("GET", f"{S}/tool-provider/mcp/tools/{{provider_id}}"): Probe(con),
        ("POST", f"{S}/tool-provider/workflow/create"): (
            Probe(con, body={"workflow_app_id": "@tool_app", "name": "stolen", "label": "S"}),
            # B's own app, claiming A's tool id.
            Probe(
                con,
                body={"workflow_app_id": "@b:tool_app", "workflow_tool_id": "@workflow_tool_id"}
                | {"name": "beta_tool", "label": "B"},
                scoped=True,
            ),
        ),
        ("POST", f"{S}/tool-provider/workflow/update"): Probe(
            con, body={"workflow_tool_id": "@workflow_tool_id", "name": "stolen", "label": "S"}
        ),
        ("POST", f"{S}/tool-provider/workflow/delete"): Probe(
            con, body={"workflow_tool_id": "@workflow_tool_id"}
        ),
        ("GET", f"{S}/tool-provider/workflow/get"): (
            Probe(con, params={"workflow_tool_id": "@workflow_tool_id"}),
            Probe(con, params={"workflow_app_id": "@tool_app"}),
        ),
        ("GET", f"{S}/tool-provider/workflow/tools"): Probe(
            con, params={"workflow_tool_id": "@workflow_tool_id"}
        ),
    }


def _service_routes() -> dict[tuple[str, str], Entry]:
    chat, review = "chat", "review"
    a_file = [{"type": "document", "transfer_method": "local_file", "upload_file_id": "@file_id"}]
    run = {"inputs": {"topic": "t"}, "user": "bob", "response_mode": "blocking"}
    form = {"inputs": {"comment": "b", "level": "low"}, "action": "approve", **USER}
    return {
        ("POST", "/v1/workflows/run"): Probe(
            review, body={**run, "files": a_file}, expect=FOREIGN_BODY
        ),
        ("POST", "/v1/workflows/{workflow_id}/run"): Probe(review, body=run),
        ("GET", "/v1/workflows/run/{workflow_run_id}"): Probe(review),
        ("POST", "/v1/workflows/tasks/{task_id}/stop"): Probe(review, body=USER),
        ("GET", "/v1/workflows/logs"): Probe(review, scoped=True),
        ("POST", "/v1/workflows/run/{workflow_run_id}/rerun"): Probe(
            review, body={"from_node": "human"}
        ),
        ("POST", "/v1/chat-messages"): (
            Probe(chat, body={"query": "x", "conversation_id": "@conversation_id", **USER}),
            Probe(chat, body={"query": "x", "files": a_file, **USER}, expect=FOREIGN_BODY),
        ),
        ("POST", "/v1/chat-messages/{task_id}/stop"): Probe(
            chat, body=USER, ids={"task_id": "task_id"}
        ),
        ("GET", "/v1/messages"): Probe(
            chat, params={"conversation_id": "@conversation_id", **USER}
        ),
        ("POST", "/v1/completion-messages"): Probe(
            "completion",
            body={"inputs": {"words": "w"}, "files": a_file, **USER},
            expect=FOREIGN_BODY,
        ),
        ("POST", "/v1/completion-messages/{task_id}/stop"): Probe(
            "completion", body=USER, ids={"task_id": "task_id"}
        ),
        ("GET", "/v1/conversations"): Probe(chat, params=USER, scoped=True),
        ("POST", "/v1/conversations/{conversation_id}/name"): Probe(
            chat, body={"name": "hijacked", **USER}
        ),
        ("DELETE", "/v1/conversations/{conversation_id}"): Probe(chat, body=USER),
        ("GET", "/v1/conversations/{conversation_id}/variables"): Probe(chat, params=USER),
        ("PUT", "/v1/conversations/{conversation_id}/variables/{variable_id}"): Probe(
            chat, body={"value": "hijacked", **USER}
        ),
        ("POST", "/v1/files/upload"): Probe(chat, files=True, scoped=True),
        ("POST", "/v1/messages/{message_id}/feedbacks"): Probe(
            chat, body={"rating": "dislike", **USER}
        ),
        ("GET", "/v1/app/feedbacks"): Probe(chat, scoped=True),
        ("GET", "/v1/form/human_input/{form_token}"): Probe(review),
        ("POST", "/v1/form/human_input/{form_token}"): Probe(review, body=form),
        ("GET", "/v1/parameters"): Probe(review, scoped=True),
        ("GET", "/v1/info"): Probe(review, scoped=True),
        ("GET", "/v1/meta"): Probe(review, scoped=True),
        ("GET", "/v1/workflow/{workflow_run_id}/events"): Probe(review, params=USER),
        **{(m, "/triggers/webhook/{webhook_id}"): HOOK_EXEMPT for m in HOOK_METHODS},
        **{(m, "/mcp/server/{server_code}/mcp"): MCP_EXEMPT for m in ("GET", "POST", "DELETE")},
        **{(m, f"/codec/{op}"): CODEC_EXEMPT for m in ("POST", "OPTIONS") for op in CODEC_OPS},
    }


def _metadata_probes(cred: str) -> tuple[Probe, ...]:
    """A's document under A's and B's dataset, and B's document given A's metadata field."""
    a_doc = {"operation_data": [{"document_id": "@document_id", "metadata_list": []}]}
    a_field = [{"id": "@metadata_id", "name": "alpha_meta", "value": "v"}]
    b_doc = {"operation_data": [{"document_id": "@b:document_id", "metadata_list": a_field}]}
    own = {"dataset_id": "b:dataset_id"}
    return (
        Probe(cred, body=a_doc),
        Probe(cred, ids=own, body=a_doc),
        Probe(cred, ids=own, body=b_doc, expect=FOREIGN_BODY),
    )


def _dataset_routes(prefix: str, cred: str) -> dict[tuple[str, str], Entry]:
    """The knowledge routes, mounted twice: /v1 (dataset key) and /console/api (console)."""
    text = {"name": "stolen", "text": "b"}
    doc_ids = {"document_ids": ["@document_id"]}
    routes: dict[str, dict[str, Entry]] = {
        "/datasets": {
            "POST": Probe(cred, body={"name": f"beta kb2 {cred}"}, scoped=True),
            "GET": Probe(cred, scoped=True),
        },
        DS: {"GET": Probe(cred), "PATCH": Probe(cred, body={"name": "x"}), "DELETE": Probe(cred)},
        DS + "/hit-testing": {"POST": Probe(cred, body={"query": "otters"})},
        DS + "/retrieve": {"POST": Probe(cred, body={"query": "otters"})},
        DS + "/document/create_by_text": {"POST": Probe(cred, body=text)},
        DS + "/document/create-by-text": {"POST": Probe(cred, body=text)},
        DS + "/document/create_by_file": {"POST": Probe(cred, files=True)},
        DS + "/document/create-by-file": {"POST": Probe(cred, files=True)},
        DOC + "/update_by_text": {"POST": Probe(cred, body=text)},
        DOC + "/update-by-text": {"POST": Probe(cred, body=text)},
        DOC + "/update_by_file": {"POST": Probe(cred, files=True)},
        DOC + "/update-by-file": {"POST": Probe(cred, files=True)},
        DS + "/documents": {"GET": Probe(cred)},
        DOC: {"GET": Probe(cred), "DELETE": Probe(cred)},
        DS + "/documents/{batch}/indexing-status": {"GET": Probe(cred)},
        DS + "/documents/status/{action}": {
            "PATCH": Probe(cred, ids={"action": "=disable"}, body=doc_ids)
        },
        DOC + "/processing/{action}": {"PATCH": Probe(cred, ids={"action": "=pause"})},
        DS + "/retry": {"POST": Probe(cred, body=doc_ids)},
        DOC + "/segments": {
            "POST": Probe(cred, body={"segments": [{"content": "stolen"}]}),
            "GET": Probe(cred),
        },
        SEG: {
            "GET": Probe(cred),
            "POST": Probe(cred, body={"segment": {"content": "hijacked"}}),
            "DELETE": Probe(cred),
        },
        SEG + "/child_chunks": {
            "POST": Probe(cred, body={"content": "stolen"}),
            "GET": Probe(cred),
        },
        SEG + "/child_chunks/{child_chunk_id}": {
            "PATCH": Probe(cred, body={"content": "hijacked"}),
            "DELETE": Probe(cred),
        },
        DS + "/metadata": {
            "POST": Probe(cred, body={"type": "string", "name": "stolen"}),
            "GET": Probe(cred),
        },
        DS + "/metadata/built-in": {"GET": Probe(cred)},
        DS + "/metadata/built-in/{action}": {"POST": Probe(cred, ids={"action": "=enable"})},
        DS + "/metadata/{metadata_id}": {
            "PATCH": Probe(cred, body={"name": "hijacked"}),
            "DELETE": Probe(cred),
        },
        DS + "/documents/metadata": {"POST": _metadata_probes(cred)},
    }
    if prefix == C:
        routes[DS + "/api-keys/{status}"] = {"POST": Probe(cred, ids={"status": "=disable"})}
        routes[DS + "/documents"]["POST"] = Probe(cred, files=True)
    return {(m, prefix + path): probe for path, ms in routes.items() for m, probe in ms.items()}


OWN_PARENTS = ("dataset_id", "document_id", "segment_id", "app_id")


def _with_mixed(path: str, probe: Probe) -> Entry:
    """The probe, plus (for a nested path) the same request with B's own parents and A's
    innermost id, e.g. B's dataset with A's document: the parent check alone must not do.
    When A's ids travel in the body instead, the B-parent variant targets them too."""
    names = [n for n in PARAM.findall(path) if n not in ("action", "status")]
    body_ids = "@" in json.dumps(probe.body)
    if not names or (len(names) < 2 and not body_ids):
        return probe
    inner = names if body_ids else names[:-1]
    own = {n: f"b:{n}" for n in inner if n in OWN_PARENTS}
    if not own:
        return probe
    return (probe, replace(probe, ids={**probe.ids, **own}))


ROUTES: dict[tuple[str, str], Entry] = {
    route: _with_mixed(route[1], entry) if isinstance(entry, Probe) else entry
    for route, entry in {
        **_console_routes(),
        **_service_routes(),
        **_dataset_routes("/v1", "dataset"),
        **_dataset_routes(C, "console"),
    }.items()
}
