"""Re-running a run from a node, and SSE keep-alive pings during a long run."""

from __future__ import annotations

from tests.api.conftest import Api, sse_events
from tests.api.test_chat import import_text

STAMP_APP = """
app: {name: stamp, mode: workflow}
kind: app
version: 0.3.1
workflow:
  graph:
    nodes:
      - id: start
        data:
          type: start
          title: Start
          variables: [{variable: word, label: word, type: text-input, required: true}]
      - id: stamp
        data:
          type: code
          title: Stamp
          code_language: python3
          code: |
            import uuid
            def main(word: str) -> dict:
                return {"stamp": word + "-" + uuid.uuid4().hex}
          variables: [{variable: word, value_selector: [start, word]}]
          outputs: {stamp: {type: string}}
      - id: shout
        data:
          type: template-transform
          title: Shout
          template: "{{ stamp | upper }}"
          variables: [{variable: stamp, value_selector: [stamp, stamp]}]
      - id: end
        data:
          type: end
          title: End
          outputs:
            - {variable: stamp, value_selector: [stamp, stamp]}
            - {variable: loud, value_selector: [shout, output]}
    edges:
      - {source: start, target: stamp}
      - {source: stamp, target: shout}
      - {source: shout, target: end}
"""

NAP_APP = STAMP_APP.replace("import uuid", "import time, uuid").replace(
    '    return {"stamp"', '    time.sleep(2)\n                return {"stamp"'
)


async def test_rerun_reuses_the_outputs_before_the_node(api: Api) -> None:
    key = await api.app_key(await import_text(api, STAMP_APP))
    first = await api.http.post(
        "/v1/workflows/run", json={"inputs": {"word": "w"}, "user": "alice"}, headers=key
    )
    assert first.status_code == 200, first.text
    run_id, outputs = first.json()["workflow_run_id"], first.json()["data"]["outputs"]
    assert outputs["loud"] == outputs["stamp"].upper()
    url = f"/v1/workflows/run/{run_id}/rerun"
    from_shout = await api.http.post(url, json={"from_node": "shout"}, headers=key)
    assert from_shout.status_code == 200, from_shout.text
    again = from_shout.json()
    assert again["workflow_run_id"] != run_id and again["data"]["status"] == "succeeded"
    assert again["data"]["outputs"] == outputs  # stamp reused, shout ran on it again
    detail = (
        await api.http.get(f"/v1/workflows/run/{again['workflow_run_id']}", headers=key)
    ).json()
    assert detail["inputs"] == '{"word": "w"}'
    from_stamp = (await api.http.post(url, json={"from_node": "stamp"}, headers=key)).json()
    assert from_stamp["data"]["outputs"]["stamp"] != outputs["stamp"]  # ran anew
    assert from_stamp["data"]["outputs"]["stamp"].startswith("w-")
    unknown = await api.http.post(url, json={"from_node": "ghost"}, headers=key)
    assert unknown.status_code == 400 and "'ghost'" in unknown.json()["message"]
    missing = await api.http.post(
        "/v1/workflows/run/nope/rerun", json={"from_node": "x"}, headers=key
    )
    assert missing.status_code == 404


async def test_ping_lines_during_a_long_run(api: Api) -> None:
    # conftest sets TIDEFLOW_SSE_PING_INTERVAL_S=0.5; the code node takes 2 s.
    assert api.settings.sse_ping_interval_s == 0.5
    key = await api.app_key(await import_text(api, NAP_APP))
    response = await api.http.post(
        "/v1/workflows/run",
        json={"inputs": {"word": "w"}, "user": "alice", "response_mode": "streaming"},
        headers=key,
    )
    assert response.status_code == 200
    assert "event: ping\n\n" in response.text
    events = sse_events(response.text)
    pings = [i for i, (_, p) in enumerate(events) if p == "ping"]
    assert len(pings) >= 2
    names = [p["event"] if isinstance(p, dict) else p for _, p in events]
    assert names[0] == "workflow_started" and names[-1] == "workflow_finished"
