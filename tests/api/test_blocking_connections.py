"""A blocking run request holds no database connection while it waits for its run: with the
request's session open, 16 blocking requests at once exhausted the pool (15 connections on
SQLite) and the 16th failed with a 500 after the pool's 30 s timeout (bench/api_load.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import yaml

from tests.api.conftest import Api
from tests.api.test_chat import import_text
from tests.api.test_stream_connections import SLOW_APP
from tideflow.platform.db.session import get_engine

REQUESTS = 8


async def test_blocking_runs_hold_no_database_connection(api: Api) -> None:
    key = await api.app_key(await import_text(api, yaml.safe_dump(SLOW_APP)))
    body = {"inputs": {}, "user": "u", "response_mode": "blocking"}
    requests = [
        asyncio.create_task(api.http.post("/v1/workflows/run", json=body, headers=key))
        for _ in range(REQUESTS)
    ]
    pool = get_engine(api.settings.db_url).pool
    await asyncio.sleep(2.0)  # every request waits: its run naps for 4 s
    assert not any(task.done() for task in requests)
    held = pool.checkedout()  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    assert held <= 2, f"{held} connections checked out with {REQUESTS} blocking requests waiting"
    for response in await asyncio.gather(*requests):
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["status"] == "succeeded", data
        assert data["outputs"] == {"done": 1}


QUICK_APP = {
    "kind": "app",
    "version": "0.3.0",
    "app": {"mode": "workflow", "name": "quick"},
    "workflow": {
        "graph": {
            "nodes": [
                {
                    "id": "start",
                    "data": {
                        "type": "start",
                        "title": "Start",
                        "variables": [{"variable": "word", "label": "word", "type": "text-input"}],
                    },
                },
                {
                    "id": "shout",
                    "data": {
                        "type": "template-transform",
                        "title": "Shout",
                        "template": "{{ word | upper }}",
                        "variables": [{"variable": "word", "value_selector": ["start", "word"]}],
                    },
                },
                {
                    "id": "end",
                    "data": {
                        "type": "end",
                        "title": "End",
                        "outputs": [{"variable": "loud", "value_selector": ["shout", "output"]}],
                    },
                },
            ],
            "edges": [
                {"id": "e1", "source": "start", "target": "shout"},
                {"id": "e2", "source": "shout", "target": "end"},
            ],
        }
    },
}
CONCURRENT = 40


async def test_many_concurrent_blocking_runs_all_succeed(api: Api) -> None:
    """More requests at once than a bounded pool (5 + 10) has connections: every one answers
    200 with its own output (with the bounded pool, some failed with a 500 after 30 s)."""
    key = await api.app_key(await import_text(api, yaml.safe_dump(QUICK_APP)))

    async def run(index: int) -> tuple[int, Any]:
        body = {"inputs": {"word": f"w{index}"}, "user": f"u{index}", "response_mode": "blocking"}
        response = await api.http.post("/v1/workflows/run", json=body, headers=key)
        return response.status_code, response.json()

    answers = await asyncio.wait_for(
        asyncio.gather(*(run(i) for i in range(CONCURRENT))), timeout=120
    )
    for index, (status, payload) in enumerate(answers):
        assert status == 200, payload
        assert payload["data"]["outputs"] == {"loud": f"W{index}"}
