"""Variable pool selectors and {{#...#}} templates."""

from __future__ import annotations

from tideflow.workflows.engine.pool import VariablePool
from tideflow.workflows.engine.template import render_template, template_selectors


def _pool() -> VariablePool:
    pool = VariablePool()
    pool.set("sys", "query", "hi")
    pool.set("n1", "obj", {"a": {"b": 2}, "name": "x"})
    pool.set("n1", "items", ["a", "b"])
    pool.set(
        "n1", "file", {"transfer_method": "remote_url", "extension": "pdf", "type": "document"}
    )
    pool.set("n1", "flag", True)
    return pool


def test_selectors_walk_objects_and_file_attributes() -> None:
    pool = _pool()
    assert pool.get(["n1", "obj", "a", "b"]) == 2
    assert pool.get(["n1", "file", "extension"]) == ".pdf"
    assert pool.find(["n1", "obj", "zzz"]) == (False, None)
    assert pool.find(["n1"]) == (False, None)


def test_render_unresolved_is_bare_path() -> None:
    pool = _pool()
    assert render_template("x{{#sys.query#}}y{{#n1.nope#}}", pool) == "xhiyn1.nope"
    assert render_template("{{#n1.obj.a.b#}} {{#n1.flag#}}", pool) == "2 true"
    assert template_selectors("{{#a.b.c#}} {{#sys.query#}}") == [["a", "b", "c"], ["sys", "query"]]


def test_markdown_form() -> None:
    pool = _pool()
    assert render_template("{{#n1.items#}}", pool, markdown=True) == "- a\n- b"
    assert render_template("{{#n1.obj#}}", pool, markdown=False) == '{"a": {"b": 2}, "name": "x"}'
    assert render_template("{{#n1.obj.a#}}", pool, markdown=True) == '{\n  "b": 2\n}'


def test_frames_read_through_and_assign_to_owner() -> None:
    root = _pool()
    root.set("conversation", "c", "old", "string")
    child = root.child()
    child.set("it", "item", 1)
    assert child.get(["sys", "query"]) == "hi"
    assert root.find(["it", "item"]) == (False, None)
    assert child.assign(["conversation", "c"], "new")
    assert root.get(["conversation", "c"]) == "new"
    assert root.value_type(["conversation", "c"]) == "string"
    assert not child.assign(["nope", "x"], 1)
