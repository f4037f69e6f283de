"""Template: renders a Jinja2 template (sandboxed) over mapped variables."""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.nodes._common import check_mapped_variables, mapped_variables
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

MAX_OUTPUT_LENGTH = 400_000
_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
# Compiled templates by source. Compiling (lex, parse, codegen, ``compile()``, and the
# workflow sandbox's import hook on the generated module) was ~90 % of a template node's time;
# a compiled Template is immutable and renders deterministically, so sharing it is safe.
# This module lives outside the per-run workflow sandbox: ``interpreter.py`` imports the
# engine, and so every node module, passed through, so the cache is the worker's, across runs
# (lru_cache is thread-safe for the workflow-task threads).
TEMPLATE_CACHE_SIZE = 512


@functools.lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def compiled(template: str) -> Template:
    """The sandboxed environment's compiled ``template`` (a syntax error is not cached)."""
    return _ENV.from_string(template)


def validate(data: dict[str, Any]) -> ConfigProblems:
    """A template string and a well-formed variable mapping."""
    problems = check_mapped_variables(data)
    if not isinstance(data.get("template", ""), str):
        problems.append(("template", "must be a string"))
    return problems


def outputs(_data: dict[str, Any]) -> set[str] | None:
    """Always ``output``."""
    return {"output"}


def render_jinja(template: str, variables: dict[str, Any]) -> str:
    """Render in the sandbox; a template error or an over-long output fails the node."""
    try:
        text = compiled(template).render(**variables)
    except TemplateError as err:
        raise NodeError(str(err), "TemplateTransformError") from err
    if len(text) > MAX_OUTPUT_LENGTH:
        raise NodeError(
            f"Output length exceeds {MAX_OUTPUT_LENGTH} characters", "TemplateTransformError"
        )
    return text


async def run(ctx: NodeContext) -> NodeResult:
    """Missing variables render as None (Jinja sees them as absent values)."""
    variables = {name: ctx.pool.get(sel) for name, sel in mapped_variables(ctx.data)}
    text = render_jinja(str(ctx.data.get("template") or ""), variables)
    return NodeResult(inputs=variables, outputs={"output": text})


SPECS = [NodeSpec(type="template-transform", validate=validate, outputs=outputs)]
RUNNERS = {"template-transform": run}
