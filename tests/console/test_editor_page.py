"""The Editor page in Chromium: a Dify app's draft on the canvas; select a node and edit its
form, save (the draft changes), see a broken reference marked on its node, fix it, publish,
move, add, connect and delete nodes, and restore a version. Also, without a browser: every
node form of every Dify fixture (and of each added node's defaults) draws without changing the
graph, and editing one field of a form changes just that field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from playwright.sync_api import expect
from streamlit.testing.v1 import AppTest

from tests.conftest import SHARED_DIR
from tests.console.conftest import ARTIFACTS, Stack, open_page, wait_idle

FIXTURES = SHARED_DIR / "conformance" / "dify-fixtures"
PASSTHROUGH = FIXTURES / "simple_passthrough_workflow.yml"
ITERATION = FIXTURES / "iteration_contains_answer.yml"
START, END = "1754154032319", "1754154034161"


def canvas(page: Any) -> Any:
    """The streamlit-flow canvas (a component iframe)."""
    return page.frame_locator('iframe[title="streamlit_flow.streamlit_flow"]').first


def flow_node(page: Any, node_id: str) -> Any:
    return canvas(page).locator(f'.react-flow__node[data-id="{node_id}"]')


def select_node(page: Any, node_id: str, title: str) -> None:
    """Click a node on the canvas and wait for its form."""
    flow_node(page, node_id).click()
    wait_idle(page)
    page.get_by_text(f"id {node_id}").wait_for()
    expect(page.get_by_label("Title")).to_have_count(1)  # the last node's form is gone
    expect(page.get_by_label("Title")).to_have_value(title)


def fill(page: Any, label: str, value: str, nth: int = 0) -> None:
    """Type into a Streamlit text input and commit it (Enter), then wait for the rerun."""
    box = page.get_by_label(label, exact=True).nth(nth)
    box.fill(value)
    box.press("Enter")
    wait_idle(page)


def draft(stack: Stack, app_id: str) -> dict[str, Any]:
    return stack.call("GET", f"/console/api/apps/{app_id}/workflows/draft")


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"editor_{name}.png"), full_page=True)


def test_edit_save_problem_publish_restore(page: Any, stack: Stack) -> None:
    imported = stack.call(
        "POST", "/console/api/apps/imports", json={"yaml_content": PASSTHROUGH.read_text()}
    )
    app_id = imported["app_id"]
    open_page(page, "Editor")
    flow_node(page, END).wait_for()
    assert "End" in flow_node(page, END).inner_text()
    shot(page, "opened")

    # Select the End node on the canvas and rename its output.
    select_node(page, END, "End")
    fill(page, "Output", "echoed")
    page.get_by_role("button", name="Save draft").click()
    wait_idle(page)
    page.get_by_text("Draft saved.").wait_for()
    [output] = draft(stack, app_id)["graph"]["nodes"][1]["data"]["outputs"]
    assert output["variable"] == "echoed" and output["value_selector"] == [START, "query"]

    # A broken edit: rename the start variable the End node reads.
    select_node(page, START, "Start")
    fill(page, "Variable", "question")
    page.get_by_role("button", name="Save draft").click()
    wait_idle(page)
    page.get_by_text("Draft saved with 1 problem(s)").wait_for()
    problem = page.get_by_text("has no output 'query'")
    problem.wait_for()
    assert (
        "End"
        in page.get_by_test_id("stMarkdownContainer").filter(has_text="has no output").inner_text()
    )
    canvas(page).get_by_text("⚠").wait_for()
    assert "⚠" in flow_node(page, END).inner_text()
    shot(page, "problem")
    page.get_by_role("button", name="Publish").click()
    page.get_by_text("Publish: the draft has 1 problem(s)").wait_for()
    assert stack.call("GET", f"/console/api/apps/{app_id}/workflows")["data"] == []

    # Fix it by picking the renamed variable, then publish.
    select_node(page, END, "End")
    page.get_by_label("Value").first.click()
    page.get_by_role("option", name="Start · question").click()
    wait_idle(page)
    page.get_by_role("button", name="Publish").click()
    wait_idle(page)
    page.get_by_text("Published version 1.").wait_for()
    page.get_by_text("Version 1", exact=True).wait_for()
    expect(canvas(page).get_by_text("⚠")).to_have_count(0)
    [output] = draft(stack, app_id)["graph"]["nodes"][1]["data"]["outputs"]
    assert output["value_selector"] == [START, "question"]
    versions = stack.call("GET", f"/console/api/apps/{app_id}/workflows")["data"]
    assert [v["version"] for v in versions] == [1]
    shot(page, "published")

    # Move End down on the canvas: the position is saved.
    before = _position(draft(stack, app_id), END)
    _drag(page, flow_node(page, END), flow_node(page, END), dy=80)
    after = _position(save_and_fetch(page, stack, app_id), END)
    assert after["y"] > before["y"] and after["x"] == before["x"]

    # Add a template node after Start, connect it to End by dragging on the canvas, save.
    select_node(page, START, "Start")
    page.get_by_label("Node type").click()
    page.get_by_role("option", name="Template").click()
    wait_idle(page)
    page.get_by_role("button", name="Add node").click()
    wait_idle(page)
    canvas(page).get_by_text("Template").first.wait_for()
    graph = save_and_fetch(page, stack, app_id)
    [template] = [n for n in graph["nodes"] if n["data"]["type"] == "template-transform"]
    assert _pairs(graph) == {(START, END), (START, template["id"])}
    canvas(page).locator(".react-flow__controls-fitview").click()
    handle = ".react-flow__handle"
    _drag(
        page,
        flow_node(page, template["id"]).locator(f"{handle}.source"),
        flow_node(page, END).locator(f"{handle}.target"),
    )
    graph = save_and_fetch(page, stack, app_id)
    assert _pairs(graph) == {(START, END), (START, template["id"]), (template["id"], END)}
    shot(page, "connected")

    # Delete it (its edges go too); Reload draft brings the saved one back.
    select_node(page, template["id"], "Template")
    page.get_by_role("button", name="Delete node").click()
    expect(flow_node(page, template["id"])).to_have_count(0)
    expect(page.get_by_text("Unsaved changes")).to_be_visible()
    page.get_by_role("button", name="Reload draft").click()
    flow_node(page, template["id"]).wait_for()

    # Restore version 1: the template node is gone again.
    page.get_by_role("button", name="Restore").click()
    page.get_by_text("Restored version 1 into the draft.").wait_for()
    expect(flow_node(page, template["id"])).to_have_count(0)
    restored = draft(stack, app_id)["graph"]
    assert [n["data"]["type"] for n in restored["nodes"]] == ["start", "end"]
    assert _pairs(restored) == {(START, END)}


def test_chatflow_iteration_and_variable_insert(page: Any, stack: Stack) -> None:
    imported = stack.call(
        "POST", "/console/api/apps/imports", json={"yaml_content": ITERATION.read_text()}
    )
    app_id = imported["app_id"]
    open_page(page, "Editor")
    page.get_by_role("combobox", name="App").click()
    page.get_by_role("option", name="iteration_contains_answer (advanced-chat)").click()
    wait_idle(page)
    inner, box = flow_node(page, "answer_in_iteration"), flow_node(page, "iteration_node")
    inner.wait_for()
    outer, child = box.bounding_box(), inner.bounding_box()
    assert outer["x"] < child["x"] and child["x"] + child["width"] <= outer["x"] + outer["width"]
    assert outer["y"] < child["y"] < outer["y"] + outer["height"]

    # The inner answer reads the iteration's item; insert its index too.
    select_node(page, "answer_in_iteration", "Answer In Iteration")
    text = page.get_by_label("Answer text")
    expect(text).to_have_value("{{#iteration_node.item#}}\n")
    page.get_by_label("Insert variable").click()
    options = page.get_by_role("option").all_inner_texts()
    assert any("Iteration · index" in o for o in options), options
    assert any("System · query" in o for o in options), options
    assert not any("Final Answer" in o for o in options), options  # downstream: not readable
    page.get_by_role("option", name="Iteration · index").click()
    page.get_by_role("button", name="Insert").click()
    wait_idle(page)
    expect(page.get_by_label("Answer text")).to_have_value(
        "{{#iteration_node.item#}}\n{{#iteration_node.index#}}"
    )
    graph = save_and_fetch(page, stack, app_id)
    [answer] = [n for n in graph["nodes"] if n["id"] == "answer_in_iteration"]
    assert answer["data"]["answer"].endswith("{{#iteration_node.index#}}")
    assert answer["parentId"] == "iteration_node"
    shot(page, "iteration")


def test_copies_of_one_dsl_keep_their_own_forms(page: Any, stack: Stack) -> None:
    """Two apps share node ids: a value typed into one's form stays out of the other's graph,
    and the node picker names each node by title and id."""
    first, second = (
        stack.call("POST", "/console/api/apps/imports", json={"yaml_content": text})["app_id"]
        for text in (PASSTHROUGH.read_text(), PASSTHROUGH.read_text())
    )
    open_page(page, "Editor")

    def switch_to(app_id: str) -> None:
        page.get_by_role("combobox", name="App").click()
        page.get_by_role("option", name=re.compile(app_id[:8])).click()
        wait_idle(page)
        flow_node(page, END).wait_for()

    switch_to(second)
    select_node(page, END, "End")
    original = page.get_by_label("Output", exact=True).input_value()
    switch_to(first)
    select_node(page, END, "End")
    page.get_by_role("combobox", name="Node", exact=True).click()
    choices = page.get_by_role("option").all_inner_texts()
    assert choices == [f"Start · {START}", f"End · {END}"], choices  # titles repeat: ids
    page.keyboard.press("Escape")
    fill(page, "Output", "only-in-first")
    expect(page.get_by_text("Unsaved changes")).to_be_visible()

    switch_to(second)  # its End node is still selected: its form shows at once
    expect(page.get_by_label("Output", exact=True)).to_have_value(original)
    expect(page.get_by_text("Draft saved", exact=True)).to_be_visible()
    shot(page, "second_copy")
    switch_to(first)
    expect(page.get_by_label("Output", exact=True)).to_have_value("only-in-first")
    [output] = save_and_fetch(page, stack, first)["nodes"][1]["data"]["outputs"]
    assert output["variable"] == "only-in-first"
    [output] = draft(stack, second)["graph"]["nodes"][1]["data"]["outputs"]
    assert output["variable"] == original


def save_and_fetch(page: Any, stack: Stack, app_id: str) -> dict[str, Any]:
    """Save the changed draft from the page; the saved graph."""
    expect(page.get_by_text("Unsaved changes")).to_be_visible()
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved", exact=True)).to_be_visible()
    wait_idle(page)
    return draft(stack, app_id)["graph"]


def _pairs(graph: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["source"], e["target"]) for e in graph["edges"]}


def _position(graph_or_draft: dict[str, Any], node_id: str) -> dict[str, float]:
    graph = graph_or_draft.get("graph", graph_or_draft)
    return next(n["position"] for n in graph["nodes"] if n["id"] == node_id)


def _drag(page: Any, source: Any, target: Any, dy: float = 0) -> None:
    """Press on ``source``, move to ``target`` (``dy`` pixels lower) and release."""
    start, end = source.bounding_box(), target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    x, y = end["x"] + end["width"] / 2, end["y"] + end["height"] / 2 + dy
    page.mouse.move(x, y, steps=10)
    page.mouse.up()
    wait_idle(page)


def _draw_every_form(graphs_file: str) -> None:
    """An AppTest script: each node's form, then the canvas view, for each graph."""
    import copy
    import json
    from pathlib import Path

    import streamlit as st

    from tideflow.console.graph_canvas import flow_state, flow_view
    from tideflow.console.node_forms import NodeForm, render_form
    from tideflow.console.variables import nodes_by_id, readable

    for name, (graph, mode) in json.loads(Path(graphs_file).read_text()).items():
        before = copy.deepcopy(graph)
        for node_id, node in nodes_by_id(graph).items():
            variables = readable(graph, node_id, mode, [], [])
            render_form(NodeForm(graph, node, variables, f"{name}:{node_id}"))
        if graph != before:
            st.markdown(f"CHANGED {name}")
        flow_state(flow_view(graph, []), None, 1)


def test_forms_draw_every_fixture_without_changing_it(tmp_path: Path) -> None:
    from tideflow.platform.drafts import parse_dsl
    from tideflow.workflows.graph.export import workflow_mapping

    graphs: dict[str, Any] = {}
    for fixture in sorted(FIXTURES.glob("*.yml")):
        source = yaml.safe_load(fixture.read_text())
        if isinstance(source, dict) and source.get("kind") == "app" and "workflow" in source:
            doc = parse_dsl(source)  # the shape GET .../workflows/draft answers with
            graphs[fixture.name] = (workflow_mapping(doc)["graph"], doc.mode)
    assert len(graphs) > 20
    graphs_file = tmp_path / "graphs.json"
    graphs_file.write_text(json.dumps(graphs))
    app = AppTest.from_function(_draw_every_form, args=(str(graphs_file),), default_timeout=120)
    app.run()
    assert [e.value for e in app.exception] == []
    assert [e.value for e in app.error] == []
    assert [m.value for m in app.markdown if m.value.startswith("CHANGED")] == []
    # the tool and variable aggregator fixtures drew their own forms, not the JSON editor
    parameters = {t.value for t in app.text_input if t.label == "Parameter"}
    assert {"json_string", "query"} <= parameters
    assert {"Group1", "Group2"} <= {t.value for t in app.text_input if t.label == "Group"}


def test_forms_draw_the_human_input_and_trigger_defaults(tmp_path: Path) -> None:
    from tideflow.console.graph_canvas import add_node

    graphs: dict[str, Any] = {}
    steps = ("human-input", "question-classifier", "knowledge-retrieval")
    steps += ("variable-aggregator", "tool", "parameter-extractor")
    for root, step in (
        *(("start", step) for step in steps),
        ("trigger-webhook", None),
        ("trigger-schedule", None),
    ):
        graph: dict[str, Any] = {"nodes": [], "edges": []}
        last = add_node(graph, root, None)
        if step:
            last = add_node(graph, step, last)
        add_node(graph, "end", last)
        graphs[f"{root}-{step}"] = (graph, "workflow")
    graphs_file = tmp_path / "graphs.json"
    graphs_file.write_text(json.dumps(graphs))
    app = AppTest.from_function(_draw_every_form, args=(str(graphs_file),), default_timeout=60)
    app.run()
    assert [e.value for e in app.exception] == []
    assert [e.value for e in app.error] == []
    assert [m.value for m in app.markdown if m.value.startswith("CHANGED")] == []
    titles = [t.value for t in app.text_input if t.label == "Title"]
    assert {"Human input", "Webhook trigger", "Schedule trigger"} <= set(titles)
    assert {"Question classifier", "Tool", "Parameter extractor"} <= set(titles)
    assert [t.value for t in app.text_input if t.label == "Class name"] == ["", ""]
    assert [t.value for t in app.text_input if t.label == "Action title"] == ["Approve", "Reject"]


def _classifier_and_human_input() -> None:
    """An AppTest script: the forms of a question classifier and a human-input node."""
    import streamlit as st

    from tideflow.console.graph_canvas import add_node
    from tideflow.console.node_forms import NodeForm, render_form
    from tideflow.console.variables import nodes_by_id, readable

    if "graph" not in st.session_state:
        graph: dict[str, Any] = {"nodes": [], "edges": []}
        start = add_node(graph, "start", None)
        add_node(graph, "human-input", add_node(graph, "question-classifier", start))
        st.session_state["graph"] = graph
    graph = st.session_state["graph"]
    for node_id, node in nodes_by_id(graph).items():
        if node["data"]["type"] in ("question-classifier", "human-input"):
            variables = readable(graph, node_id, "workflow", [], [])
            render_form(NodeForm(graph, node, variables, node["data"]["type"]))


def test_editing_a_class_name_and_an_action_title_changes_only_them() -> None:
    import copy

    app = AppTest.from_function(_classifier_and_human_input, default_timeout=30)
    app.run()
    assert [e.value for e in app.exception] == []
    before = copy.deepcopy(app.session_state["graph"])
    classifier, human = (
        next(n for n in before["nodes"] if n["data"]["type"] == kind)
        for kind in ("question-classifier", "human-input")
    )

    app.text_input(key="question-classifier:classes1:name").input("Refund").run()
    classifier["data"]["classes"][1]["name"] = "Refund"
    assert app.session_state["graph"] == before

    app.text_input(key="human-input:user_actions0:title").input("Looks good").run()
    human["data"]["user_actions"][0]["title"] = "Looks good"
    assert app.session_state["graph"] == before
    assert [e.value for e in app.exception] == []
    assert [e.value for e in app.error] == []


def _connect_from_classifier() -> None:
    """An AppTest script: the Next nodes section of a question classifier without classes."""
    import streamlit as st

    from tideflow.console.node_fields import edges_section

    sort = {"id": "qc", "data": {"type": "question-classifier", "title": "Sort", "classes": []}}
    end = {"id": "end", "data": {"type": "end", "title": "End"}}
    graph = st.session_state.setdefault("graph", {"nodes": [sort, end], "edges": []})
    queued: list[Any] = []
    edges_section(graph, graph["nodes"][0], "qc-form", queued.append)
    for change in queued:
        change()


def test_connect_from_a_classifier_without_classes_says_why() -> None:
    app = AppTest.from_function(_connect_from_classifier, default_timeout=30)
    app.run()
    picker = app.selectbox(key="qc-form:connect")
    assert picker.options == ["End · end"]  # titles repeat: the label carries the id
    picker.select("end").run()
    app.button(key="qc-form:connect-go").click().run()
    assert [e.value for e in app.exception] == []
    assert [e.value for e in app.error] == [
        "Sort: Connect needs a branch: classes is empty, add a class first"
    ]
    assert app.session_state["graph"]["edges"] == []
