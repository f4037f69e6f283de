#!/usr/bin/env python3
"""Paused runs cost the worker no slots: N runs waiting on a human-input form (issue 6).

Starts a whole ``tideflow up`` stack (Temporal dev server, worker, API, console as separate
processes, SQLite, its own data dir, free ports), imports ``bench/apps/review_form.yml``
(start -> human-input (approve/reject, 1-day timeout) -> end) and
``bench/apps/code_template.yml`` (start -> code -> template -> end), then:

1. warm-up: one review run paused and submitted, a few probe runs of the code/template app;
   the worker's RSS (``VmRSS`` of ``/proc/<pid>/status``) and probe latency are the baseline.
2. starts N review runs (``response_mode=async``: 202 at once) from a few concurrent httpx
   clients and polls ``GET /v1/workflows/run/{id}`` until every run reads ``paused``.
3. with the N runs paused: worker RSS again; probe latency again (the worker runs with
   ``max_concurrent_workflow_tasks=100`` and ``max_concurrent_activities=100``: paused runs
   holding slots would block the probes); and the worker's own slot counts from its Temporal
   worker heartbeat (``ListWorkers``; the SDK sends one every 60 s) when the server has them.
4. reads each run's form token from its ``human_input_required`` event
   (``GET /v1/workflow/{run_id}/events``: the stored tokens are hashed), submits the N forms
   (``POST /v1/form/human_input/{token}``, action ``approve``) and waits until every run reads
   ``succeeded`` with output ``{"action": "approve"}``.
5. prints a JSON report.

    uv run python bench/paused_runs.py --runs 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stack import Stack, app_key, start_stack, stop_stack  # noqa: E402
from tests.helpers import processes_with_data_dir  # noqa: E402

REVIEW_APP = ROOT / "bench" / "apps" / "review_form.yml"
PROBE_APP = ROOT / "bench" / "apps" / "code_template.yml"
USER = "bench"


def stack_pids(stack: Stack) -> dict[str, int]:
    """The worker's, the API's and the Temporal server's pid (by command line)."""
    found: dict[str, int] = {}
    for pid, cmd in processes_with_data_dir(stack.data_dir).items():
        words = cmd.split()
        if "code_runners" in cmd:
            continue
        if "worker" in words:
            found["worker"] = pid
        elif "api" in words or "uvicorn" in cmd:
            found.setdefault("api", pid)
        elif "server" in words and "start-dev" in words:
            found["temporal_server"] = pid
    if "worker" not in found:
        raise RuntimeError(f"no worker process: {processes_with_data_dir(stack.data_dir)}")
    return found


def rss_mib(pid: int) -> float:
    """Resident set size of a process, MiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for {pid}")


def memory(stack: Stack) -> dict[str, float]:
    """RSS in MiB of the worker, the API and the Temporal server."""
    return {name: rss_mib(pid) for name, pid in sorted(stack_pids(stack).items())}


async def start_review(client: httpx.AsyncClient, key: str, index: int) -> str:
    """Start one review run (``response_mode=async``: 202 at once); its run id."""
    body = {"inputs": {"topic": f"item {index}"}, "user": USER, "response_mode": "async"}
    headers = {"Authorization": f"Bearer {key}"}
    response = await client.post("/v1/workflows/run", json=body, headers=headers)
    response.raise_for_status()
    return str(response.json()["workflow_run_id"])


async def form_token(client: httpx.AsyncClient, key: str, run_id: str) -> str:
    """The form token of a paused run, from its ``human_input_required`` event (the run's
    SSE replay, which closes after ``workflow_paused``)."""
    token = ""
    async with client.stream(
        "GET",
        f"/v1/workflow/{run_id}/events",
        params={"user": USER},
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            payload = json.loads(line[6:])
            if payload.get("event") == "human_input_required":
                token = str(payload["data"]["form_token"])
            elif payload.get("event") == "workflow_paused" and token:
                return token
    raise RuntimeError(f"run {run_id}: no human_input_required before the stream ended")


async def fan_out(api: str, clients: int, jobs: list[Any]) -> list[Any]:
    """Run ``jobs`` (callables taking a client) over ``clients`` concurrent httpx clients."""
    results: list[Any] = [None] * len(jobs)
    cursor = iter(range(len(jobs)))

    async def drain() -> None:
        async with httpx.AsyncClient(base_url=api, timeout=300) as client:
            for index in cursor:
                results[index] = await jobs[index](client)

    await asyncio.gather(*(drain() for _ in range(clients)))
    return results


async def run_status(client: httpx.AsyncClient, key: str, run_id: str) -> dict[str, Any]:
    """``GET /v1/workflows/run/{id}``."""
    response = await client.get(
        f"/v1/workflows/run/{run_id}", headers={"Authorization": f"Bearer {key}"}
    )
    response.raise_for_status()
    return dict(response.json())


async def wait_all(
    api: str, clients: int, key: str, run_ids: list[str], want: str, timeout: float
) -> dict[str, dict[str, Any]]:
    """Poll every run until it reads ``want`` (runs that do are not asked again)."""
    pending = list(run_ids)
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while pending:

        def ask(run_id: str) -> Any:
            return lambda client: run_status(client, key, run_id)

        answers = await fan_out(api, clients, [ask(r) for r in pending])
        for run_id, answer in zip(pending, answers, strict=True):
            seen[run_id] = answer
        pending = [r for r in pending if seen[r]["status"] != want]
        if not pending:
            break
        bad = [seen[r] for r in pending if seen[r]["status"] not in ("running", "paused")]
        if bad:
            raise RuntimeError(f"{len(bad)} runs ended otherwise, e.g. {bad[0]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} runs not {want} after {timeout} s")
        await asyncio.sleep(0.5)
    return seen


def probe(api: str, key: str, count: int) -> dict[str, Any]:
    """``count`` blocking runs of the code/template app one after another: latency in ms."""
    took: list[float] = []
    with httpx.Client(base_url=api, timeout=120) as client:
        for index in range(count):
            body = {"inputs": {"word": f"w{index}"}, "user": USER, "response_mode": "blocking"}
            began = time.perf_counter()
            response = client.post(
                "/v1/workflows/run", json=body, headers={"Authorization": f"Bearer {key}"}
            )
            took.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
            data = response.json()["data"]
            if data["status"] != "succeeded" or data["outputs"] != {"loud": f"W{index}W{index}"}:
                raise RuntimeError(f"probe run {index}: {data}")
    ordered = sorted(took)
    return {
        "runs": count,
        "median_ms": round(statistics.median(took), 1),
        "min_ms": round(ordered[0], 1),
        "max_ms": round(ordered[-1], 1),
    }


def probe_burst(api: str, key: str, count: int) -> dict[str, Any]:
    """``count`` probe runs started at once (async) and awaited: wall time in ms. More runs
    than the worker's 100 slots would have to queue behind any slot a paused run held."""

    async def go() -> float:
        headers = {"Authorization": f"Bearer {key}"}

        def start(index: int) -> Any:
            async def job(client: httpx.AsyncClient) -> str:
                body = {"inputs": {"word": f"b{index}"}, "user": USER, "response_mode": "async"}
                response = await client.post("/v1/workflows/run", json=body, headers=headers)
                response.raise_for_status()
                return str(response.json()["workflow_run_id"])

            return job

        began = time.perf_counter()
        run_ids = await fan_out(api, 8, [start(i) for i in range(count)])
        await wait_all(api, 8, key, run_ids, "succeeded", 300)
        return (time.perf_counter() - began) * 1000

    return {"runs": count, "wall_ms": round(asyncio.run(go()), 1)}


def cheap_latency(api: str, key: str, count: int) -> dict[str, Any]:
    """``count`` ``GET /v1/info`` one after another (a cheap endpoint: key lookup + one app
    read): p50/p95/p99 in ms."""
    took: list[float] = []
    with httpx.Client(base_url=api, timeout=60) as client:
        for _ in range(count):
            began = time.perf_counter()
            response = client.get("/v1/info", headers={"Authorization": f"Bearer {key}"})
            took.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
    ordered = sorted(took)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)

    return {
        "requests": count,
        "p50_ms": rank(50),
        "p95_ms": rank(95),
        "p99_ms": rank(99),
        "max_ms": round(ordered[-1], 1),
    }


class RssCurve:
    """Worker RSS (MiB) sampled every ``every`` seconds on a thread, with the time since start."""

    def __init__(self, pid: int, every: float) -> None:
        self.pid, self.every = pid, every
        self.points: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._began = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(RuntimeError, OSError):
                self.points.append((round(time.perf_counter() - self._began, 1), rss_mib(self.pid)))
            self._stop.wait(self.every)

    def stop(self) -> list[tuple[float, float]]:
        """Stop sampling; the (seconds, MiB) points."""
        self._stop.set()
        self._thread.join(timeout=5)
        return self.points


async def worker_heartbeat(stack: Stack, since: float, wait_s: float) -> dict[str, Any] | None:
    """The worker's slot counts from its newest Temporal worker heartbeat sent after ``since``
    (epoch seconds); None when the server keeps no heartbeats (``ListWorkers``)."""
    from temporalio.api.workflowservice.v1 import ListWorkersRequest
    from temporalio.client import Client

    client = await Client.connect(stack.temporal, namespace="default")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            answer = await client.workflow_service.list_workers(
                ListWorkersRequest(namespace="default", page_size=100)
            )
        except Exception as exc:  # an older or unconfigured server: no heartbeats to read
            return {"unavailable": f"{type(exc).__name__}: {exc}"[:300]}
        beats = [w.worker_heartbeat for w in answer.workers_info]
        beats = [b for b in beats if b.task_queue == "tideflow"]
        fresh = [b for b in beats if b.heartbeat_time.ToSeconds() >= since]
        if fresh:
            beat = max(fresh, key=lambda b: b.heartbeat_time.ToSeconds())
            return {
                "heartbeat_age_s": round(time.time() - beat.heartbeat_time.ToSeconds(), 1),
                "workflow_task_slots": {
                    "used": beat.workflow_task_slots_info.current_used_slots,
                    "available": beat.workflow_task_slots_info.current_available_slots,
                },
                "activity_slots": {
                    "used": beat.activity_task_slots_info.current_used_slots,
                    "available": beat.activity_task_slots_info.current_available_slots,
                },
                "sticky_cache_size": beat.current_sticky_cache_size,
            }
        if time.monotonic() > deadline:
            return {
                "unavailable": f"no heartbeat after the pause within {wait_s} s "
                f"({len(beats)} older ones)"
            }
        await asyncio.sleep(2)


def main() -> None:
    """Run the measurement and print a JSON report."""
    parser = argparse.ArgumentParser(description="Paused-runs benchmark (see the module doc).")
    parser.add_argument("--runs", type=int, default=1000)
    # The API's SQLite pool has 15 connections (5 + 10 overflow) and a stream holds one:
    # stay below that.
    parser.add_argument("--clients", type=int, default=8, help="concurrent httpx clients")
    parser.add_argument("--probes", type=int, default=20, help="probe runs per measurement")
    parser.add_argument("--burst", type=int, default=200, help="probe runs started at once")
    parser.add_argument(
        "--heartbeat-wait", type=float, default=75.0, help="seconds to wait for a heartbeat"
    )
    parser.add_argument("--info-requests", type=int, default=300, help="GET /v1/info samples")
    parser.add_argument("--no-resume", action="store_true", help="stop with the runs paused")
    parser.add_argument("--rss-every", type=float, default=5.0, help="RSS sample period, s")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
        "runs": args.runs,
        "clients": args.clients,
    }
    with tempfile.TemporaryDirectory(prefix="tideflow-bench-") as work:
        # The per-key rate limit (600/min by default) would refuse the bench's own requests.
        stack = start_stack(Path(work), {"TIDEFLOW_API_RATE_LIMIT_PER_MINUTE": "0"})
        try:
            review, probe_key = app_key(stack, REVIEW_APP), app_key(stack, PROBE_APP)
            # Warm-up: one run paused and submitted, some probes.
            warm = asyncio.run(fan_out(stack.api, 1, [lambda c: start_review(c, review, -1)]))
            asyncio.run(wait_all(stack.api, 1, review, warm, "paused", 60))
            token = asyncio.run(fan_out(stack.api, 1, [lambda c: form_token(c, review, warm[0])]))
            submitted = httpx.post(
                f"{stack.api}/v1/form/human_input/{token[0]}",
                json={"inputs": {}, "action": "approve", "user": USER},
                headers={"Authorization": f"Bearer {review}"},
                timeout=60,
            )
            submitted.raise_for_status()
            asyncio.run(wait_all(stack.api, 1, review, warm, "succeeded", 60))
            probe(stack.api, probe_key, 5)
            time.sleep(2)
            report["rss_mib_before"] = memory(stack)
            report["probe_before"] = probe(stack.api, probe_key, args.probes)
            report["burst_before"] = probe_burst(stack.api, probe_key, args.burst)
            report["info_before"] = cheap_latency(stack.api, review, args.info_requests)
            curve = RssCurve(stack_pids(stack)["worker"], args.rss_every)

            def start(index: int) -> Any:
                return lambda client: start_review(client, review, index)

            began = time.perf_counter()
            run_ids = asyncio.run(
                fan_out(stack.api, args.clients, [start(i) for i in range(args.runs)])
            )
            started_s = time.perf_counter() - began
            asyncio.run(wait_all(stack.api, args.clients, review, run_ids, "paused", 600))
            paused_s = time.perf_counter() - began
            paused_at = time.time()
            report["start_all_s"] = round(started_s, 1)
            report["start_to_all_paused_s"] = round(paused_s, 1)
            report["paused_per_s"] = round(args.runs / paused_s, 1)
            report["worker_rss_curve_s_mib"] = curve.stop()
            time.sleep(2)
            report["rss_mib_paused"] = memory(stack)
            report["info_paused"] = cheap_latency(stack.api, review, args.info_requests)
            print(json.dumps(report), file=sys.stderr, flush=True)  # in case resuming fails
            report["probe_paused"] = probe(stack.api, probe_key, args.probes)
            report["burst_paused"] = probe_burst(stack.api, probe_key, args.burst)
            report["heartbeat_paused"] = asyncio.run(
                worker_heartbeat(stack, paused_at, args.heartbeat_wait)
            )
            report["rss_mib_paused_after_probes"] = memory(stack)
            if args.no_resume:
                print(json.dumps(report, indent=2))
                return

            def fetch(run_id: str) -> Any:
                return lambda client: form_token(client, review, run_id)

            began = time.perf_counter()
            tokens = asyncio.run(fan_out(stack.api, args.clients, [fetch(r) for r in run_ids]))
            report["tokens_from_events_s"] = round(time.perf_counter() - began, 1)

            def submit(token: str) -> Any:
                async def job(client: httpx.AsyncClient) -> None:
                    response = await client.post(
                        f"/v1/form/human_input/{token}",
                        json={"inputs": {}, "action": "approve", "user": USER},
                        headers={"Authorization": f"Bearer {review}"},
                    )
                    response.raise_for_status()

                return job

            began = time.perf_counter()
            asyncio.run(fan_out(stack.api, args.clients, [submit(t) for t in tokens]))
            submitted_s = time.perf_counter() - began
            final = asyncio.run(
                wait_all(stack.api, args.clients, review, run_ids, "succeeded", 600)
            )
            resumed_s = time.perf_counter() - began
            wrong = [r for r in final.values() if r["outputs"] != {"action": "approve"}]
            if wrong:
                raise RuntimeError(f"{len(wrong)} runs with other outputs, e.g. {wrong[0]}")
            report["submit_all_s"] = round(submitted_s, 1)
            report["submit_to_all_succeeded_s"] = round(resumed_s, 1)
            report["succeeded"] = len(final)
            time.sleep(2)
            report["rss_mib_resumed"] = memory(stack)
            report["probe_resumed"] = probe(stack.api, probe_key, args.probes)
            # The API follows every unfinished run with a long poll on its history; Temporal
            # rejects more than 1,200 at once per API method (``frontend.namespaceCount``).
            api_log = (stack.data_dir / "logs" / "api.log").read_text(errors="replace")
            report["api_follow_retries"] = api_log.count("cannot follow run")
        except BaseException:
            for log in sorted((stack.data_dir / "logs").glob("*")):
                tail = log.read_text(errors="replace").splitlines()[-60:]
                print(f"--- {log.name}", *tail, sep="\n", file=sys.stderr)
            raise
        finally:
            stop_stack(stack)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
