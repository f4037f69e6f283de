"""One user's way through the console in Chromium, each step through the page: import a Dify
DSL file on the Apps page, open it in the Editor, edit a node, save, publish, then run the draft
from the editor and watch it finish; the run is in the app's history with the edited output."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import SHARED_DIR
from tests.console.conftest import ARTIFACTS, Stack, open_page, wait_idle
from tests.console.test_editor_page import END, fill, flow_node, select_node

PASSTHROUGH = SHARED_DIR / "conformance" / "dify-fixtures" / "simple_passthrough_workflow.yml"


def test_import_edit_publish_run(page: Any, stack: Stack) -> None:
    open_page(page, "Apps")
    page.get_by_label("…or paste it").fill(PASSTHROUGH.read_text())
    page.get_by_role("button", name="Import").click()
    page.get_by_text("Imported").wait_for()
    wait_idle(page)
    [app] = stack.call("GET", "/console/api/apps")["data"]

    page.get_by_role("button", name="Edit").first.click()
    wait_idle(page)
    flow_node(page, END).wait_for()
    select_node(page, END, "End")
    fill(page, "Output", "echoed")
    page.get_by_role("button", name="Publish").click()  # saves the edit first
    wait_idle(page)
    page.get_by_text("Published version 1.").wait_for()
    [version] = stack.call("GET", f"/console/api/apps/{app['id']}/workflows")["data"]
    assert version["version"] == 1

    page.get_by_text("Run the draft").click()
    page.get_by_label("query", exact=True).fill("from the browser")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_test_id("stMarkdownContainer").filter(
        has_text=re.compile(r"^succeeded · End")
    ).first.wait_for()
    page.get_by_text('"echoed"').first.wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "build_and_run.png"), full_page=True)

    [run] = stack.call("GET", f"/console/api/apps/{app['id']}/workflow-runs")["data"]
    detail = stack.call("GET", f"/console/api/apps/{app['id']}/workflow-runs/{run['id']}")
    assert (detail["status"], detail["outputs"]) == ("succeeded", {"echoed": "from the browser"})
    assert detail["triggered_from"] == "debugging"
