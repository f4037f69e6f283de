"""Template: renders a Jinja2 template (sandboxed) over mapped variables."""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Sized
from typing import Any, cast

from jinja2 import Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from tideflow.workflows.engine.context import NodeContext, NodeResult
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.nodes._common import check_mapped_variables, mapped_variables
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec

MAX_OUTPUT_LENGTH = 400_000
# Work one render may do, counted in range() items and calls. Templates render inside the
# workflow task: a runaway loop must fail the node, not stall the task until Temporal's
# deadlock detector retries it forever. Counting steps (not time) keeps replay deterministic.
MAX_RENDER_STEPS = 300_000
MAX_EXPONENT = 1_000
_steps: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_steps")


class RenderBudgetExceeded(TemplateError):
    """The template did more work than one node may (a runaway loop or a huge value)."""


def _charge(steps: int) -> None:
    spent = _steps.get()
    spent[0] += steps
    if spent[0] > MAX_RENDER_STEPS:
        raise RenderBudgetExceeded(f"the template exceeded {MAX_RENDER_STEPS} loop steps and calls")


def _budgeted_range(*args: int) -> range:
    items = range(*args)
    _charge(len(items))
    return items


class BudgetedEnvironment(SandboxedEnvironment):
    """Jinja's sandbox plus a step budget, bounded repetition and bounded powers."""

    intercepted_binops = frozenset({"*", "**"})

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _charge(1)
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise RenderBudgetExceeded(f"exponents are limited to {MAX_EXPONENT}")
        if operator == "*":
            size = _repeated_size(left, right)
            if size > MAX_OUTPUT_LENGTH:
                raise RenderBudgetExceeded(
                    f"a repeated value would hold {size} items (limit {MAX_OUTPUT_LENGTH})"
                )
        return super().call_binop(context, operator, left, right)


def _repeated_size(left: Any, right: Any) -> int:
    """How long ``left * right`` would be when it repeats a string or list (else 0)."""
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            return len(cast(Sized, seq)) * times
    return 0


_ENV = BudgetedEnvironment(autoescape=False, keep_trailing_newline=True)
_ENV.globals["range"] = _budgeted_range  # pyright: ignore[reportUnknownMemberType]
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
    token = _steps.set([0])
    parts: list[str] = []
    length = 0
    try:
        # Streamed, so an over-long output stops as soon as it passes the limit.
        for part in compiled(template).generate(**variables):
            length += len(part)
            if length > MAX_OUTPUT_LENGTH:
                raise NodeError(
                    f"Output length exceeds {MAX_OUTPUT_LENGTH} characters",
                    "TemplateTransformError",
                )
            parts.append(part)
    except TemplateError as err:
        raise NodeError(str(err), "TemplateTransformError") from err
    finally:
        _steps.reset(token)
    return "".join(parts)


async def run(ctx: NodeContext) -> NodeResult:
    """Missing variables render as None (Jinja sees them as absent values)."""
    variables = {name: ctx.pool.get(sel) for name, sel in mapped_variables(ctx.data)}
    text = render_jinja(str(ctx.data.get("template") or ""), variables)
    return NodeResult(inputs=variables, outputs={"output": text})


SPECS = [NodeSpec(type="template-transform", validate=validate, outputs=outputs)]
RUNNERS = {"template-transform": run}
