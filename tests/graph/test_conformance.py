"""Every Dify fixture and real export in the conformance corpus imports and compiles, or is
refused with a message that names why. Runs against the real NodeSpec registry."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import pytest

from tideflow.workflows.graph import DSLError, compile_plan, export_dsl, load_app, validate_app

SHARED = Path(__file__).resolve().parents[3] / "shared"
CORPUS = sorted(
    [
        *(SHARED / "conformance" / "dify-fixtures").glob("*.yml"),
        *(SHARED / "conformance" / "real-dsl").glob("*.yml"),
    ]
)
# A refusal must say what is wrong in the user's terms.
_REASONS = (
    "unknown node type",
    "not implemented",
    "does not exist",
    "does not run before",
    "has no output",
    "not a Dify",
    "missing app section",
    "not supported yet",
)


@pytest.mark.skipif(not CORPUS, reason="conformance corpus not found beside the repo")
def test_whole_corpus_imports_compiles_or_is_refused_with_a_reason() -> None:
    outcomes: Counter[str] = Counter()
    for path in CORPUS:
        try:
            app = load_app(path)
        except DSLError as exc:
            assert any(r in str(exc) for r in _REASONS), f"{path.name}: {exc}"
            outcomes["refused at import"] += 1
            continue
        problems = validate_app(app, mock_external=True)
        for problem in problems:
            assert any(r in problem.message for r in _REASONS), f"{path.name}: {problem}"
        if problems:
            outcomes["refused by validation (mock_external)"] += 1
            with pytest.raises(DSLError):
                compile_plan(app)
            continue
        plan = compile_plan(app)
        again = compile_plan(load_app(export_dsl(app)))
        assert again.content_hash() == plan.content_hash(), path.name
        outcomes["valid, compiled, round-tripped"] += 1
    print(f"\nconformance corpus: {len(CORPUS)} files: {dict(outcomes)}")
    assert outcomes["valid, compiled, round-tripped"] >= len(CORPUS) - 5


def test_the_odd_fixtures_are_handled_as_dify_would() -> None:
    fixtures = SHARED / "conformance" / "dify-fixtures"
    with pytest.raises(DSLError, match="not a Dify graph export"):
        load_app(fixtures / "minimal_not_an_app.yml")
    app = load_app(fixtures / "minimal_non_uuid_conversation_variable.yml")
    # Imported under the name-derived uuid5 Dify stores such a variable under.
    key = "dify:conversation-variable:optimization_comparison_prompt"
    assert app.conversation_variables[0]["id"] == str(uuid.uuid5(uuid.NAMESPACE_URL, key))
    # Its answer reads a node on a parallel branch: valid, as in Dify (absent if not run).
    assert validate_app(app) == []
