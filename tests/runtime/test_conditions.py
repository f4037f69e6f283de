"""The condition evaluator: every operator, and/or, files, missing variables."""

from __future__ import annotations

from typing import Any

import pytest

from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.engine.pool import VariablePool
from tideflow.workflows.nodes.conditions import compare, evaluate_condition, evaluate_group


@pytest.mark.parametrize(
    ("op", "actual", "expected", "result"),
    [
        ("contains", "hello world", "hello", True),
        ("contains", "", "hello", False),
        ("contains", ["a", "b"], "b", True),
        ("not contains", None, "x", True),
        ("not contains", "abc", "b", False),
        ("start with", "hello", "he", True),
        ("start with", 5, "5", False),
        ("end with", "hello", "lo", True),
        ("is", "a", "a", True),
        ("is", None, "a", False),
        ("is", True, "true", True),
        ("is not", "a", "b", True),
        ("is not", None, "b", False),
        ("empty", "", None, True),
        ("empty", [], None, True),
        ("not empty", [1], None, True),
        ("=", 1, "1", True),
        ("≠", 1, "2", True),
        (">", 3, "2", True),
        ("<", 3, "2", False),
        ("≥", 5, "5", True),
        ("≤", 4.5, "5", True),
        (">", None, "1", False),
        ("null", None, None, True),
        ("not null", 0, None, True),
        ("in", "a", ["a", "b"], True),
        ("not in", "c", ["a", "b"], True),
        ("all of", ["a", "b", "c"], ["a", "c"], True),
        ("all of", ["a"], ["a", "c"], False),
        ("exists", {"id": 1}, None, True),
        ("not exists", None, None, True),
        (">=", 2, "1", True),
    ],
)
def test_compare(op: str, actual: Any, expected: Any, result: bool) -> None:
    assert compare(op, actual, expected) is result


def _pool() -> VariablePool:
    pool = VariablePool()
    pool.set("n", "q", "hello")
    pool.set("n", "want", "hel")
    pool.set(
        "n",
        "files",
        [
            {"type": "image", "extension": "png", "transfer_method": "local_file", "size": 5},
            {"type": "document", "extension": ".pdf", "transfer_method": "remote_url", "size": 9},
        ],
    )
    return pool


def test_expected_value_is_a_template() -> None:
    cond = {
        "variable_selector": ["n", "q"],
        "comparison_operator": "start with",
        "value": "{{#n.want#}}",
    }
    assert evaluate_condition(cond, _pool())[0] is True


def test_missing_variable_fails_but_null_checks_do_not() -> None:
    with pytest.raises(NodeError):
        evaluate_condition(
            {"variable_selector": ["n", "x"], "comparison_operator": "is", "value": "a"}, _pool()
        )
    cond = {"variable_selector": ["n", "x"], "comparison_operator": "empty"}
    assert evaluate_condition(cond, _pool())[0] is True


def test_file_sub_conditions() -> None:
    def cond(op: str, key: str, sub_op: str, value: Any) -> dict[str, Any]:
        return {
            "variable_selector": ["n", "files"],
            "comparison_operator": op,
            "sub_variable_condition": {
                "logical_operator": "and",
                "conditions": [{"key": key, "comparison_operator": sub_op, "value": value}],
            },
        }

    pool = _pool()
    assert evaluate_condition(cond("contains", "extension", "is", "pdf"), pool)[0] is True
    assert evaluate_condition(cond("contains", "extension", "is", ".png"), pool)[0] is True
    assert evaluate_condition(cond("contains", "type", "in", ["audio"]), pool)[0] is False
    assert evaluate_condition(cond("not contains", "type", "in", ["audio"]), pool)[0] is True
    assert evaluate_condition(cond("contains", "size", ">", "8"), pool)[0] is True
    # a "not" sub-operator must hold for every file
    assert evaluate_condition(cond("contains", "type", "is not", "image"), pool)[0] is False


def test_and_or_stop_early() -> None:
    pool = _pool()
    yes = {"variable_selector": ["n", "q"], "comparison_operator": "contains", "value": "ell"}
    no = {"variable_selector": ["n", "q"], "comparison_operator": "is", "value": "nope"}
    missing = {"variable_selector": ["n", "missing"], "comparison_operator": "is", "value": "x"}
    final, results, _ = evaluate_group([no, missing], "and", pool)
    assert (final, results) == (False, [False])
    final, results, _ = evaluate_group([yes, missing], "or", pool)
    assert (final, results) == (True, [True])
    assert evaluate_group([no, yes], "or", pool)[0] is True
