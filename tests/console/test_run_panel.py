"""The run panel, the Runs page and the Charts page in Chromium: run an LLM app's draft from
the Runs page (streamed: the live graph shows the LLM node running while the model stalls, the
model's text appears, then the canvas shows every node succeeded), find the run in the history
with its node outputs and its Temporal UI link, then see its charts."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.conftest import SHARED_DIR
from tests.console.conftest import ARTIFACTS, Stack, open_page, wait_idle
from tests.fakes.openai_server import FakeLLMServer, Reply

LLM = SHARED_DIR / "conformance" / "dify-fixtures" / "basic_llm_chat_workflow.yml"
QUESTION = "hello from chromium"
# Streamed slowly enough to watch: the model stalls 3 s, then a chunk of 6 characters every
# 0.5 s.
ANSWER = "the model's words arrive a few at a time"
STALL_S = 3.0
SUCCEEDED_FILL = "rgb(220, 252, 231)"  # run_view.CANVAS_COLORS["succeeded"]
RUNNING_FILL = "rgb(219, 234, 254)"  # run_view.CANVAS_COLORS["running"]


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"run_panel_{name}.png"), full_page=True)


def _visible(locator: Any) -> Any:
    return locator.filter(visible=True)


def _settled(page: Any, quiet_ms: int = 1000, timeout_ms: int = 30_000) -> None:
    """Wait until Streamlit has run no script for ``quiet_ms`` (a page that reruns itself over
    and over never gets there: the wait times out)."""
    page.evaluate("delete window.tideflowQuietSince")
    page.wait_for_function(
        """quiet => {
            const now = performance.now();
            if (document.querySelector('[data-testid="stStatusWidget"]')) {
                window.tideflowQuietSince = now;
            }
            window.tideflowQuietSince ??= now;
            return now - window.tideflowQuietSince >= quiet;
        }""",
        arg=quiet_ms,
        polling=100,
        timeout=timeout_ms,
    )


def test_run_the_draft_then_its_history_and_charts(
    page: Any, stack: Stack, fake_llm: FakeLLMServer
) -> None:
    fake_llm.script(Reply(text=ANSWER, chunk_size=6, chunk_delay=0.5, first_token_delay=STALL_S))
    app_id = stack.call(
        "POST", "/console/api/apps/imports", json={"yaml_content": LLM.read_text()}
    )["app_id"]
    open_page(page, "Runs")
    page.get_by_role("tab", name="Run the draft").click()
    run = page.get_by_role("button", name="Run", exact=True)

    # Refused before it starts: the API's message names the missing input.
    run.click()
    page.get_by_text("query is required").wait_for()
    wait_idle(page)

    page.get_by_label("query", exact=True).fill(QUESTION)
    page.get_by_text("Pins: fixed outputs").click()
    pin = page.get_by_label("Pin LLM")
    pin.fill("[1]")
    run.click()
    page.get_by_text("pin of LLM (llm_node): must be a JSON object").wait_for()
    wait_idle(page)
    pin.fill("")
    run.click()
    # While the model stalls: the live graph shows Start done, the LLM running, End to come.
    graph = _visible(page.locator(".tideflow-live-graph"))
    llm = graph.locator('[data-node-id="llm_node"]')
    expect(llm).to_have_attribute("data-status", "running", timeout=15_000)
    assert llm.evaluate("n => getComputedStyle(n).backgroundColor") == RUNNING_FILL
    assert "running" in llm.inner_text() and "LLM" in llm.inner_text()
    expect(graph.locator('[data-node-id="start_node"]')).to_have_attribute(
        "data-status", "succeeded"
    )
    assert graph.locator('[data-node-id="end_node"]').get_attribute("data-status") == "pending"
    live = _visible(page.get_by_test_id("stMarkdownContainer"))
    assert live.filter(has_text=re.compile(r"^the mo")).count() == 0  # no text yet: stalled
    live.filter(has_text=re.compile(r"^running · LLM · llm")).wait_for()
    _shot(page, "live")
    live.filter(has_text=re.compile(r"^the mo")).wait_for()  # the text, as it streams
    assert llm.get_attribute("data-status") == "running"
    assert live.filter(has_text=re.compile(r"^Running · run")).count() == 1
    page.get_by_text(re.compile(r"Run succeeded in [\d.]+ s · \d+ tokens · 3 steps")).wait_for()
    wait_idle(page)
    panel = _visible(page.get_by_test_id("stMarkdownContainer"))
    for title, kind in (("Start", "start"), ("LLM", "llm"), ("End", "end")):
        line = panel.filter(has_text=re.compile(rf"^succeeded · {title} · {kind} · [\d.]+ s"))
        assert line.count() == 1, title
    assert panel.filter(has_text=re.compile(r"LLM · llm · .* \d+ tokens")).count() == 1
    assert _visible(page.get_by_text(ANSWER, exact=True)).count() == 1  # the streamed text
    canvas = page.frame_locator('iframe[title="streamlit_flow.streamlit_flow"]')
    coloured = canvas.locator(".react-flow__node")
    coloured.first.wait_for()
    assert coloured.count() == 3
    fills = [coloured.nth(i).evaluate("n => getComputedStyle(n).backgroundColor") for i in range(3)]
    assert fills == [SUCCEEDED_FILL] * 3
    assert graph.count() == 0  # the canvas took the live graph's place
    _visible(page.get_by_text("Node details")).wait_for()
    _settled(page)  # the canvas settles: no rerun after rerun
    assert page.get_by_test_id("stStatusWidget").count() == 0
    _shot(page, "panel")
    page.get_by_test_id("stMain").evaluate("main => main.scrollTo(0, main.scrollHeight)")
    _shot(page, "panel_end")

    [recorded] = stack.call("GET", f"/console/api/apps/{app_id}/workflow-runs")["data"]
    run_id = recorded["id"]
    assert recorded["status"] == "succeeded" and recorded["triggered_from"] == "debugging"
    page.get_by_role("tab", name="History").click()
    history = _visible(page.locator("table")).filter(has_text=run_id[:8])
    history.wait_for()
    row = history.locator("tr", has_text=run_id[:8]).inner_text()
    assert "succeeded" in row and "debugging" in row and "draft" in row
    link = page.get_by_role("link", name="Open in Temporal UI")
    href = link.get_attribute("href")
    assert href == f"{stack.temporal_ui}/namespaces/default/workflows/app-{app_id}-{run_id}"
    # The row's run id links to the same page.
    assert history.get_by_role("link", name=run_id[:8]).get_attribute("href") == href
    assert httpx.get(href, timeout=30).status_code == 200  # the UI answers at that address
    details = _visible(page.get_by_test_id("stExpander")).filter(has_text="LLM · succeeded")
    details.click()
    answer = details.get_by_test_id("stJson").filter(has_text=ANSWER)
    answer.first.wait_for()
    _shot(page, "history")

    open_page(page, "Charts")
    charts = page.get_by_test_id("stVegaLiteChart")
    charts.first.wait_for()
    assert charts.count() == 3
    runs = page.get_by_test_id("stMetric").filter(has_text="Runs")
    assert runs.get_by_test_id("stMetricValue").inner_text() == "1"
