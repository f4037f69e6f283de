#!/usr/bin/env python3
"""Knowledge-base ingestion throughput through the whole stack (issue 7's target).

Starts the fake OpenAI-compatible server (``tests/fakes/openai_server.py``: instant
embeddings, ``--dim`` floats each) and ``tideflow up`` (Temporal dev server, worker, API as
separate processes; SQLite; Qdrant local mode) with ``TIDEFLOW_MODEL_GATEWAY_URL`` pointing at
the fake. Then, through Dify's knowledge API on loopback with a ``dataset-`` key:

1. creates a high_quality dataset (embedding model ``text-embedding-3-small`` via the gateway);
2. uploads ``--files`` generated prose files of ``--mb`` MB each (half .txt, half .md) with
   ``create-by-file`` (automatic process rule: 500-token chunks), as fast as it can;
3. polls each batch's ``indexing-status`` until every document is ``completed``.

A small warm-up document is ingested first (a worker's first seconds load litellm, tiktoken
and the vector store), so the figure is the steady-state rate of a running worker.

Throughput = total MB / (first upload -> last document completed). The document rows' stage
stamps show where the time went. Target: >= 50 MB/min on 2 cores (the seed: 10 MB/min).

    uv run python bench/ingestion.py --files 10 --mb 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stack import start_stack, stop_stack  # noqa: E402
from tests.fakes.openai_server import start_fake_llm_server  # noqa: E402

PASSWORD = "bench-password-123"
WORDS = [
    "durable",
    "workflow",
    "temporal",
    "activity",
    "retry",
    "heartbeat",
    "document",
    "chunk",
    "embedding",
    "vector",
    "qdrant",
    "index",
    "search",
    "retrieval",
    "knowledge",
    "base",
    "segment",
    "parse",
    "clean",
    "split",
    "batch",
    "resume",
    "worker",
    "queue",
    "history",
    "signal",
    "pause",
    "model",
    "provider",
    "token",
    "stream",
    "answer",
    "context",
    "prompt",
]


def prose(size: int, seed: int, markdown: bool) -> bytes:
    """About ``size`` bytes of paragraphs (with headings for markdown)."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    section = 0
    while total < size:
        if markdown and len(parts) % 8 == 0:
            section += 1
            parts.append(f"## Section {section}\n")
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 18))).capitalize() + "."
            for _ in range(rng.randint(3, 7))
        ]
        paragraph = " ".join(sentences) + "\n\n"
        parts.append(paragraph)
        total += len(paragraph)
    return "".join(parts).encode()


def _console(api: str) -> dict[str, str]:
    login = httpx.post(
        f"{api}/console/api/login",
        json={"email": "owner@tideflow.local", "password": PASSWORD},
        timeout=30,
    )
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['data']['access_token']}"}


def _dataset_key(api: str) -> dict[str, str]:
    created = httpx.post(f"{api}/console/api/datasets/api-keys", headers=_console(api), timeout=30)
    created.raise_for_status()
    return {"Authorization": f"Bearer {created.json()['token']}"}


def run(files: int, mb: float, dim: int, warm_up: bool = True) -> dict[str, Any]:
    """One measurement; the report as a dict."""
    fake = start_fake_llm_server()
    fake.embedding_dim = dim
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    stack = start_stack(
        work,
        {"TIDEFLOW_MODEL_GATEWAY_URL": fake.base_url, "TIDEFLOW_OWNER_PASSWORD": PASSWORD},
    )
    try:
        return _measure(stack.api, files, mb, fake, warm_up)
    finally:
        stop_stack(stack)
        fake.close()


def _measure(api: str, files: int, mb: float, fake: Any, warm_up: bool) -> dict[str, Any]:
    key = _dataset_key(api)
    with httpx.Client(base_url=f"{api}/v1", headers=key, timeout=120) as http:
        dataset = http.post(
            "/datasets",
            json={
                "name": "bench",
                "indexing_technique": "high_quality",
                "embedding_model": "text-embedding-3-small",
                "embedding_model_provider": "openai",
            },
        )
        dataset.raise_for_status()
        dataset_id = dataset.json()["id"]
        # Warm-up: one small document, so litellm, tiktoken and the vector store are loaded
        # (a worker's first seconds) before the clock starts.
        if warm_up:
            warm = http.post(
                f"/datasets/{dataset_id}/document/create-by-text",
                json={"name": "warm-up", "text": prose(20_000, 99, False).decode()},
            )
            warm.raise_for_status()
            _wait_completed(http, dataset_id, [warm.json()["batch"]], timeout=120)
            fake.embedded_texts = 0
        bodies = [
            (f"doc{i}.{'md' if i % 2 else 'txt'}", prose(int(mb * 1024 * 1024), i, bool(i % 2)))
            for i in range(files)
        ]
        total_mb = sum(len(b) for _, b in bodies) / (1024 * 1024)
        data = json.dumps(
            {"indexing_technique": "high_quality", "process_rule": {"mode": "automatic"}}
        )
        started = time.monotonic()
        batches: list[str] = []
        for name, body in bodies:
            response = http.post(
                f"/datasets/{dataset_id}/document/create-by-file",
                files={"file": (name, body, "text/plain")},
                data={"data": data},
            )
            response.raise_for_status()
            batches.append(response.json()["batch"])
        uploaded = time.monotonic() - started
        statuses = _wait_completed(http, dataset_id, batches, timeout=1800)
        elapsed = time.monotonic() - started
    segments = sum(s["total_segments"] for s in statuses)
    stage = {
        name: statistics.median(s[end] - s[begin] for s in statuses)
        for name, begin, end in (
            ("parse", "processing_started_at", "parsing_completed_at"),
            ("clean", "parsing_completed_at", "cleaning_completed_at"),
            ("split", "cleaning_completed_at", "splitting_completed_at"),
            ("index", "splitting_completed_at", "completed_at"),
        )
    }
    return {
        "warm_up": warm_up,
        "files": files,
        "total_mb": round(total_mb, 2),
        "segments": segments,
        "embedded_texts": fake.embedded_texts,
        "upload_s": round(uploaded, 2),
        "elapsed_s": round(elapsed, 2),
        "mb_per_min": round(total_mb / elapsed * 60, 1),
        "segments_per_s": round(segments / elapsed, 1),
        "median_stage_s": {k: round(v, 2) for k, v in stage.items()},
    }


def _wait_completed(
    http: httpx.Client, dataset_id: str, batches: list[str], timeout: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        statuses: list[dict[str, Any]] = []
        for batch in batches:
            page = http.get(f"/datasets/{dataset_id}/documents/{batch}/indexing-status")
            page.raise_for_status()
            statuses += page.json()["data"]
        states = {s["indexing_status"] for s in statuses}
        if "error" in states:
            raise RuntimeError(f"a document failed: {[s.get('error') for s in statuses]}")
        if states == {"completed"}:
            return statuses
        if time.monotonic() > deadline:
            raise RuntimeError(f"not completed in {timeout} s: {states}")
        time.sleep(0.5)  # polls are cheap, but the API shares the 2 cores


def main() -> None:
    """Run and print the report as JSON (with the machine)."""
    parser = argparse.ArgumentParser(
        description="Knowledge-base ingestion throughput through the whole stack"
    )
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--mb", type=float, default=1.0, help="size of each file in MB")
    parser.add_argument("--dim", type=int, default=384, help="embedding dimensions")
    parser.add_argument(
        "--cold", action="store_true", help="no warm-up: include the worker's first seconds"
    )
    args = parser.parse_args()
    report = run(args.files, args.mb, args.dim, warm_up=not args.cold)
    report["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
