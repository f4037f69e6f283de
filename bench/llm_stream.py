#!/usr/bin/env python3
"""Token streaming through the whole stack: first-token latency, and a worker killed mid-stream.

Starts the fake OpenAI-compatible server (``tests/fakes/openai_server.py``) and ``tideflow up``
(Temporal dev server, worker, API as separate processes) with ``TIDEFLOW_MODEL_GATEWAY_URL``
pointing at the fake, imports ``bench/apps/chat_llm.yml`` (start -> llm -> answer) and streams
``POST /v1/chat-messages`` over real HTTP on loopback.

1. latency: per run, the delay between the fake server writing a chunk (wall clock) and the
   client receiving the SSE ``message`` event that carries it (matched by cumulative text
   length); the first chunk is the first-token latency (target: <= 50 ms).
2. kill: the model stalls after some chunks; the worker is SIGKILLed while the client is
   streaming; ``up`` restarts it, the activity's heartbeat times out, the retried attempt
   streams the answer again. The client's text must equal the answer exactly (no duplicate).

    uv run python bench/llm_stream.py --runs 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
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
from tests.fakes.openai_server import FakeLLMServer, Reply, start_fake_llm_server  # noqa: E402
from tests.helpers import processes_with_data_dir  # noqa: E402

APP = ROOT / "bench" / "apps" / "chat_llm.yml"
ANSWER = " ".join(f"token{i:03d}" for i in range(120))  # 1079 characters


def stream_chat(api: str, key: str, query: str, on_message: Any = None) -> list[tuple[float, str]]:
    """Stream one chat turn; (wall time received, event name or answer chunk) per SSE event."""
    received: list[tuple[float, str]] = []
    body = {"inputs": {}, "query": query, "user": "bench", "response_mode": "streaming"}
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream(
        "POST", f"{api}/v1/chat-messages", json=body, headers=headers, timeout=120
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            now = time.time()
            payload = json.loads(line[6:])
            if payload.get("event") == "message":
                received.append((now, payload.get("answer", "")))
                if on_message is not None:
                    on_message(len(received))
            elif payload.get("event") in ("message_replace", "error"):
                received.append((now, f"<{payload['event']}>"))
    return received


def chunk_delays(sent: list[tuple[float, float]], sizes: list[int], got: list[tuple[float, str]]):
    """Per model chunk: seconds from sent to the first client event covering its last char."""
    delays: list[float] = []
    covered, index, cumulative_sent = 0, 0, 0
    for (_mono, wall), size in zip(sent, sizes, strict=False):
        cumulative_sent += size
        while covered < cumulative_sent and index < len(got):
            covered += len(got[index][1])
            index += 1
        if covered < cumulative_sent:
            break
        delays.append(got[index - 1][0] - wall)
    return delays


def latency(stack: Stack, fake: FakeLLMServer, key: str, runs: int) -> dict[str, Any]:
    """First-token and per-chunk delays over ``runs`` streamed turns."""
    firsts: list[float] = []
    every: list[float] = []
    for run in range(runs):
        fake.reset()
        # The model answers after 300 ms (the run is under way by then), a chunk every 10 ms.
        fake.script(Reply(text=ANSWER, chunk_size=9, first_token_delay=0.3, chunk_delay=0.01))
        got = stream_chat(stack.api, key, f"latency run {run}")
        answer = "".join(text for _, text in got)
        if answer != ANSWER:
            raise RuntimeError(f"run {run}: answer differs ({len(answer)} chars)")
        request = fake.chat_requests()[-1]
        sizes = [len(ANSWER[i : i + 9]) for i in range(0, len(ANSWER), 9)]
        delays = chunk_delays(request.chunk_times, sizes, got)
        firsts.append(delays[0])
        every.extend(delays)
    ms = sorted(d * 1000 for d in every)
    return {
        "runs": runs,
        "first_token_ms": {
            "median": round(statistics.median(firsts) * 1000, 1),
            "max": round(max(firsts) * 1000, 1),
        },
        "chunk_ms": {
            "p50": round(ms[len(ms) // 2], 1),
            "p95": round(ms[int(len(ms) * 0.95)], 1),
            "max": round(ms[-1], 1),
        },
        "client_events_per_run": round(len(every) / runs, 1),
    }


def kill_mid_stream(stack: Stack, fake: FakeLLMServer, key: str) -> dict[str, Any]:
    """Kill the worker while the model streams; the turn must still end with the whole answer
    shown once."""
    fake.reset()
    fake.script(Reply(text=ANSWER, chunk_size=9, chunk_delay=0.01), node="llm")
    fake.script(Reply(text=ANSWER, chunk_size=9, chunk_delay=0.02, stall_after=40), times=1)
    workers = [p for p, cmd in processes_with_data_dir(stack.data_dir).items() if "worker" in cmd]
    killed = threading.Event()
    kill_time: list[float] = []

    def on_message(count: int) -> None:
        if count >= 20 and not killed.is_set():
            killed.set()
            kill_time.append(time.monotonic())
            for pid in workers:
                os.kill(pid, signal.SIGKILL)

    got = stream_chat(stack.api, key, "kill run", on_message)
    answer = "".join(text for _, text in got if not text.startswith("<"))
    return {
        "worker_killed": killed.is_set(),
        "model_calls": len(fake.chat_requests()),
        "answer_exact": answer == ANSWER,
        "duplicated_chars": max(0, len(answer) - len(ANSWER)),
        "replaced": any(text == "<message_replace>" for _, text in got),
        "seconds_from_kill_to_end": round(time.monotonic() - kill_time[0], 1)
        if kill_time
        else None,
    }


def main() -> None:
    """Run both measurements and print a JSON report."""
    parser = argparse.ArgumentParser(description="Token streaming benchmark (see the module doc).")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--skip-kill", action="store_true")
    args = parser.parse_args()
    fake = start_fake_llm_server()
    with tempfile.TemporaryDirectory(prefix="tideflow-bench-") as work:
        stack = start_stack(Path(work), {"TIDEFLOW_MODEL_GATEWAY_URL": fake.base_url})
        try:
            key = app_key(stack, APP)
            stream_chat(stack.api, key, "warm up")
            report: dict[str, Any] = {
                "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
                "latency": latency(stack, fake, key, args.runs),
            }
            if not args.skip_kill:
                report["kill_mid_stream"] = kill_mid_stream(stack, fake, key)
        finally:
            stop_stack(stack)
            fake.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
