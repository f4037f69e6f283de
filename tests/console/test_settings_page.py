"""The Settings page in Chromium: an app's API key and a secret environment variable, model
provider credentials checked against the fake model server through the worker, a published
workflow app added as a tool, and the app enabled as an MCP server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import SHARED_DIR
from tests.console.conftest import Stack, open_page, wait_idle
from tests.fakes.openai_server import FakeLLMServer, unauthorized

PASSTHROUGH = SHARED_DIR / "conformance" / "dify-fixtures" / "simple_passthrough_workflow.yml"
SECRET = "s3cret-console-value"


@pytest.fixture(scope="module")
def echo_app(stack: Stack) -> str:
    """The imported and published echo workflow (one text input, ``query``): the only app,
    so every per-app tab picks it."""
    imported = stack.call(
        "POST", "/console/api/apps/imports", json={"yaml_content": PASSTHROUGH.read_text()}
    )
    app_id: str = imported["app_id"]
    stack.call("POST", f"/console/api/apps/{app_id}/workflows/publish")
    return app_id


def open_tab(page: Any, name: str) -> None:
    """Open a Settings tab (only the open tab's section runs)."""
    page.get_by_role("tab", name=name, exact=True).click()
    wait_idle(page)


def box(scope: Any, label: str) -> Any:
    """The text input or text area labelled ``label`` (not its help button)."""
    return scope.locator(f'input[aria-label="{label}"], textarea[aria-label="{label}"]')


def type_in(page: Any, label: str, text: str) -> None:
    """Fill a text input outside a form and let Streamlit take the value."""
    field = box(page, label)
    field.fill(text)
    field.press("Enter")
    wait_idle(page)


def choose(page: Any, label: str, option: str) -> None:
    """Pick an option of a select box."""
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option).first.click()
    wait_idle(page)


def test_api_key_and_secret_environment_variable(page: Any, stack: Stack, echo_app: str) -> None:
    open_page(page, "Settings")
    open_tab(page, "API keys")
    page.get_by_role("button", name="Create key").first.click()
    page.get_by_text("copy it now, it is not shown again").wait_for()
    wait_idle(page)
    [key] = stack.call("GET", f"/console/api/apps/{echo_app}/api-keys")["data"]
    prefix = key["token"].removesuffix("...")
    shown = page.get_by_test_id("stCode").filter(has_text=prefix)
    full = shown.first.inner_text().strip()  # the new token, shown once, above the list
    assert full.startswith(prefix) and len(full) > len(prefix)
    page.get_by_text(key["token"], exact=True).wait_for()  # the list shows the prefix only
    info = httpx.get(
        f"{stack.api}/v1/info", headers={"Authorization": f"Bearer {full}"}, timeout=30
    )
    assert info.status_code == 200 and info.json()["name"] == "echo", info.text

    open_tab(page, "Environment variables")
    type_in(page, "Variable name", "SERVICE_TOKEN")
    choose(page, "Value type", "secret")
    type_in(page, "Variable value", SECRET)
    page.get_by_role("button", name="Add variable").click()
    wait_idle(page)
    page.get_by_text("SERVICE_TOKEN · secret").wait_for()
    page.get_by_text("•••••••• (secret)").wait_for()
    expect(box(page, "Variable value")).to_have_value("")  # form emptied
    assert SECRET not in page.content()
    [var] = stack.call("GET", f"/console/api/apps/{echo_app}/environment-variables")["data"]
    assert (var["name"], var["value_type"], var["value"]) == (
        "SERVICE_TOKEN",
        "secret",
        "[__HIDDEN__]",
    )
    exported = stack.call(
        "GET", f"/console/api/apps/{echo_app}/export", params={"include_secret": True}
    )
    assert SECRET in str(exported)  # stored in full, only never shown


def test_model_provider_credentials_are_checked_by_a_model_call(
    page: Any, stack: Stack, fake_llm: FakeLLMServer
) -> None:
    provider = "/console/api/workspaces/current/model-providers"
    open_page(page, "Settings")
    choose(page, "Provider", "OpenAI-API-compatible")
    page.get_by_text("OpenAI-API-compatible credentials").wait_for()
    wait_idle(page)
    form = page.get_by_test_id("stForm").first
    box(form, "API Key").fill("sk-console")
    box(form, "API Base URL (required)").fill(fake_llm.base_url)
    box(form, "Model to check with").fill("fake-model")
    form.get_by_role("button", name="Save and check").click()
    page.get_by_text("OpenAI-API-compatible: credentials checked and saved").wait_for()
    wait_idle(page)
    [check] = fake_llm.chat_requests()  # one real call, made by the worker with the key
    assert check.headers["authorization"] == "Bearer sk-console"
    assert check.json["model"] == "fake-model"
    page.get_by_text("Configured: OpenAI-API-compatible").wait_for()

    # A wrong key: the provider's own refusal is shown, the saved key stays.
    fake_llm.fail(unauthorized())
    form = page.get_by_test_id("stForm").first
    box(form, "API Key").fill("sk-wrong")
    form.get_by_role("button", name="Save and check").click()
    page.get_by_text("the credentials check failed").wait_for()
    page.get_by_text("Incorrect API key").wait_for()
    listed = stack.call("GET", provider)["data"]
    [compat] = [p for p in listed if p["provider"] == "openai_api_compatible"]
    assert compat["custom_configuration"]["status"] == "active"
    assert compat["credentials"]["api_key"] == "[__HIDDEN__]"
    assert fake_llm.chat_requests()[-1].headers["authorization"] == "Bearer sk-wrong"


def test_workflow_tool_and_mcp_server(page: Any, stack: Stack, echo_app: str) -> None:
    open_page(page, "Settings")
    open_tab(page, "Tools")
    page.get_by_role("tab", name="From a workflow app").click()
    form = page.get_by_test_id("stForm").filter(has_text="Add workflow tool")
    box(form, "Tool name").fill("echo_tool")
    box(form, "Tool label").fill("Echo")
    box(form, "Tool description").fill("Repeats the query")
    box(form, "Description of query").fill("Text to repeat")
    form.get_by_role("button", name="Add workflow tool").click()
    page.get_by_text("Added workflow tool echo_tool").wait_for()
    page.get_by_text("Echo · workflow").wait_for()
    [tool] = stack.call("GET", "/console/api/workspaces/current/tools/workflow")
    assert tool["workflow_app_id"] == echo_app
    [parameter] = tool["tools"][0]["parameters"]
    assert (parameter["name"], parameter["description"]) == ("query", "Text to repeat")

    open_tab(page, "MCP server")
    form = page.get_by_test_id("stForm")
    box(form, "Server description").fill("Echoes what it is given")
    box(form, "query: description").fill("The text to echo")
    form.get_by_role("button", name="Enable MCP server").click()
    page.get_by_text("Enabled: share the URL with MCP clients").wait_for()
    server = stack.call("GET", f"/console/api/apps/{echo_app}/server")
    page.get_by_test_id("stCode").filter(has_text=server["server_url"]).wait_for()
    listed = httpx.post(
        server["server_url"],
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
        timeout=30,
    )
    assert listed.status_code == 200, listed.text
    [offered] = listed.json()["result"]["tools"]
    assert offered["description"] == "Echoes what it is given"
    assert offered["inputSchema"]["properties"]["query"]["description"] == "The text to echo"
