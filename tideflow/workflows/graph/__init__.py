"""Dify DSL for Tideflow: import (DSL 0.1.0-0.6.x), validate, export, compile to a plan.

    app = load_app(path_or_text)
    problems = validate_app(app, mock_external=True)
    plan = compile_plan(app)          # ExecutionPlan, content-hashed
    text = export_dsl(app)            # Dify 0.6.0 DSL YAML

Nothing here does I/O at import time; ``load_app`` reads a file only when given a path.
"""

from tideflow.workflows.graph.compile import compile_plan
from tideflow.workflows.graph.errors import DSLError, Problem
from tideflow.workflows.graph.export import export_dsl
from tideflow.workflows.graph.importer import load_app
from tideflow.workflows.graph.model import AppDocument, DocEdge, DocNode
from tideflow.workflows.graph.validate import validate_app

__all__ = [
    "AppDocument",
    "DSLError",
    "DocEdge",
    "DocNode",
    "Problem",
    "compile_plan",
    "export_dsl",
    "load_app",
    "validate_app",
]
