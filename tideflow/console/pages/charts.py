"""Charts: the chosen app's recent runs over time: latency, tokens, and how many ended how."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, cast

import streamlit as st

from tideflow.console.common import api, attempt, selected_app

# The newest runs charted (one page of the runs list).
RECENT = 100


def render() -> None:
    """Latency and tokens per run, oldest to newest."""
    st.title("Charts")
    app = selected_app()
    if app is None:
        return
    app_id = str(app["id"])
    listed = attempt(
        lambda: api().get(f"/console/api/apps/{app_id}/workflow-runs", limit=RECENT), "runs"
    )
    if listed is None:
        return
    runs = [r for r in cast(list[dict[str, Any]], listed["data"]) if r.get("created_at")]
    if not runs:
        st.info("No runs yet: run the app, then come back for its charts.")
        return
    runs.reverse()  # oldest first
    ended = [r for r in runs if r["status"] != "running"]
    counts = Counter(str(r["status"]) for r in runs)
    total, failed = len(runs), counts.get("failed", 0)
    cols = st.columns(4)
    cols[0].metric("Runs", total)
    cols[1].metric("Succeeded", f"{counts.get('succeeded', 0) / total:.0%}")
    mean = sum(float(r["elapsed_time"]) for r in ended) / len(ended) if ended else 0.0
    cols[2].metric("Mean latency", f"{mean:.2f} s")
    cols[3].metric("Tokens", sum(int(r["total_tokens"]) for r in runs))
    st.caption(f"The newest {total} runs ({failed} failed).")
    started = [datetime.fromtimestamp(r["created_at"]) for r in ended]
    st.subheader("Latency")
    latency = {"started": started, "latency (s)": [float(r["elapsed_time"]) for r in ended]}
    # A line through one run draws nothing: a lone run is a point.
    if len(ended) > 1:
        st.line_chart(latency, x="started", y="latency (s)", height=260)  # pyright: ignore[reportUnknownMemberType]
    else:
        st.scatter_chart(latency, x="started", y="latency (s)", height=260)  # pyright: ignore[reportUnknownMemberType]
    st.subheader("Tokens")
    st.bar_chart(  # pyright: ignore[reportUnknownMemberType]
        {"started": started, "tokens": [int(r["total_tokens"]) for r in ended]},
        x="started",
        y="tokens",
        height=260,
    )
    st.subheader("Runs by status")
    by_status = {"status": list(counts), "runs": list(counts.values())}
    st.bar_chart(by_status, x="status", y="runs")  # pyright: ignore[reportUnknownMemberType]
