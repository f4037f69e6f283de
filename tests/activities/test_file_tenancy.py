"""Run-time file reads are tenant-scoped: a file stored for workspace A (an upload, or a file a
node of A's run made) is read by A's runs only. A run of workspace B holding A's ``related_id``
(leaked through a URL or a log, built into a file object by a code node) is refused with a
non-retryable error naming the file, by every activity that reads stored files.

Real parts: the upload path of the API (``store_upload`` on a migrated SQLite app DB), the
activities run as a worker runs them, and a graph run on the Temporal dev server.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from tests.activities.support import UseSettings, build, fails, http_node
from tests.runtime.graphs import chain, end, node
from tests.runtime.support import plan_from_graph
from tideflow.activities.document import DocumentExtractInput, extract_document
from tideflow.activities.file_owners import owner_path
from tideflow.activities.files import (
    FileFetchError,
    FileNotInWorkspaceError,
    delete_file,
    file_path,
    load_file,
    read_file_object,
    save_file,
)
from tideflow.activities.llm.models import LlmMessage, LlmRequest
from tideflow.activities.llm.parts import litellm_messages
from tideflow.local_run import graph_worker
from tideflow.platform.db.access_models import EndUser
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.models import App, Tenant
from tideflow.platform.db.session import get_engine
from tideflow.platform.settings import Settings
from tideflow.platform.uploads import file_object, store_upload
from tideflow.workflows.engine.models import GraphRunInput
from tideflow.workflows.interpreter import GraphWorkflow

SECRET = b"alpha quarterly numbers: 4711"
BOUND_S = 60.0


@dataclass
class Workspaces:
    """Two tenants on one app DB; ``upload``: A's uploaded file object."""

    settings: Settings
    a: str
    b: str
    upload: dict[str, Any]


@pytest.fixture
def spaces(use_settings: UseSettings) -> Workspaces:
    """Tenants A and B; A's end user uploaded ``alpha.txt`` the way /v1/files/upload does."""
    settings = use_settings(allow_private_network="true")
    upgrade_database(settings.db_url)
    with Session(get_engine(settings.db_url), expire_on_commit=False) as session:
        a, b = Tenant(name="alpha"), Tenant(name="beta")
        session.add_all([a, b])
        session.flush()
        app = App(tenant_id=a.id, name="alpha app", mode="workflow")
        session.add(app)
        session.flush()
        user = EndUser(tenant_id=a.id, app_id=app.id, session_id="alice")
        session.add(user)
        session.commit()
        upload = store_upload(session, settings, app, user, "alpha.txt", "text/plain", SECRET)
        return Workspaces(settings, a.id, b.id, file_object(upload))


async def extract(files: list[dict[str, Any]], tenant_id: str) -> Any:
    """The document-extractor activity, run as a worker runs it, for a run of ``tenant_id``."""
    req = DocumentExtractInput(node_id="doc1", files=files, is_list=False, tenant_id=tenant_id)
    return (await ActivityEnvironment().run(extract_document, req)).text


async def extract_fails(file: dict[str, Any], tenant_id: str) -> ApplicationError:
    """The error of the document extractor for a run of ``tenant_id`` reading ``file``."""
    with pytest.raises(ApplicationError) as caught:
        await extract([file], tenant_id)
    return caught.value


def assert_refused(error: BaseException, related_id: str, name: str) -> None:
    """Refused as not in this workspace, naming the file, with none of A's bytes."""
    message = str(error)
    assert "not in this workspace" in message, message
    assert related_id in message and name in message, message
    assert SECRET.decode() not in message


async def test_an_upload_is_read_by_its_own_workspace_only(spaces: Workspaces) -> None:
    upload = spaces.upload
    related_id = str(upload["related_id"])
    assert await extract([upload], spaces.a) == SECRET.decode()
    # What a code node of B can build from a leaked id: every way of naming the stored file.
    forged = {"transfer_method": "local_file", "filename": "forged.txt", "extension": ".txt"}
    for file in (
        upload,
        {**forged, "related_id": related_id},
        {**forged, "transfer_method": "tool_file", "related_id": related_id},
        {**forged, "transfer_method": "datasource_file", "reference": related_id},
    ):
        error = await extract_fails(file, spaces.b)
        assert error.non_retryable and error.type == "FileDownloadError"
        assert_refused(error, related_id, str(file["filename"]))
    # A run without a workspace (the local CLI's) is no owner of A's files either.
    assert_refused(await extract_fails(upload, ""), related_id, "alpha.txt")


async def test_every_reader_of_stored_files_refuses_another_workspace(
    spaces: Workspaces, server: str
) -> None:
    """The HTTP node's file bodies, LLM vision inputs and tool file parameters (all through
    ``read_file_object``) refuse B; the same reads work for A."""
    upload, settings = spaces.upload, spaces.settings
    related_id = str(upload["related_id"])
    binary = {"type": "binary", "data": [{"type": "file", "file": ["start", "f"]}]}
    request = build(
        http_node(f"{server}/echo", method="post", body=binary), {("start", "f"): upload}
    )
    error = await fails(request.model_copy(update={"tenant_id": spaces.b}))
    assert error.type == "FileFetchError" and error.non_retryable
    assert_refused(error, related_id, "alpha.txt")

    image = {"type": "image_file", "file": upload}
    vision = LlmRequest(
        tenant_id=spaces.b,
        provider="openai",
        model="gpt-4o",
        messages=[LlmMessage(role="user", content=[image])],
    )
    with pytest.raises(FileNotInWorkspaceError) as caught:
        await litellm_messages(vision, settings)
    assert_refused(caught.value, related_id, "alpha.txt")
    own = await litellm_messages(vision.model_copy(update={"tenant_id": spaces.a}), settings)
    data_url = own[0]["content"][0]["image_url"]["url"]
    assert data_url == f"data:text/plain;base64,{base64.b64encode(SECRET).decode()}"

    with pytest.raises(FileNotInWorkspaceError) as caught:
        await read_file_object(upload, settings, tenant_id=spaces.b)
    assert_refused(caught.value, related_id, "alpha.txt")
    assert await read_file_object(upload, settings, tenant_id=spaces.a) == SECRET


async def test_a_file_made_in_a_run_is_read_by_its_later_nodes(
    spaces: Workspaces, server: str, temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    """An HTTP node of A's run saves its response as a tool_file; the document extractor
    after it reads it. The same file in B's run is refused."""
    disposition = "attachment;%20filename=made.txt"
    url = f"{server}/bytes?size=12&fill=m&media_type=text/plain&disposition={disposition}"
    nodes = [
        node("start", "start", variables=[]),
        node("http", "http-request", **http_node(url)),
        node("ext", "document-extractor", variable_selector=["http", "files"], is_array_file=True),
        end(("text", ["ext", "text"]), ("files", ["http", "files"])),
    ]
    plan = plan_from_graph("workflow", nodes, chain("start", "http", "ext", "end"))
    async with graph_worker(temporal_env.client, spaces.settings, task_queue):
        handle = await temporal_env.client.start_workflow(
            GraphWorkflow.run,
            GraphRunInput(plan=plan, tenant_id=spaces.a),
            id=f"file-tenancy-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        result = await asyncio.wait_for(handle.result(), BOUND_S)
    assert result.status == "succeeded", result.error
    assert result.outputs["text"] == ["m" * 12]
    [made] = result.outputs["files"]
    assert made["transfer_method"] == "tool_file" and made["filename"] == "made.txt"
    error = await extract_fails(made, spaces.b)
    assert_refused(error, str(made["related_id"]), "made.txt")


async def test_files_stored_before_owner_records(spaces: Workspaces) -> None:
    """A stored file without its owner record: an upload's owner comes from the app DB (and is
    recorded then); a file no row names has no owner and is refused to every workspace."""
    settings, upload = spaces.settings, spaces.upload
    related_id = str(upload["related_id"])
    sidecar = owner_path(file_path(related_id, settings))
    sidecar.unlink()
    assert_refused(await extract_fails(upload, spaces.b), related_id, "alpha.txt")
    assert await extract([upload], spaces.a) == SECRET.decode()
    assert sidecar.read_text() == spaces.a  # migrated: later reads need no DB query

    orphan = save_file(
        b"no owner", filename="old.txt", mime_type=None, settings=settings, tenant_id=""
    )
    owner_path(file_path(str(orphan["related_id"]), settings)).unlink()
    for tenant in (spaces.a, ""):
        with pytest.raises(FileNotInWorkspaceError, match="not in this workspace"):
            load_file(str(orphan["related_id"]), settings, tenant_id=tenant)


def test_missing_and_deleted_files(spaces: Workspaces) -> None:
    """A missing file says so (to its owner and to anyone: there is nothing to leak); a
    deleted file loses its owner record with its bytes."""
    settings = spaces.settings
    with pytest.raises(FileFetchError, match="is not in the file store"):
        load_file("never-stored", settings, tenant_id=spaces.b)
    made = save_file(b"x", filename="x.txt", mime_type=None, settings=settings, tenant_id=spaces.a)
    related_id = str(made["related_id"])
    assert load_file(related_id, settings, tenant_id=spaces.a) == b"x"
    delete_file(related_id, settings)
    assert not file_path(related_id, settings).exists()
    assert not owner_path(file_path(related_id, settings)).exists()
    with pytest.raises(FileFetchError, match="is not in the file store"):
        load_file(related_id, settings, tenant_id=spaces.a)
