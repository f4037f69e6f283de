"""End to end (real API, worker and Temporal dev server): workspace B's workflow whose code node
forges a file object around workspace A's stored upload id feeds it to a document extractor;
the node fails naming the file as not in this workspace and none of A's bytes reach B. The
run-time side of the tenant-isolation suite (tests/api/test_tenant_isolation.py), whose API
checks stop such ids at the request."""

from __future__ import annotations

import json

from sqlmodel import Session

from tests.api.conftest import Api
from tests.api.test_chat import import_text
from tests.api.test_conversations import EXTRACT_APP
from tideflow.platform.db.chat_models import UploadFile
from tideflow.platform.db.session import get_engine

SECRET = b"alpha payroll: 4711 per month"


def forging_app(store_id: str) -> str:
    """A workflow whose code node builds a file object for ``store_id`` (a leaked id)."""
    code = (
        "def main() -> dict:\n"
        "    return {'doc': {'dify_model_identity': '__dify__file__', 'type': 'document',\n"
        f"        'transfer_method': 'local_file', 'related_id': {store_id!r},\n"
        "        'filename': 'forged.txt', 'extension': '.txt', 'mime_type': 'text/plain'}}\n"
    )
    return f"""
app: {{name: forger, mode: workflow}}
kind: app
version: 0.3.1
workflow:
  graph:
    nodes:
      - id: start
        data: {{type: start, title: Start, variables: []}}
      - id: forge
        data:
          type: code
          title: Forge
          code_language: python3
          code: {json.dumps(code)}
          variables: []
          outputs: {{doc: {{type: object}}}}
      - id: ex
        data: {{type: document-extractor, title: Extract, variable_selector: [forge, doc]}}
      - id: end
        data:
          type: end
          title: End
          outputs: [{{variable: text, value_selector: [ex, text]}}]
    edges:
      - {{source: start, target: forge}}
      - {{source: forge, target: ex}}
      - {{source: ex, target: end}}
"""


async def test_a_forged_file_object_cannot_read_another_workspaces_upload(api: Api) -> None:
    a_key = await api.app_key(await import_text(api, EXTRACT_APP))
    uploaded = await api.http.post(
        "/v1/files/upload",
        files={"file": ("alpha.txt", SECRET, "text/plain")},
        data={"user": "alice"},
        headers=a_key,
    )
    assert uploaded.status_code == 201, uploaded.text
    doc = {"transfer_method": "local_file", "upload_file_id": uploaded.json()["id"]}
    own = await api.http.post(
        "/v1/workflows/run", json={"inputs": {"doc": doc}, "user": "alice"}, headers=a_key
    )
    assert own.status_code == 200, own.text
    assert own.json()["data"]["outputs"] == {"text": SECRET.decode()}
    with Session(get_engine(api.settings.db_url)) as session:
        upload = session.get(UploadFile, uploaded.json()["id"])
        assert upload is not None
        store_id = upload.store_id  # what leaked to B

    b_api = Api(http=api.http, console=await api.other_tenant(), settings=api.settings)
    b_app = await import_text(b_api, forging_app(store_id))
    ran = await api.http.post(
        "/v1/workflows/run",
        json={"inputs": {}, "user": "mallory"},
        headers=await b_api.app_key(b_app),
    )
    assert ran.status_code == 200, ran.text
    data = ran.json()["data"]
    assert data["status"] == "failed", ran.text
    assert "'forged.txt'" in data["error"] and store_id in data["error"], data["error"]
    assert "not in this workspace" in data["error"], data["error"]
    nodes = await api.http.get(
        f"/console/api/apps/{b_app}/workflow-runs/{ran.json()['workflow_run_id']}/node-executions",
        headers=b_api.console,
    )
    assert nodes.status_code == 200, nodes.text
    extractor = [n for n in nodes.json()["data"] if n["node_id"] == "ex"]
    assert [n["status"] for n in extractor] == ["failed"], nodes.text
    assert "not in this workspace" in extractor[0]["error"]
    for text in (ran.text, nodes.text):
        assert SECRET.decode() not in text and "payroll" not in text
