#!/usr/bin/env python3
"""Run a Dify workflow graph on Tideflow: durably, as one ``GraphWorkflow`` on Temporal.

The CLI and the JSON report follow graphon's ``run_graphon.py`` (../shared/bench/graphon), so
``bench.py --runner "python bench/run_graph.py"`` runs graphon's matrix on Tideflow.

Per invocation: ONE embedded Temporal dev server (the venv's ``temporal`` binary) persisting to
SQLite in a temp dir with the WAL pragmas ``tideflow/temporal_server.py`` uses (durable, not
in-memory), and ONE in-process worker (``tideflow.local_run.graph_worker``) on a private task
queue. Then ``--warmup`` + ``--repeat`` runs through ``tideflow.local_run.execute_graph``.

- build = import (``load_app``) + ``validate_app`` + ``compile_plan``, every run;
  parse = reading the file / generating the graph + YAML parsing, once.
- run = workflow start -> result (``execute_graph``), every run.
- code nodes always run in Tideflow's sandboxed ``run_code`` activity (one fresh sandbox process
  per execution); ``--code-executor`` is accepted for compatibility and ignored.
- LLM nodes are pinned to ``{"text": --fake-llm-text, ...}`` unless ``--no-fake-llm`` (the
  engine comparison leaves model calls out; ``bench/llm_stream.py`` measures the model path);
  ``--fake-llm-latency-ms`` cannot be honoured by pins (warning).
- node executions and per-node means come from ``GraphRunResult.node_runs`` (``elapsed``);
  events are the workflow's recorded events (``events`` query), counted by event name.
"""

from __future__ import annotations

import time

_T_IMPORT0 = time.perf_counter()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from contextlib import AbstractAsyncContextManager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from importlib.metadata import version as _pkg_version  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402
from temporalio.client import Client, WorkflowFailureError  # noqa: E402

from tideflow.local_run import embedded_dev_server, execute_graph, graph_worker  # noqa: E402
from tideflow.platform.settings import Settings  # noqa: E402
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult, RunEvent  # noqa: E402
from tideflow.workflows.graph import DSLError, compile_plan, load_app, validate_app  # noqa: E402
from tideflow.workflows.graph.plan import ExecutionPlan  # noqa: E402

IMPORT_S = time.perf_counter() - _T_IMPORT0
HERE = Path(__file__).resolve().parent
# graphon's bench folder (gen_graph.py lives there); override with GRAPHON_BENCH_DIR.
GRAPHON_DIR = Path(
    os.environ.get("GRAPHON_BENCH_DIR") or HERE.parent.parent / "shared" / "bench" / "graphon"
)
CODE_EXECUTOR_NOTE = (
    "tideflow sandbox: every code node runs in the run_code activity (a fresh sandboxed "
    "interpreter process per execution); --code-executor is accepted and ignored"
)
# sys.* variables a run can be given, as GraphRunInput fields.
SYS_FIELDS = {
    "user_id": "user",
    "user": "user",
    "app_id": "app_id",
    "workflow_id": "workflow_id",
    "query": "query",
    "conversation_id": "conversation_id",
    "dialogue_count": "dialogue_count",
    "files": "files",
}


# The original stdout, kept for the JSON report alone (see ``_keep_stdout_for_report``).
_report_fd: int | None = None


def _keep_stdout_for_report() -> None:
    """Point fd 1 at stderr for the whole run; the report alone goes to the real stdout.

    Temporal's Rust core logs its warnings (payload size, deadlock) to stdout, the dev server
    prints a banner there, and sandboxed code may print: any of it would corrupt the JSON.
    """
    global _report_fd
    sys.stdout.flush()
    _report_fd = os.dup(1)
    os.dup2(2, 1)


def _print_report(report: dict[str, Any]) -> None:
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if _report_fd is None:
        sys.stdout.write(text)
        return
    sys.stdout.flush()
    with os.fdopen(_report_fd, "w", encoding="utf-8") as out:
        out.write(text)


@dataclass
class RunOutcome:
    """One run's timings, status and records."""

    build_s: float
    run_s: float
    status: str
    error: str | None
    outputs: Any
    events: Counter[str] = field(default_factory=Counter[str])
    node_durations: dict[str, list[float]] = field(default_factory=dict[str, list[float]])
    node_executions: int = 0
    events_error: str | None = None


# =============================================================================
# Loading
# =============================================================================
def _gen_graph_module() -> ModuleType:
    path = GRAPHON_DIR / "gen_graph.py"
    spec = importlib.util.spec_from_file_location("graphon_gen_graph", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path} (set GRAPHON_BENCH_DIR)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_document(source: str | None, gen: str | None) -> tuple[dict[str, Any], str]:
    """The DSL as a mapping (file or gen_graph.py) and the report's label."""
    if gen:
        shape, _, rest = gen.partition(":")
        n_str, _, kind = rest.partition(":")
        doc = _gen_graph_module().build(shape, int(n_str), kind or None)
        label = f"gen:{gen}"
    else:
        assert source is not None
        text = Path(source).read_text(encoding="utf-8")
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available
        doc = yaml.load(text, Loader=loader)  # a safe loader
        label = source
    if not isinstance(doc, dict):
        raise ValueError("the DSL must be a mapping")
    return doc, label  # pyright: ignore[reportUnknownVariableType]


def build_plan(doc: dict[str, Any], pinned: Sequence[str]) -> tuple[ExecutionPlan | None, str]:
    """Import + validate + compile (``check_app``'s steps, from the parsed mapping)."""
    try:
        app = load_app(doc)
        problems = validate_app(app, pinned=tuple(pinned))
        if problems:
            return None, "; ".join(str(p) for p in problems[:10])
        return compile_plan(app), ""
    except DSLError as exc:
        return None, "; ".join(str(p) for p in exc.problems[:10])


# =============================================================================
# Temporal
# =============================================================================
def durable_dev_server(db_dir: Path) -> AbstractAsyncContextManager[Client]:
    """One embedded dev server persisting to SQLite (WAL, synchronous=normal)."""
    return embedded_dev_server(db_dir / "temporal.db")


async def count_events(client: Client, workflow_id: str) -> Counter[str]:
    """The run's recorded events by name (``GraphWorkflow.events`` query)."""
    handle = client.get_workflow_handle(workflow_id)
    events: list[RunEvent] = await handle.query("events", 0, result_type=list[RunEvent])
    return Counter(e.event for e in events)


def _node_durations(result: GraphRunResult) -> dict[str, list[float]]:
    durations: dict[str, list[float]] = defaultdict(list)
    for node_run in result.node_runs:
        durations[node_run.node_type].append(node_run.elapsed)
    return dict(durations)


async def run_once(
    client: Client,
    task_queue: str,
    doc: dict[str, Any],
    pins: dict[str, dict[str, Any]],
    base_input: dict[str, Any],
) -> RunOutcome:
    """Build the plan, run it as one workflow, collect node runs and events."""
    t0 = time.perf_counter()
    plan, problem = build_plan(doc, list(pins))
    t1 = time.perf_counter()
    if plan is None:
        return RunOutcome(t1 - t0, 0.0, "build-error", problem, None)
    run_input = GraphRunInput(plan=plan, pins=pins, **base_input)
    workflow_id = f"bench-{uuid.uuid4()}"
    try:
        result = await execute_graph(client, task_queue, run_input, workflow_id)
    except WorkflowFailureError as exc:
        cause = exc.cause
        t2 = time.perf_counter()
        return RunOutcome(t1 - t0, t2 - t1, "failed", f"{type(cause).__name__}: {cause}", None)
    t2 = time.perf_counter()
    outcome = RunOutcome(
        build_s=t1 - t0,
        run_s=t2 - t1,
        status=result.status,
        error=result.error,
        outputs=result.outputs,
        node_durations=_node_durations(result),
        node_executions=len(result.node_runs),
    )
    try:
        outcome.events = await count_events(client, workflow_id)
    except Exception as exc:  # e.g. a query result over the gRPC message limit
        outcome.events_error = f"{type(exc).__name__}: {exc}"[:500]
    return outcome


async def run_all(
    args: argparse.Namespace,
    doc: dict[str, Any],
    pins: dict[str, dict[str, Any]],
    base_input: dict[str, Any],
) -> tuple[list[RunOutcome], float]:
    """Start the server and the worker, then warm-up + measured runs."""
    settings = Settings()
    task_queue = f"bench-{uuid.uuid4().hex[:12]}"
    runs: list[RunOutcome] = []
    with tempfile.TemporaryDirectory(prefix="tideflow-bench-") as tmp:
        t0 = time.perf_counter()
        async with durable_dev_server(Path(tmp)) as client:
            worker = graph_worker(
                client, settings, task_queue, max_concurrent_activities=max(1, args.workers)
            )
            async with worker:
                server_start_s = time.perf_counter() - t0
                for i in range(args.warmup + args.repeat):
                    outcome = await run_once(client, task_queue, doc, pins, base_input)
                    if i >= args.warmup:
                        runs.append(outcome)
                    if outcome.status not in ("succeeded", "partial-succeeded"):
                        runs = [outcome]
                        break
    return runs, server_start_s


# =============================================================================
# CLI
# =============================================================================
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "graph", nargs="?", help="Dify DSL YAML (workflow.graph) or bare {nodes,edges} YAML/JSON"
    )
    p.add_argument(
        "--gen",
        help="synthetic graph instead of a file: SHAPE:N[:KIND], e.g. chain:100:code, fanout:10",
    )
    p.add_argument("--inputs", default="{}", help="start-node inputs as a JSON object, or @file")
    p.add_argument("--sys", default="{}", help="extra sys.* variables as a JSON object")
    p.add_argument("--repeat", type=int, default=1, help="measured runs (median reported)")
    p.add_argument("--warmup", type=int, default=0, help="unmeasured runs first")
    p.add_argument(
        "--workers",
        type=int,
        default=5,
        help="max_concurrent_activities of the in-process worker (graphon: engine threads)",
    )
    p.add_argument(
        "--code-executor",
        choices=["inproc", "subprocess", "sandbox-http"],
        default="inproc",
        help="accepted for compatibility; code nodes always run in the sandboxed run_code activity",
    )
    p.add_argument("--sandbox-no-verify", action="store_true", help="accepted and ignored")
    p.add_argument("--code-max-array", type=int, default=None, help="accepted and ignored")
    p.add_argument(
        "--fake-llm-text", default="This is a fake LLM answer.", help="text LLM nodes are pinned to"
    )
    p.add_argument(
        "--fake-llm-latency-ms",
        type=float,
        default=0.0,
        help="cannot be honoured by pins: reported as a warning",
    )
    p.add_argument(
        "--no-fake-llm", action="store_true", help="do not pin LLM nodes (such graphs then fail)"
    )
    p.add_argument("--outputs", choices=["full", "summary", "none"], default="full")
    p.add_argument("--per-run", action="store_true", help="include every run's timings")
    return p.parse_args(argv)


def _load_json_arg(value: str) -> dict[str, Any]:
    if value.startswith("@"):
        value = Path(value[1:]).read_text(encoding="utf-8")
    loaded = json.loads(value)
    if not isinstance(loaded, dict):
        raise SystemExit("inputs must be a JSON object")
    return loaded  # pyright: ignore[reportUnknownVariableType]


def _summarize(value: Any, limit: int = 200) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}... <{len(value)} chars>"
    if isinstance(value, list) and len(value) > 5:  # pyright: ignore[reportUnknownArgumentType]
        head = [_summarize(v, limit) for v in value[:5]]  # pyright: ignore[reportUnknownVariableType]
        return [*head, f"... <{len(value)} items>"]  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(value, dict):
        return {k: _summarize(v, limit) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
    return value


def _base_input(
    inputs: dict[str, Any], sys_vars: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    base: dict[str, Any] = {"inputs": inputs}
    ignored: list[str] = []
    for key, value in sys_vars.items():
        name = key.removeprefix("sys.")
        if name in SYS_FIELDS:
            base[SYS_FIELDS[name]] = value
        else:
            ignored.append(key)
    return base, ignored


def _warnings(
    args: argparse.Namespace, llm_ids: list[str], ignored_sys: list[str], runs: list[RunOutcome]
) -> list[str]:
    warnings: list[str] = []
    if llm_ids and not args.no_fake_llm and args.fake_llm_latency_ms > 0:
        warnings.append(
            f"--fake-llm-latency-ms {args.fake_llm_latency_ms:g} not honoured: LLM nodes are "
            "pinned, so they take no simulated latency"
        )
    if llm_ids and not args.no_fake_llm:
        warnings.append(f"{len(llm_ids)} llm node(s) pinned to the fake text (no model call)")
    if ignored_sys:
        warnings.append(f"sys variables with no GraphRunInput field ignored: {ignored_sys}")
    errors = sorted({r.events_error for r in runs if r.events_error})
    if errors:
        warnings.append(f"events query failed: {errors[0]}")
    return warnings


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.graph and not args.gen:
        raise SystemExit("give a DSL file or --gen SHAPE:N")
    inputs = _load_json_arg(args.inputs)
    sys_vars = _load_json_arg(args.sys)
    _keep_stdout_for_report()

    t0 = time.perf_counter()
    try:
        doc, label = load_document(args.graph, args.gen)
        app = load_app(doc)
    except (DSLError, yaml.YAMLError, OSError, ValueError) as error:
        _print_report({"status": "load-error", "error": str(error)})
        return 2
    parse_s = time.perf_counter() - t0
    node_types = Counter(n.type for n in app.nodes)
    llm_ids = [n.id for n in app.nodes if n.type == "llm"]
    pins: dict[str, dict[str, Any]] = {}
    if not args.no_fake_llm:
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        pins = {
            node_id: {"text": args.fake_llm_text, "usage": dict(usage), "finish_reason": "stop"}
            for node_id in llm_ids
        }
    base_input, ignored_sys = _base_input(inputs, sys_vars)

    runs, server_start_s = asyncio.run(run_all(args, doc, pins, base_input))

    last = runs[-1]
    all_durations: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        for node_type, values in r.node_durations.items():
            all_durations[node_type].extend(values)
    flat = [v for values in all_durations.values() for v in values]
    med_run = statistics.median(r.run_s for r in runs)
    med_build = statistics.median(r.build_s for r in runs)
    med_total = statistics.median(r.build_s + r.run_s for r in runs)
    execs = max(1, last.node_executions)
    if args.outputs == "none":
        outputs = None
    else:
        outputs = _summarize(last.outputs) if args.outputs == "summary" else last.outputs
    report: dict[str, Any] = {
        "graph": label,
        "status": last.status,
        "error": last.error,
        "outputs": outputs,
        "graph_nodes": {"total": sum(node_types.values()), "by_type": dict(node_types)},
        "node_executions": last.node_executions,
        "timings": {
            "repeat": len(runs),
            "warmup": args.warmup,
            "import_s": round(IMPORT_S, 4),
            "parse_s": round(parse_s, 4),
            "median_build_s": round(med_build, 6),
            "median_run_s": round(med_run, 6),
            "median_total_s": round(med_total, 6),
            "min_total_s": round(min(r.build_s + r.run_s for r in runs), 6),
            "max_total_s": round(max(r.build_s + r.run_s for r in runs), 6),
            "run_s_per_node_execution_ms": round(1000 * med_run / execs, 4),
            "total_s_per_node_execution_ms": round(1000 * med_total / execs, 4),
            "server_and_worker_start_s": round(server_start_s, 4),
        },
        "per_node_mean_ms": {
            "all": round(1000 * statistics.fmean(flat), 4) if flat else None,
            "by_type": {
                t: round(1000 * statistics.fmean(v), 4) for t, v in sorted(all_durations.items())
            },
            "note": "NodeRun.elapsed from GraphRunResult.node_runs (workflow time), averaged "
            "over measured runs; container nodes (iteration/loop) include their children",
        },
        "events": {
            "total": sum(last.events.values()),
            "by_type": dict(sorted(last.events.items())),
        },
        "config": {
            "tideflow": _pkg_version("tideflow"),
            "temporalio": _pkg_version("temporalio"),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "workers": args.workers,
            "workers_meaning": "max_concurrent_activities of the in-process Temporal worker",
            "code_executor": CODE_EXECUTOR_NOTE,
            "code_executor_requested": args.code_executor,
            "fake_llm": not args.no_fake_llm,
            "llm_nodes": "pinned outputs (no LLM node yet)" if llm_ids else None,
            "temporal": "embedded dev server, SQLite file in a temp dir, journal_mode=wal, "
            "synchronous=normal; one in-process worker; one server per invocation",
        },
    }
    warnings = _warnings(args, llm_ids, ignored_sys, runs)
    if warnings:
        report["warning"] = "; ".join(warnings)
    if args.per_run:
        report["runs"] = [
            {
                "build_s": round(r.build_s, 6),
                "run_s": round(r.run_s, 6),
                "events": sum(r.events.values()),
                "node_executions": r.node_executions,
            }
            for r in runs
        ]
    _print_report(report)
    return 0 if last.status in ("succeeded", "partial-succeeded") else 1


if __name__ == "__main__":
    sys.exit(main())
