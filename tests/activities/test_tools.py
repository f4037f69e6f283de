"""The tool_invoke activity and the built-in tools: time, json_process, maths, echarts and the
web scraper (against the local test server, through the real SSRF guard)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.activities.support import UseSettings
from tideflow.activities.tools import ToolInvokeRequest, ToolInvokeResult, tool_invoke
from tideflow.platform.settings import Settings
from tideflow.plugins.registry import clear_cache
from tideflow.plugins.tools import (
    ToolError,
    ToolParameter,
    check_parameters,
    find_tool,
    tool_providers,
)
from tideflow.plugins.tools.builtin import BUILTIN_PROVIDERS
from tideflow.plugins.tools.time_tools import WEEKDAY
from tideflow.workflows.engine.executor import ATTEMPT_DETAIL

JSON = "langgenius/json_process/json_process"


def request(provider: str, tool: str, *, forms: dict[str, Any] | None = None, **params: Any):
    """A tool_invoke input as the tool node builds it."""
    return ToolInvokeRequest(
        node_id="t1",
        provider_id=provider,
        provider_type="builtin",
        tool_name=tool,
        parameters=params,
        configurations=forms or {},
    )


async def call(req: ToolInvokeRequest) -> ToolInvokeResult:
    """The activity, run the way a worker runs it."""
    return await ActivityEnvironment().run(tool_invoke, req)


async def fails(req: ToolInvokeRequest) -> ApplicationError:
    """The ApplicationError the activity raises for ``req``."""
    with pytest.raises(ApplicationError) as caught:
        await call(req)
    return caught.value


@pytest.fixture
def private(use_settings: UseSettings) -> Settings:
    """Settings that let tools reach the loopback test server."""
    return use_settings(allow_private_network="true")


# Registry and parameter checks --------------------------------------------------------------


def test_builtins_are_found_by_dify_ids_and_aliases() -> None:
    providers = tool_providers()
    for provider in BUILTIN_PROVIDERS:
        assert providers[provider.id] is provider
        assert all(providers[alias] is provider for alias in provider.aliases)
    assert find_tool("langgenius/time/time", "current_time") is find_tool("time", "current_time")
    assert find_tool("json_process", "json_parse") is find_tool(JSON, "parse")
    assert find_tool("time", "no_such_tool") is None
    assert find_tool("langgenius/nothing/nothing", "x") is None


def test_check_parameters_coerces_and_names_the_parameter() -> None:
    tool = find_tool(JSON, "json_replace")
    assert tool is not None
    checked = check_parameters(
        tool,
        {"content": {"a": 1}, "query": "a", "replace_value": 7, "value_decode": "True", "x": 1},
    )
    assert checked == {
        "content": '{"a": 1}',
        "query": "a",
        "replace_value": "7",
        "value_decode": True,
        "replace_model": "pattern",
        "ensure_ascii": True,
    }
    with pytest.raises(ToolError, match="'replace_model' must be one of key, value, pattern"):
        check_parameters(
            tool, {"content": "{}", "query": "a", "replace_value": "v", "replace_model": "x"}
        )
    with pytest.raises(ToolError, match="parameter 'year' must be a number"):
        check_parameters(WEEKDAY, {"year": "soon", "month": 1, "day": 1})
    assert check_parameters(WEEKDAY, {"year": "2024", "month": "2.0", "day": 29}) == {
        "year": 2024,
        "month": 2.0,
        "day": 29,
    }


def test_structured_and_file_parameters() -> None:
    class Stub:
        name, label, description = "stub", "Stub", ""
        parameters = (
            ToolParameter("o", "object"),
            ToolParameter("a", "array"),
            ToolParameter("f", "file"),
            ToolParameter("fs", "files"),
        )

        async def invoke(self, params: dict[str, Any], context: Any) -> Any:
            raise AssertionError((params, context))

    file = {"id": "f1", "type": "document"}
    got = check_parameters(Stub(), {"o": '{"k": 1}', "a": [1], "f": [file], "fs": file})
    assert got == {"o": {"k": 1}, "a": [1], "f": file, "fs": [file]}
    with pytest.raises(ToolError, match="parameter 'a' must be an array"):
        check_parameters(Stub(), {"a": '{"k": 1}'})
    with pytest.raises(ToolError, match="parameter 'f' must be a file"):
        check_parameters(Stub(), {"f": "not a file"})


# Time ---------------------------------------------------------------------------------------


async def test_time_tools() -> None:
    before = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")
    result = await call(
        request(
            "time", "current_time", forms={"format": "%Y-%m-%d %Z", "timezone": "Asia/Shanghai"}
        )
    )
    after = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")
    assert result.text in (f"{before} CST", f"{after} CST")
    default = await call(request("time", "current_time"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", default.text)
    assert default.json_ == [] and default.attempt == 1
    weekday = await call(request("time", "weekday", year=2024, month="2", day="29"))
    assert weekday.text == "February 29, 2024 is Thursday."
    converted = await call(
        request(
            "time",
            "timezone_conversion",
            current_time="2025-01-01 12:00:00",
            current_timezone="Asia/Shanghai",
            target_timezone="Europe/London",
        )
    )
    assert converted.text == "2025-01-01 04:00:00"
    stamp = await call(
        request("time", "localtime_to_timestamp", localtime="2025-01-01 00:00:00", timezone="UTC")
    )
    assert stamp.text == "1735689600"
    back = await call(
        request("time", "timestamp_to_localtime", timestamp=stamp.text, timezone="Asia/Tokyo")
    )
    assert back.text == "2025-01-01 09:00:00"


async def test_time_tool_errors_are_the_tools_own() -> None:
    err = await fails(request("time", "current_time", forms={"timezone": "Mars/Olympus"}))
    assert err.type == "ToolInvokeError" and "Invalid timezone: 'Mars/Olympus'" in err.message
    assert not err.non_retryable  # the node's retry_config decides
    err = await fails(request("time", "weekday", year=2023, month=2, day=29))
    assert err.message == "Invalid date: Year 2023, Month 2, Day 29."


# JSON process -------------------------------------------------------------------------------

DOC = json.dumps({"store": {"books": [{"t": "A", "p": 8}, {"t": "B", "p": 12}], "名": "书店"}})


async def test_json_parse() -> None:
    async def parse(path: str, **forms: Any) -> str:
        req = request(JSON, "parse", forms=forms, content=DOC, json_filter=path)
        return (await call(req)).text

    assert await parse("$.store.books[1].t") == "B"
    assert await parse("store.books[-1].p") == "12"
    assert await parse("$.store.books[*].t") == '["A", "B"]'
    assert await parse("$..p") == "[8, 12]"
    assert await parse("$['store']['名']") == "书店"  # a string value as is
    assert await parse("$.store.books[0]", ensure_ascii=False) == '{"t": "A", "p": 8}'
    assert await parse("$.missing") == ""
    err = await fails(request(JSON, "parse", content=DOC, json_filter="$.store.books[?(@.p>9)]"))
    assert err.type == "ToolInvokeError" and "unsupported JSONPath" in err.message
    err = await fails(request(JSON, "parse", content="{not json", json_filter="$.a"))
    assert "'content' is not valid JSON" in err.message


async def test_json_insert_replace_delete() -> None:
    async def run(tool: str, **params: Any) -> Any:
        req = request(JSON, tool, forms={"ensure_ascii": False}, content=DOC, **params)
        return json.loads((await call(req)).text)

    got = await run(
        "json_insert", query="$.store.books", new_value='{"t": "C"}', index=0, value_decode=True
    )
    assert [b["t"] for b in got["store"]["books"]] == ["C", "A", "B"]
    got = await run("json_insert", query="$.store", new_value='{"open": true}', value_decode=True)
    assert got["store"]["open"] is True
    got = await run("json_insert", query="$.meta.tags[1]", new_value="x", create_path=True)
    assert got["meta"] == {"tags": [{}, "x"]}
    got = await run(
        "json_replace",
        query="$.store.books[*].p",
        replace_value="0",
        replace_model="value",
        value_decode=True,
    )
    assert [b["p"] for b in got["store"]["books"]] == [0, 0]
    got = await run("json_replace", query="$.store.名", replace_value="name", replace_model="key")
    assert got["store"]["name"] == "书店" and "名" not in got["store"]
    got = await run("json_replace", query="$..t", replace_pattern="A", replace_value="Z")
    assert [b["t"] for b in got["store"]["books"]] == ["Z", "B"]
    got = await run("json_delete", query="store.books[*]")
    assert got["store"]["books"] == []
    got = await run("json_delete", query="$.store.名")
    assert got == {"store": {"books": [{"t": "A", "p": 8}, {"t": "B", "p": 12}]}}


# Maths and charts ---------------------------------------------------------------------------


async def test_maths_eval_expression() -> None:
    async def evaluate(expression: str) -> str:
        return (
            await call(request("langgenius/maths/maths", "eval_expression", expression=expression))
        ).text

    assert (
        await evaluate("2 * (3 + 4) ** 2")
        == 'The result of the expression "2 * (3 + 4) ** 2" is 98'
    )
    assert (
        await evaluate(" sqrt(16) + 2^3 ")
        == 'The result of the expression "sqrt(16) + 2^3" is 12.0'
    )
    assert (await evaluate("round(pi, 3)")).endswith("is 3.142")
    for bad, why in [
        ("__import__('os')", "function '__import__' is not allowed"),
        ("[].__class__.__base__.__subclasses__()", "is not allowed"),
        ("(1).__class__", "is not arithmetic"),
        ("2 ** 10 ** 10", "result too large"),
        ("1 / 0", "division by zero"),
        ("1 +", "Invalid expression: 1 +"),
        # Would run for minutes (Python builds 10**|ndigits|), or fail to print.
        ("round(1, -99999999)", "ndigits must be within"),
        ("2 ** 49999", "result too large"),
    ]:
        err = await fails(request("maths", "eval_expression", expression=bad))
        assert err.type == "ToolInvokeError" and why in err.message, err.message


async def test_echarts() -> None:
    bar = await call(
        request("langgenius/echarts/echarts", "bar_chart", title="Q", data="1;2;3", x_axis="a;b;c")
    )
    assert bar.text.startswith("```echarts\n") and bar.text.endswith("\n```")
    option = json.loads(bar.text.removeprefix("```echarts\n").removesuffix("\n```"))
    assert option["xAxis"]["data"] == ["a", "b", "c"]
    assert option["series"] == [{"data": [1, 2, 3], "type": "bar", "smooth": True}]
    pie = await call(request("echarts", "pie_chart", title="P", data="1.5;2", categories="x;y"))
    pie_option = json.loads(pie.text.split("\n", 1)[1].rsplit("\n", 1)[0])
    assert pie_option["series"][0]["data"] == [
        {"value": 1.5, "name": "x"},
        {"value": 2.0, "name": "y"},
    ]
    err = await fails(request("echarts", "line_chart", title="L", data="1;two", x_axis="a;b"))
    assert "parameter 'data' must be numbers" in err.message


# Web scraper --------------------------------------------------------------------------------

PAGE = (
    "<html><head><title>Tide &amp; flow</title><style>p{}</style></head>"
    "<body><p>Hello</p><script>x()</script><p>World</p></body></html>"
)


def page_url(server: str, body: str, media_type: str) -> str:
    """A /bytes URL answering exactly ``body`` with ``media_type``."""
    from urllib.parse import urlencode

    query = urlencode({"size": len(body.encode()), "fill": body, "media_type": media_type})
    return f"{server}/bytes?{query}"


async def test_webscraper_reads_html_json_and_refuses_private_addresses(
    server: str, use_settings: UseSettings
) -> None:
    use_settings()  # the default: private networks refused
    err = await fails(request("webscraper", "webscraper", url=page_url(server, PAGE, "text/html")))
    assert err.type == "SSRFBlocked" and err.non_retryable
    assert "127.0.0.1 is a loopback address" in err.message
    use_settings(allow_private_network="true")
    html = await call(request("webscraper", "webscraper", url=page_url(server, PAGE, "text/html")))
    assert html.text == "TITLE: Tide & flow\nTEXT:\n\nHello\nWorld\n"
    data = await call(
        request("webscraper", "webscraper", url=page_url(server, '{"a":[1]}', "application/json"))
    )
    assert json.loads(data.text) == {"a": [1]}


async def test_webscraper_failures(server: str, private: Settings) -> None:
    err = await fails(request("webscraper", "webscraper", url=f"{server}/status/404"))
    assert err.type == "ToolInvokeError" and "status code 404" in err.message
    big = f"{server}/bytes?size={private.http_max_text_bytes + 1}&media_type=text/plain"
    err = await fails(request("webscraper", "webscraper", url=big))
    assert f"over the limit of {private.http_max_text_bytes} bytes" in err.message
    err = await fails(request("webscraper", "webscraper", url="ftp://example.com/x"))
    assert "'url' must start with http:// or https://" in err.message


# The activity's errors ----------------------------------------------------------------------


async def test_activity_errors_name_what_is_wrong() -> None:
    err = await fails(request("langgenius/feishu/feishu", "send"))
    assert err.type == "ToolNotFound" and err.non_retryable
    assert "tool node t1: tool send of provider langgenius/feishu/feishu" in err.message
    assert "(plugin langgenius/feishu) is not installed" in err.message
    err = await fails(request("time", "sundial"))
    assert err.type == "ToolNotFound"
    err = await fails(request("time", "weekday", year=2024, month=2))
    assert err.type == "ToolParameterError" and err.non_retryable
    assert err.message == "tool node t1: tool weekday: parameter 'day' is required"
    missing = request("time", "weekday", year=2024, month=2).model_copy(
        update={"unresolved": {"day": "start.d"}}
    )
    err = await fails(missing)
    assert "parameter 'day' of tool weekday: variable start.d does not exist" in err.message
    err = await fails(request("time", "weekday", year=2024, month="Feb", day=1))
    assert err.type == "ToolParameterError" and "parameter 'month' must be a number" in err.message
    app = request("a2d26654", "generateImage").model_copy(update={"provider_type": "app"})
    err = await fails(app)
    assert (
        err.type == "ToolProviderNotSupported" and "app tools are not supported yet" in err.message
    )


async def test_the_tools_own_failure_is_retried_only_within_max_attempts() -> None:
    bad = request("maths", "eval_expression", expression="1/0")
    err = await fails(bad.model_copy(update={"max_attempts": 2}))
    assert err.type == "ToolInvokeError" and not err.non_retryable
    assert err.details[-1] == {ATTEMPT_DETAIL: 1}
    err = await fails(bad.model_copy(update={"max_attempts": 1}))
    assert err.non_retryable


async def test_a_third_party_tool_runs_once_allowed(use_settings: UseSettings) -> None:
    pytest.importorskip("tideflow_example_plugin")
    try:
        clear_cache()
        use_settings()
        err = await fails(request("example", "shout", text="hi"))
        assert err.type == "ToolNotFound"  # installed, but not on TIDEFLOW_PLUGINS_ALLOW
        clear_cache()
        use_settings(plugins_allow='["tideflow-example-plugin:example"]')
        assert (await call(request("example", "shout", text="hi"))).text == "HI!"
        assert find_tool("time", "weekday") is WEEKDAY  # the built-ins stay
    finally:
        clear_cache()


def test_json_paths_are_bounded() -> None:
    """Repeated ``..`` steps multiply matches, and a far index would pad a list for ever: both
    are refused before they exhaust the worker."""
    from tideflow.plugins.tools.base import ToolError
    from tideflow.plugins.tools.jsonpath import create_path, find, parse_path

    nested: Any = {}
    for _ in range(40):
        nested = {"a": nested}
    with pytest.raises(ToolError, match="matches more than"):
        find(nested, parse_path("$..a..a..a..a..a"))
    with pytest.raises(ToolError, match="past the list's end"):
        create_path({"a": []}, parse_path("$.a[10000000]"), 1)
