"""What publishing (and unpublishing) an app does to its triggers.

A published workflow app whose root node is ``trigger-webhook`` gets a webhook URL
(``tideflow.platform.webhooks``); one whose root is ``trigger-schedule`` gets a Temporal
Schedule (``tideflow.platform.schedules``). Publishing a version without such a node removes
what an earlier version had.
"""

from __future__ import annotations

from sqlmodel import Session
from temporalio.client import Client

from tideflow.platform import schedules, webhooks
from tideflow.platform.db.models import App
from tideflow.platform.settings import Settings
from tideflow.workflows.graph.plan import ExecutionPlan


async def on_publish(
    session: Session, settings: Settings, client: Client, app: App, plan: ExecutionPlan
) -> None:
    """Bring the app's webhook and schedule in line with the newly published plan."""
    webhooks.sync_webhook(session, settings, app, plan)
    await schedules.sync_schedule(client, settings, app, plan)


async def on_unpublish(session: Session, settings: Settings, client: Client, app: App) -> None:
    """The app is unpublished or deleted: its webhook stops answering, its schedule goes."""
    webhooks.remove_webhook(session, app)
    await schedules.remove_schedule(client, settings, app)
