"""Settings, Schedules and Webhooks: the controls of a published app's Schedule trigger (a
Temporal Schedule) and its webhook URL and signing secret."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tideflow.console.common import api, attempt, selected_app
from tideflow.console.settings_fetch import (
    as_dict,
    flash,
    get_if_any,
    rows,
    show_flash,
    strings,
    succeeded,
)


def render_schedule() -> None:
    """The selected app's schedule: timetable, state, next and recent firings, controls."""
    show_flash("schedule")
    app = selected_app("App")
    if app is None:
        return
    path = f"/console/api/apps/{app['id']}/schedule"
    schedule = get_if_any(path, "schedule")
    if schedule is None:
        st.caption("Publish a workflow whose root is a Schedule trigger to get one.")
        return
    timetable, state = st.columns(2)
    timetable.markdown(f"**Cron** `{schedule.get('cron_expression')}` · {schedule.get('timezone')}")
    timetable.caption(
        f"overlap: {schedule.get('overlap')} · fired {schedule.get('num_actions')} times"
    )
    if schedule.get("paused"):
        state.warning(f"Paused: {schedule.get('note') or 'no note'}")
    else:
        state.success("Active")
    upcoming, recent = st.columns(2)
    upcoming.markdown("**Next runs**")
    for moment in strings(schedule.get("next_run_times")):
        upcoming.caption(str(moment))
    recent.markdown("**Recent runs**")
    for action in rows(schedule, "recent_actions"):
        recent.caption(f"{action.get('scheduled_at')} · {action.get('workflow_id')}")
    _schedule_controls(path, bool(schedule.get("paused")))


def _schedule_controls(path: str, paused: bool) -> None:
    note, pause, resume, trigger = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
    why = note.text_input("Pause note", key="schedule-note", placeholder="why it is paused")
    if pause.button("Pause", disabled=paused) and succeeded(
        lambda: api().post(f"{path}/pause", {"note": why}), "pause"
    ):
        flash("schedule", "success", "Paused")
        st.rerun()
    if resume.button("Resume", disabled=not paused) and succeeded(
        lambda: api().post(f"{path}/resume"), "resume"
    ):
        flash("schedule", "success", "Resumed")
        st.rerun()
    if trigger.button("Run now") and succeeded(lambda: api().post(f"{path}/trigger"), "run now"):
        flash("schedule", "success", "Started a run: see it on the Runs page")
        st.rerun()


def render_webhook() -> None:
    """The selected app's webhook URL; a new signing secret (shown once) or none."""
    app = selected_app("App")
    if app is None:
        return
    path = f"/console/api/apps/{app['id']}/triggers/webhook"
    hook = get_if_any(path, "webhook")
    if hook is None:
        return
    _webhook(path, hook)


def _webhook(path: str, hook: dict[str, Any]) -> None:
    st.markdown("**Webhook URL**")
    st.code(str(hook.get("url")), language=None)
    enabled = "enabled" if hook.get("enabled") else "disabled"
    signed = "requests must be signed" if hook.get("signed") else "requests are not signed"
    st.caption(f"{enabled} · {signed} · node {hook.get('node_id')}")
    rotate, clear = st.columns(2)
    label = "New signing secret" if hook.get("signed") else "Require signed requests"
    if rotate.button(label, key="webhook-rotate"):
        made = as_dict(attempt(lambda: api().post(f"{path}/secret"), "signing secret"))
        if made:
            st.success("Signing secret: copy it now, it is not shown again.")
            st.code(str(made.get("secret")), language=None)
    if (
        hook.get("signed")
        and clear.button("Stop requiring signatures", key="webhook-clear")
        and succeeded(lambda: api().delete(f"{path}/secret"), "delete signing secret")
    ):
        st.rerun()
