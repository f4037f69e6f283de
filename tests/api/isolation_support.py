"""Two workspaces for the tenant-isolation suite (tests/api/test_tenant_isolation.py).

Tenant A owns one of everything (apps, keys, a paused run with a human-input form, a
conversation, a schedule, a webhook, an MCP server, tool providers, model credentials, a
parent-child dataset, an uploaded file); tenant B owns just enough to hold credentials of each
kind. ``snapshot`` reads A's state through A's own credentials, so a probe by B that changed
anything of A's shows up as a difference.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from tests.api.conftest import Api
from tests.api.dataset_helpers import add_text, dataset_key, new_dataset
from tests.api.test_chat import chat, import_text, remembering_chatflow
from tests.api.test_human_input_api import _dsl as review_dsl  # pyright: ignore[reportPrivateUsage]
from tests.api.test_schedules import _scheduled_app  # pyright: ignore[reportPrivateUsage]
from tests.api.test_webhook_trigger import JSON_HOOK, JSON_OUTPUTS
from tests.api.test_webhook_trigger import _publish as publish_hook  # pyright: ignore[reportPrivateUsage]
from tests.api.test_workflow_tools import GREETER
from tests.graph.test_model_config_import import TEXT_GENERATOR
from tideflow.platform.db.models import App
from tideflow.platform.db.session import get_engine
from tideflow.platform.db.tool_models import ToolProviderRecord

TOOLS = "/console/api/workspaces/current"
MODEL_PROVIDER = "openai_api_compatible"
SECRET = "sk-alpha-secret-4711"  # A's model key: must never reach B
PETS = {
    "openapi": "3.0.0",
    "info": {"title": "alpha pets", "version": "1"},
    "servers": [{"url": "http://example.com"}],
    "paths": {"/pets": {"get": {"operationId": "listPets", "summary": "List pets"}}},
}
HIERARCHICAL = {
    "mode": "hierarchical",
    "rules": {
        "segmentation": {"separator": "\n\n", "max_tokens": 200},
        "parent_mode": "paragraph",
        "subchunk_segmentation": {"separator": ". ", "max_tokens": 50},
    },
}


@dataclass
class World:
    """Tenant A's resource ids (``a``) and tenant B's credentials (``b_*``)."""

    a: dict[str, str] = field(default_factory=dict[str, str])
    a_console: dict[str, str] = field(default_factory=dict[str, str])
    a_keys: dict[str, dict[str, str]] = field(default_factory=dict[str, dict[str, str]])
    b_console: dict[str, str] = field(default_factory=dict[str, str])
    b_keys: dict[str, dict[str, str]] = field(default_factory=dict[str, dict[str, str]])
    b: dict[str, str] = field(default_factory=dict[str, str])

    def markers(self) -> list[str]:
        """Strings that only A's data contains: its ids and its secret."""
        skip = {"provider_name"}  # names shared by design (e.g. a provider both configure)
        return [v for k, v in self.a.items() if k not in skip and len(v) >= 8] + [SECRET]


def _json(response: Any) -> Any:
    assert 200 <= response.status_code < 300, (response.request.url, response.text)
    return response.json()


async def _paused_review_run(api: Api, world: World) -> None:
    app_id = await import_text(api, review_dsl())
    key = await api.app_key(app_id)
    body = {"inputs": {"topic": "alpha plan"}, "user": "alice", "response_mode": "streaming"}
    streamed = await api.http.post("/v1/workflows/run", json=body, headers=key)
    lines = [ln[6:] for ln in streamed.text.splitlines() if ln.startswith("data: ")]
    payloads = [json.loads(line) for line in lines]
    required = next(p for p in payloads if p.get("event") == "human_input_required")["data"]
    run_id = payloads[-1]["workflow_run_id"]
    forms = _json(await api.http.get("/console/api/human-input/forms", headers=api.console))
    versions = _json(
        await api.http.get(f"/console/api/apps/{app_id}/workflows", headers=api.console)
    )
    world.a.update(
        review_app=app_id,
        run_id=run_id,
        form_token=required["form_token"],
        form_id=forms["data"][0]["id"],
        version_id=versions["data"][0]["id"],
    )
    world.a_keys["review"] = key


async def _chat(api: Api, world: World) -> None:
    app_id = await import_text(api, remembering_chatflow())
    key = await api.app_key(app_id)
    turn = _json(await chat(api, key, "alpha private question"))
    conversation_id = turn["conversation_id"]
    variables = _json(
        await api.http.get(
            f"/v1/conversations/{conversation_id}/variables",
            params={"user": "alice"},
            headers=key,
        )
    )
    feedback = await api.http.post(
        f"/v1/messages/{turn['message_id']}/feedbacks",
        json={"rating": "like", "user": "alice", "content": "alpha feedback"},
        headers=key,
    )
    _json(feedback)
    upload = await api.http.post(
        "/v1/files/upload",
        files={"file": ("alpha.txt", b"alpha file", "text/plain")},
        data={"user": "alice"},
        headers=key,
    )
    world.a.update(
        chat_app=app_id,
        conversation_id=conversation_id,
        message_id=turn["message_id"],
        task_id=turn["task_id"],
        variable_id=variables["data"][0]["id"],
        file_id=_json(upload)["id"],
    )
    world.a_keys["chat"] = key


async def _app_settings(api: Api, world: World) -> None:
    app_id = world.a["review_app"]
    base = f"/console/api/apps/{app_id}"
    env = await api.http.post(
        f"{base}/environment-variables",
        json={"name": "alpha_env", "value_type": "string", "value": "alpha-env-value"},
        headers=api.console,
    )
    keys = _json(await api.http.get(f"{base}/api-keys", headers=api.console))
    server = await api.http.post(
        f"{base}/server", json={"description": "alpha"}, headers=api.console
    )
    server_body = _json(server)
    schedule_app = await _scheduled_app(api, {"mode": "cron", "cron_expression": "@daily"})
    hook_app, hook_path = await publish_hook(api, JSON_HOOK, JSON_OUTPUTS)
    world.a.update(
        env_var_id=_json(env)["id"],
        app_key_id=keys["data"][0]["id"],
        mcp_server_id=server_body["id"],
        server_code=server_body["server_code"],
        schedule_app=schedule_app,
        hook_app=hook_app,
        webhook_id=hook_path.rsplit("/", 1)[1],
    )


async def _workspace_settings(api: Api, world: World, gateway_url: str) -> None:
    creds = {"credentials": {"api_key": SECRET, "endpoint_url": gateway_url}, "model": "fake-model"}
    saved = await api.http.post(
        f"{TOOLS}/model-providers/{MODEL_PROVIDER}/credentials", json=creds, headers=api.console
    )
    _json(saved)
    default = {
        "model_settings": [{"model_type": "llm", "provider": MODEL_PROVIDER, "model": "fake-model"}]
    }
    _json(await api.http.post(f"{TOOLS}/default-model", json=default, headers=api.console))
    pets = {
        "provider": "alpha-pets",
        "schema": json.dumps(PETS),
        "credentials": {"auth_type": "none"},
    }
    _json(await api.http.post(f"{TOOLS}/tool-provider/api/add", json=pets, headers=api.console))
    tool_app = await import_text(api, GREETER)
    tool = {
        "workflow_app_id": tool_app,
        "name": "alpha_greeter",
        "label": "Alpha greeter",
        "parameters": [{"name": "city", "description": "The city", "form": "llm"}],
    }
    created = await api.http.post(
        f"{TOOLS}/tool-provider/workflow/create", json=tool, headers=api.console
    )
    world.a.update(tool_app=tool_app, workflow_tool_id=_json(created)["id"])
    # An MCP provider as the console would have stored it: adding one through the API needs a
    # live MCP server, and B's probes must be refused before anything is contacted anyway.
    with Session(get_engine(api.settings.db_url)) as session:
        review = session.get(App, world.a["review_app"])
        assert review is not None
        row = ToolProviderRecord(
            tenant_id=review.tenant_id,
            kind="mcp",
            name="Alpha MCP",
            server_identifier="alpha-mcp",
            config={"transport": "streamable_http", "url": "http://example.com/mcp"},
            tools=[{"name": "echo", "description": "echo", "parameters": []}],
        )
        session.add(row)
        session.commit()
        world.a["mcp_provider_id"] = row.id


async def _dataset(
    api: Api, console: dict[str, str], ids: dict[str, str], name: str
) -> dict[str, str]:
    """A parent-child knowledge base with one indexed document; its key's headers."""
    key = await dataset_key(api, console)
    dataset = await new_dataset(
        api,
        key,
        name=name,
        indexing_technique="high_quality",
        embedding_model="text-embedding-3-small",
        embedding_model_provider="openai",
    )
    text = "Sea otters hold hands. They also wrap themselves in kelp.\n\nSalmon swim upstream."
    created = await add_text(
        api, key, dataset["id"], text=text, doc_form="hierarchical_model", process_rule=HIERARCHICAL
    )
    base = f"/v1/datasets/{dataset['id']}"
    status_url = f"{base}/documents/{created['batch']}/indexing-status"
    deadline = time.monotonic() + 60
    while True:
        states = [
            d["indexing_status"] for d in _json(await api.http.get(status_url, headers=key))["data"]
        ]
        assert "error" not in states, states
        if all(s == "completed" for s in states):
            break
        assert time.monotonic() < deadline, states
        await asyncio.sleep(0.2)
    document_id = created["document"]["id"]
    segments = _json(await api.http.get(f"{base}/documents/{document_id}/segments", headers=key))
    parent = segments["data"][0]
    metadata = await api.http.post(
        f"{base}/metadata", json={"type": "string", "name": "alpha_meta"}, headers=key
    )
    ids.update(
        dataset_id=dataset["id"],
        document_id=document_id,
        batch=created["batch"],
        segment_id=parent["id"],
        child_chunk_id=parent["child_chunks"][0]["id"],
        metadata_id=_json(metadata)["id"],
    )
    keys = _json(await api.http.get("/console/api/datasets/api-keys", headers=console))
    ids["dataset_key_id"] = keys["data"][0]["id"]
    return key


async def build_world(api: Api, gateway_url: str) -> World:
    """Tenant A with one of everything; tenant B with its own apps and keys."""
    world = World(a_console=api.console)
    await _paused_review_run(api, world)
    await _chat(api, world)
    await _app_settings(api, world)
    await _workspace_settings(api, world, gateway_url)
    world.a_keys["dataset"] = await _dataset(api, api.console, world.a, "alpha kb")
    b_console = await api.other_tenant()
    b_api = Api(http=api.http, console=b_console, settings=api.settings)
    b_chat = await import_text(b_api, remembering_chatflow())
    b_review = await import_text(b_api, review_dsl())
    b_completion = await import_text(b_api, TEXT_GENERATOR)
    world.b_console = b_console
    b_tool_app = await import_text(b_api, GREETER)
    server = await api.http.post(
        f"/console/api/apps/{b_review}/server", json={"description": "beta"}, headers=b_console
    )
    _json(server)
    world.b.update(chat_app=b_chat, review_app=b_review, tool_app=b_tool_app)
    world.b_keys = {
        "chat": await b_api.app_key(b_chat),
        "review": await b_api.app_key(b_review),
        "completion": await b_api.app_key(b_completion),
        "dataset": await _dataset(api, b_console, world.b, "beta kb"),
    }
    return world


VOLATILE = {"last_used_at", "next_action_times", "recent_actions", "elapsed_time", "now"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list):
        return [_stable(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value


async def snapshot(api: Api, world: World) -> dict[str, Any]:
    """A's state as A sees it (volatile fields dropped)."""
    a, console = world.a, world.a_console
    app = f"/console/api/apps/{a['review_app']}"
    dataset = f"/v1/datasets/{a['dataset_id']}"
    document = f"{dataset}/documents/{a['document_id']}"
    alice = {"user": "alice"}
    reads: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
        "apps": ("/console/api/apps", console, {}),
        "review": (app, console, {}),
        "draft": (f"{app}/workflows/draft", console, {}),
        "versions": (f"{app}/workflows", console, {}),
        "env": (f"{app}/environment-variables", console, {}),
        "keys": (f"{app}/api-keys", console, {}),
        "server": (f"{app}/server", console, {}),
        "runs": (f"{app}/workflow-runs", console, {}),
        "chat_keys": (f"/console/api/apps/{a['chat_app']}/api-keys", console, {}),
        "schedule": (f"/console/api/apps/{a['schedule_app']}/schedule", console, {}),
        "hook": (f"/console/api/apps/{a['hook_app']}/triggers/webhook", console, {}),
        "dataset_keys": ("/console/api/datasets/api-keys", console, {}),
        "tools": (f"{TOOLS}/tool-providers", console, {}),
        "models": (f"{TOOLS}/model-providers/{MODEL_PROVIDER}/credentials", console, {}),
        "default": (f"{TOOLS}/default-model", console, {"model_type": "llm"}),
        "forms": ("/console/api/human-input/forms", console, {}),
        "run": (f"/v1/workflows/run/{a['run_id']}", world.a_keys["review"], {}),
        "conversations": ("/v1/conversations", world.a_keys["chat"], alice),
        "messages": (
            "/v1/messages",
            world.a_keys["chat"],
            {**alice, "conversation_id": a["conversation_id"]},
        ),
        "variables": (
            f"/v1/conversations/{a['conversation_id']}/variables",
            world.a_keys["chat"],
            alice,
        ),
        "feedbacks": ("/v1/app/feedbacks", world.a_keys["chat"], {}),
        "dataset": (dataset, world.a_keys["dataset"], {}),
        "documents": (f"{dataset}/documents", world.a_keys["dataset"], {}),
        "segments": (f"{document}/segments", world.a_keys["dataset"], {}),
        "metadata": (f"{dataset}/metadata", world.a_keys["dataset"], {}),
    }
    state: dict[str, Any] = {}
    for name, (url, headers, params) in reads.items():
        response = await api.http.get(url, params=params, headers=headers)
        state[name] = (response.status_code, _stable(response.json()))
    return state
