"""The ``maths`` provider's ``eval_expression``: arithmetic through a safe AST walker.

Dify's plugin evaluates with NumExpr; here the expression is parsed with ``ast`` and only
numbers, arithmetic operators, parentheses and a fixed set of math functions and constants are
walked. Names, attributes, calls of anything else, and oversized numbers are refused.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from tideflow.plugins.tools.base import (
    FunctionTool,
    ToolContext,
    ToolError,
    ToolParameter,
    ToolResult,
)

MAX_EXPRESSION_CHARS = 1000
# Integers beyond this many bits stop the evaluation (2**100000 is ~30,000 digits).
MAX_ROUND_DIGITS = 300
MAX_INT_BITS = 14_000  # ~4,200 digits: under Python's 4,300-digit int-to-str limit

Number = int | float
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: operator.mod,
    ast.Pow: lambda a, b: a**b,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "arcsin": math.asin,
    "arccos": math.acos,
    "arctan": math.atan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _too_big(value: Any) -> bool:
    return isinstance(value, int) and value.bit_length() > MAX_INT_BITS


def _binary(op: ast.operator, left: Number, right: Number) -> Number:
    kind = type(op)
    if kind not in _BINARY:
        raise ToolError(f"operator {kind.__name__} is not allowed")
    if isinstance(left, int) and isinstance(right, int):
        # Check before computing: the result itself could take minutes and gigabytes.
        if kind is ast.Pow and right > 0 and left.bit_length() * right > MAX_INT_BITS:
            raise ToolError("result too large")
        if kind is ast.Mult and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise ToolError("result too large")
    return _BINARY[kind](left, right)


def _call(node: ast.Call, walk: Callable[[ast.AST], Number]) -> Number:
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
        shown = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        raise ToolError(f"function {shown!r} is not allowed")
    args = [walk(arg) for arg in node.args]
    if node.func.id == "round" and len(args) > 1 and abs(args[1]) > MAX_ROUND_DIGITS:
        # round(x, -10**8) takes minutes: Python builds 10**|ndigits| first.
        raise ToolError(f"round: ndigits must be within ±{MAX_ROUND_DIGITS}")
    return _FUNCTIONS[node.func.id](*args)


def _walk(node: ast.AST) -> Number:
    if isinstance(node, ast.Expression):
        return _walk(node.body)
    constant: Any = node.value if isinstance(node, ast.Constant) else None
    if type(constant) in (int, float):  # not bool, complex or str
        value: Number = constant
    elif isinstance(node, ast.Name) and node.id in _CONSTANTS:
        value = _CONSTANTS[node.id]
    elif isinstance(node, ast.BinOp):
        value = _binary(node.op, _walk(node.left), _walk(node.right))
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        value = _UNARY[type(node.op)](_walk(node.operand))
    elif isinstance(node, ast.Call):
        value = _call(node, _walk)
    else:
        raise ToolError(f"{ast.unparse(node)!r} is not arithmetic")
    if _too_big(value):
        raise ToolError("result too large")
    return value


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression; raises ToolError saying what is wrong.

    ``^`` is read as a power, what people (and models) writing maths mean by it; NumExpr
    would read it as a bitwise XOR."""
    text = expression.strip()
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text.replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"Invalid expression: {text}, error: {exc.msg}") from None
    try:
        return _walk(tree)
    except ToolError as exc:
        raise ToolError(f"Invalid expression: {text}, error: {exc}") from None
    except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
        raise ToolError(f"Invalid expression: {text}, error: {exc}") from None


async def _eval_expression(params: dict[str, Any], _context: ToolContext) -> ToolResult:
    expression = params["expression"].strip()
    result = evaluate(expression)
    return ToolResult(text=f'The result of the expression "{expression}" is {result}')


EVAL_EXPRESSION = FunctionTool(
    "eval_expression",
    "Evaluate Math Expression",
    "A tool for evaluating a math expression.",
    [ToolParameter("expression", "string", required=True, description="math expression")],
    _eval_expression,
)
