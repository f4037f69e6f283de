"""An open SSE stream holds no database connection: a stream lasts as long as its run, and the
pool (15 connections on SQLite) ran out with 16 streams open before the request's session was
closed up front (tideflow/platform/api/streaming.py)."""

from __future__ import annotations

import asyncio

import yaml

from tests.api.conftest import Api
from tests.api.test_chat import import_text
from tideflow.platform.db.session import get_engine

STREAMS = 8
SLOW_APP = {
    "kind": "app",
    "version": "0.3.0",
    "app": {"mode": "workflow", "name": "slow"},
    "workflow": {
        "graph": {
            "nodes": [
                {"id": "start", "data": {"type": "start", "title": "Start", "variables": []}},
                {
                    "id": "nap",
                    "data": {
                        "type": "code",
                        "title": "Nap",
                        "code_language": "python3",
                        "code": "import time\ndef main() -> dict:\n    time.sleep(4)\n"
                        "    return {'done': 1}\n",
                        "variables": [],
                        "outputs": {"done": {"type": "number", "children": None}},
                    },
                },
                {
                    "id": "end",
                    "data": {
                        "type": "end",
                        "title": "End",
                        "outputs": [{"variable": "done", "value_selector": ["nap", "done"]}],
                    },
                },
            ],
            "edges": [
                {"id": "e1", "source": "start", "target": "nap"},
                {"id": "e2", "source": "nap", "target": "end"},
            ],
        }
    },
}


async def test_open_streams_hold_no_database_connection(api: Api) -> None:
    key = await api.app_key(await import_text(api, yaml.safe_dump(SLOW_APP)))
    body = {"inputs": {}, "user": "u", "response_mode": "streaming"}
    streams = [
        asyncio.create_task(api.http.post("/v1/workflows/run", json=body, headers=key))
        for _ in range(STREAMS)
    ]
    pool = get_engine(api.settings.db_url).pool
    await asyncio.sleep(2.0)  # every stream is open: its run naps for 4 s
    assert not any(task.done() for task in streams)
    held = pool.checkedout()  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    assert held <= 2, f"{held} connections checked out with {STREAMS} streams open"
    for response in await asyncio.gather(*streams):
        assert response.status_code == 200, response.text
        assert '"event": "workflow_finished"' in response.text
        assert '"status": "succeeded"' in response.text
