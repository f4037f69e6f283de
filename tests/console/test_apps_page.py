"""The Apps page in Chromium: import a Dify DSL file, see it listed, export it, delete it."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import SHARED_DIR
from tests.console.conftest import Stack, open_page, wait_idle

PASSTHROUGH = SHARED_DIR / "conformance" / "dify-fixtures" / "simple_passthrough_workflow.yml"


def test_import_list_export_and_delete_an_app(page: Any, stack: Stack) -> None:
    open_page(page, "Apps")
    page.get_by_label("…or paste it").fill(PASSTHROUGH.read_text())
    page.get_by_role("button", name="Import").click()
    page.get_by_text("Imported").wait_for()
    wait_idle(page)
    listed = stack.call("GET", "/console/api/apps")["data"]
    [app] = [a for a in listed if a["mode"] == "workflow"]
    row = page.get_by_text(f"{app['name']} · workflow")
    row.wait_for()
    page.get_by_role("button", name="Export").first.click()
    with page.expect_download() as download:
        page.get_by_test_id("stDownloadButton").first.click()
    exported = yaml.safe_load(download.value.path().read_text())
    assert exported["app"]["name"] == app["name"] and "workflow" in exported
    page.get_by_role("button", name="Delete").first.click()
    page.get_by_role("button", name="Yes, delete").click()
    row.wait_for(state="detached")
    assert stack.call("GET", "/console/api/apps")["data"] == []
