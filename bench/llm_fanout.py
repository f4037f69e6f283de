#!/usr/bin/env python3
"""Fan-out of real LLM nodes through a whole stack, the model answering after a fixed latency
(issue 11; graphon's ``fanout/llm fake 50ms`` rows).

Starts the fake OpenAI-compatible server (``tests/fakes/openai_server.py``) scripted to wait
``--latency-ms`` before its first chunk, and ``tideflow up`` with
``TIDEFLOW_MODEL_GATEWAY_URL`` pointing at it; imports graphon's generated
``fanout:<N>:llm`` graph (``gen_graph.py``: start -> N llm nodes -> end) and runs it blocking
through ``POST /v1/workflows/run``: ``--warmup`` + ``--repeat`` runs one after another. Each
LLM node is one ``llm_invoke`` activity (litellm, streaming) on the worker, which runs up to
100 activities at once. Reported: client wall time per run and the run's own
``elapsed_time``.

    uv run python bench/llm_fanout.py --nodes 100 --latency-ms 50 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run_graph import load_document  # noqa: E402
from bench.stack import app_key, start_stack, stop_stack  # noqa: E402
from tests.fakes.openai_server import Reply, start_fake_llm_server  # noqa: E402

TEXT = "This is a fake LLM answer."


def main() -> int:
    """Stack + fake model up, the runs, a JSON report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    doc, label = load_document(None, f"fanout:{args.nodes}:llm")
    fake = start_fake_llm_server()
    # One chunk: the latency is the model's, not the streaming's.
    fake.script(Reply(text=TEXT, chunk_size=len(TEXT), first_token_delay=args.latency_ms / 1000))
    walls: list[float] = []
    elapsed: list[float] = []
    report: dict[str, Any] = {
        "graph": label,
        "latency_ms": args.latency_ms,
        "load1_before": os.getloadavg()[0],
    }
    try:
        with tempfile.TemporaryDirectory(prefix="tideflow-llm-fanout-") as work:
            app_file = Path(work) / "fanout.yml"
            app_file.write_text(yaml.safe_dump(doc), encoding="utf-8")
            stack = start_stack(Path(work), {"TIDEFLOW_MODEL_GATEWAY_URL": fake.base_url})
            try:
                key = app_key(stack, app_file)
                with httpx.Client(base_url=stack.api, timeout=300) as client:
                    for index in range(args.warmup + args.repeat):
                        began = time.perf_counter()
                        response = client.post(
                            "/v1/workflows/run",
                            json={"inputs": {}, "user": "bench", "response_mode": "blocking"},
                            headers={"Authorization": f"Bearer {key}"},
                        )
                        wall = time.perf_counter() - began
                        response.raise_for_status()
                        data = response.json()["data"]
                        if data["status"] != "succeeded":
                            raise RuntimeError(f"run {index}: {data}")
                        print(f"{index}: {wall:.3f}s ({data['elapsed_time']})", file=sys.stderr)
                        if index >= args.warmup:
                            walls.append(wall)
                            elapsed.append(float(data["elapsed_time"]))
            finally:
                stop_stack(stack)
        report["model_calls"] = len(fake.chat_requests())
    finally:
        fake.close()
    report.update(
        runs=len(walls),
        median_wall_ms=round(statistics.median(walls) * 1000, 1),
        min_max_wall_ms=[round(min(walls) * 1000, 1), round(max(walls) * 1000, 1)],
        median_elapsed_ms=round(statistics.median(elapsed) * 1000, 1),
        load1_after=os.getloadavg()[0],
        nproc=os.cpu_count(),
    )
    print(json.dumps(report, indent=2))
    sys.stdout.flush()
    os._exit(0)  # temporalio/sdk-python#300 (the fake's thread too)


if __name__ == "__main__":
    sys.exit(main())
