"""``tideflow validate FILE`` and ``tideflow run FILE ...``."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tideflow.platform.settings import Settings
from tideflow.preflight import SettingError, check_temporal_reachable

if TYPE_CHECKING:
    from tideflow.workflows.graph.errors import Problem
    from tideflow.workflows.graph.plan import ExecutionPlan

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class UsageError(SettingError):
    """A command-line argument that cannot work (reported like a bad setting: exit 2)."""


def add_validate_args(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tideflow validate``."""
    parser.add_argument("file", type=Path, help="Dify DSL YAML (or a bare {nodes, edges} graph)")
    parser.add_argument("--mock-external", action="store_true", help="as with `run`")


def add_run_args(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tideflow run``."""
    parser.add_argument("file", type=Path, help="Dify DSL YAML (or a bare {nodes, edges} graph)")
    parser.add_argument("--inputs", default="{}", help="start inputs: a JSON object or @file.json")
    parser.add_argument("--query", help="the user's message (chatflows: sys.query)")
    parser.add_argument(
        "--pin",
        action="append",
        default=[],
        metavar="NODE_ID=JSON",
        help='use these outputs instead of running the node; {"__error__": "msg"} fails it',
    )
    parser.add_argument(
        "--mock-external",
        action="store_true",
        help="pin every node that reaches outside (llm, tool, http, ...) with placeholders",
    )
    parser.add_argument(
        "--fill-inputs",
        action="store_true",
        help="fill missing required start inputs with type-correct placeholders",
    )


def _json_object(text: str, what: str) -> dict[str, Any]:
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise UsageError(f"{what}: no such file {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"{what}: {path} is not UTF-8 text ({exc.reason})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise UsageError(f"{what}: must be a JSON object")
    return dict(value)  # pyright: ignore[reportUnknownArgumentType]


def parse_pins(pins: list[str]) -> dict[str, dict[str, Any]]:
    """``NODE_ID=JSON`` pairs to a pins mapping."""
    parsed: dict[str, dict[str, Any]] = {}
    for pin in pins:
        node_id, sep, payload = pin.partition("=")
        if not sep or not node_id:
            raise UsageError(f"--pin {pin!r}: expected NODE_ID=JSON")
        parsed[node_id] = _json_object(payload, f"--pin {node_id}")
    return parsed


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise UsageError(f"FILE: no such file {path}")


def validate_command(_settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when valid; otherwise one problem per line and exit 2."""
    from tideflow.local_run import check_app

    _require_file(args.file)
    plan, problems = check_app(args.file, mock_external=args.mock_external)
    if plan is None:
        for problem in problems:
            print(problem)
        return EXIT_INVALID
    print(f"valid: {len(plan.nodes)} nodes, plan {plan.content_hash()[:12]}")
    return EXIT_OK


def _unpinned_human_input(plan: ExecutionPlan, pins: dict[str, Any]) -> list[Problem]:
    """A human-input node waits for a person's submission, which a one-off local run cannot
    take (serve the app with ``tideflow up`` for that): pin it with the action to take."""
    from tideflow.workflows.graph.errors import Problem
    from tideflow.workflows.nodes._common import as_dict, as_list

    problems: list[Problem] = []
    for node in plan.nodes.values():
        if node.type != "human-input" or node.id in pins:
            continue
        actions = [
            str(action["id"])
            for action in map(as_dict, as_list(node.data.get("user_actions")))
            if action.get("id")
        ]
        example = json.dumps({"__action_id": actions[0] if actions else "approve"})
        message = (
            "a human-input node waits for a person's submission, which `tideflow run` cannot "
            f"take; pin it: --pin {node.id}='{example}' (or serve the app with `tideflow up`)"
        )
        problems.append(Problem(node.id, "type", message, node.title))
    return problems


def run_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run the file once and print the result as JSON."""
    from tideflow.local_run import check_app, fill_inputs, run_once
    from tideflow.workflows.engine.models import GraphRunInput

    _require_file(args.file)
    check_temporal_reachable(settings)
    inputs = _json_object(args.inputs, "--inputs")
    pins = parse_pins(args.pin)
    plan, problems = check_app(args.file, pinned=tuple(pins), mock_external=args.mock_external)
    if plan is None:
        for problem in problems:
            print(problem)
        return EXIT_INVALID
    unknown = sorted(set(pins) - set(plan.nodes))
    if unknown:
        raise UsageError(f"--pin {unknown[0]}: no node with this id in {args.file}")
    waiting = _unpinned_human_input(plan, pins)
    if waiting:
        for problem in waiting:
            print(problem)
        return EXIT_INVALID
    if args.fill_inputs:
        inputs = fill_inputs(plan, inputs, settings)
    run_input = GraphRunInput(
        plan=plan,
        inputs=inputs,
        query=args.query,
        pins=pins,
        mock_external=args.mock_external,
        user="cli",
    )
    from tideflow.platform.telemetry import RUN_SERVICE, configure_telemetry, shutdown_telemetry

    configure_telemetry(settings, RUN_SERVICE)
    try:
        result = asyncio.run(run_once(settings, run_input))
    finally:
        shutdown_telemetry()  # the command leaves with os._exit: send batched spans first
    report = {
        "status": result.status,
        "outputs": result.outputs,
        "answer": result.answer,
        "error": result.error,
        "node_runs": [run.model_dump(mode="json") for run in result.node_runs],
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return EXIT_OK if result.status in ("succeeded", "partial-succeeded") else EXIT_FAILED
