"""An app's DSL as the API handles it: parse, keep environment variables out of the draft
text (secrets belong encrypted in their table), validate, compile, and make a runnable plan."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tideflow.platform.api.errors import ApiError, invalid_param
from tideflow.platform.db.crud.envvars import clear_value
from tideflow.platform.db.models import App, AppEnvironmentVariable
from tideflow.platform.security import HIDDEN_VALUE
from tideflow.workflows.engine.errors import RunInputError
from tideflow.workflows.engine.inputs import validate_start_inputs
from tideflow.workflows.graph import (
    AppDocument,
    DSLError,
    Problem,
    compile_plan,
    export_dsl,
    load_app,
    validate_app,
)
from tideflow.workflows.graph.plan import EnvironmentVariable, ExecutionPlan

ENV_TYPES = ("string", "number", "secret")
EnvTriple = tuple[str, str, str]


def problem_list(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    """Problems as JSON: ``{node_id, title, field, message}``."""
    return [
        {"node_id": p.node_id, "title": p.title, "field": p.field, "message": p.message}
        for p in problems
    ]


def invalid_dsl(problems: Sequence[Problem], what: str = "the DSL") -> ApiError:
    """400 ``invalid_dsl`` listing every problem."""
    message = f"{what} has {len(problems)} problem(s): " + "; ".join(str(p) for p in problems)
    return ApiError(400, "invalid_dsl", message, problems=problem_list(problems))


def parse_dsl(source: str | dict[str, Any]) -> AppDocument:
    """Import Dify DSL text (or a parsed mapping); 400 listing the problems when refused."""
    try:
        return load_app(source)
    except DSLError as err:
        raise invalid_dsl(err.problems) from None


def split_env(doc: AppDocument) -> tuple[AppDocument, list[EnvTriple]]:
    """The document without its environment variables, and those as (name, type, value)."""
    triples: list[EnvTriple] = []
    for var in doc.environment_variables:
        value_type = str(var.get("value_type") or "string")
        if value_type not in ENV_TYPES:
            raise invalid_param(f"environment variable {var.get('name')}: type {value_type!r}")
        value = var.get("value")
        triples.append((str(var.get("name")), value_type, "" if value is None else str(value)))
    return doc.model_copy(update={"environment_variables": ()}), triples


def draft_text(doc: AppDocument) -> str:
    """What ``App.draft_dsl`` stores (no environment variables)."""
    return export_dsl(split_env(doc)[0])


def load_draft(app: App) -> AppDocument:
    """The stored draft as a document."""
    return parse_dsl(app.draft_dsl)


def with_env(
    doc: AppDocument,
    variables: Sequence[AppEnvironmentVariable],
    secret_key: str,
    *,
    secrets: str = "mask",
) -> AppDocument:
    """``doc`` with the app's variables; ``secrets`` is mask, blank or clear."""
    entries: list[dict[str, Any]] = []
    for var in variables:
        if var.value_type != "secret" or secrets == "clear":
            value: Any = clear_value(var, secret_key)
        else:
            value = HIDDEN_VALUE if secrets == "mask" else ""
        if var.value_type == "number" and value != "":
            value = float(value) if "." in str(value) else int(value)
        entries.append(
            {
                "id": var.id,
                "name": var.name,
                "value_type": var.value_type,
                "value": value,
                "description": var.description,
                "selector": ["env", var.name],
            }
        )
    return doc.model_copy(update={"environment_variables": tuple(entries)})


def draft_problems(
    doc: AppDocument, *, pinned: Sequence[str] = (), mock_external: bool = False
) -> list[Problem]:
    """Every problem that stops the draft from running."""
    return validate_app(doc, pinned=pinned, mock_external=mock_external)


def compile_checked(doc: AppDocument) -> ExecutionPlan:
    """The plan of ``doc``; 400 listing problems when it does not compile."""
    try:
        return compile_plan(doc)
    except DSLError as err:
        raise invalid_dsl(err.problems, "the draft") from None


def runnable_plan(
    plan: ExecutionPlan, variables: Sequence[AppEnvironmentVariable], secret_key: str
) -> ExecutionPlan:
    """The plan with secret environment values filled in from the table (for one run)."""
    stored = {v.name: v for v in variables}
    env: list[EnvironmentVariable] = []
    for var in plan.environment_variables:
        row = stored.get(var.name)
        if var.value_type == "secret":
            value = clear_value(row, secret_key) if row is not None else ""
            var = var.model_copy(update={"value": value})
        env.append(var)
    return plan.model_copy(update={"environment_variables": tuple(env)})


def secret_values(variables: Sequence[AppEnvironmentVariable], secret_key: str) -> tuple[str, ...]:
    """Clear values of the secrets (to mask them wherever they would show)."""
    values = (clear_value(v, secret_key) for v in variables if v.value_type == "secret")
    return tuple(v for v in values if v)


def start_variables(plan: ExecutionPlan) -> list[dict[str, Any]]:
    """The start node's input variables."""
    root = plan.nodes.get(plan.root_id)
    return list(root.data.get("variables") or []) if root is not None else []


def check_inputs(plan: ExecutionPlan, inputs: dict[str, Any]) -> None:
    """400 ``invalid_param`` naming the variable when inputs do not fit the start node."""
    try:
        validate_start_inputs(start_variables(plan), inputs)
    except RunInputError as err:
        raise invalid_param(str(err)) from None
