"""Webhook triggers: which published app a webhook URL starts, its signing secret, and the
delivery ids it has already accepted.

Publishing a workflow app whose root node is ``trigger-webhook`` creates its ``WebhookTrigger``
row, or enables the one an earlier version had: the ``webhook_id`` is the URL and never
changes. A version without one (or unpublishing) disables the row, so a later republish gets
the same URL back.

A webhook with a secret accepts only signed requests: ``X-Tideflow-Timestamp`` (unix seconds,
within ``SIGNATURE_TOLERANCE_S`` of now) and ``X-Tideflow-Signature: sha256=<hex>``, the
HMAC-SHA256 with the secret of ``f"{timestamp}."`` followed by the raw body.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from tideflow.platform.db.models import App
from tideflow.platform.db.trigger_models import WebhookDelivery, WebhookTrigger
from tideflow.platform.security import decrypt_secret, encrypt_secret
from tideflow.platform.settings import Settings
from tideflow.workflows.graph.plan import ExecutionPlan

WEBHOOK_NODE = "trigger-webhook"
SIGNATURE_HEADER = "x-tideflow-signature"
TIMESTAMP_HEADER = "x-tideflow-timestamp"
SIGNATURE_TOLERANCE_S = 300
# Headers that carry a delivery id, in the order they are looked at.
DELIVERY_HEADERS = ("x-tideflow-delivery", "x-github-delivery", "idempotency-key")


def webhook_root(plan: ExecutionPlan) -> str | None:
    """The id of the plan's ``trigger-webhook`` root node, if a workflow plan has one."""
    root = plan.nodes.get(plan.root_id)
    if plan.mode != "workflow" or root is None or root.type != WEBHOOK_NODE:
        return None
    return root.id


def app_webhook(session: Session, app: App) -> WebhookTrigger | None:
    """The app's webhook row (enabled or not)."""
    query = select(WebhookTrigger).where(WebhookTrigger.app_id == app.id)
    return session.exec(query).first()


def find_webhook(session: Session, webhook_id: str) -> WebhookTrigger | None:
    """The enabled webhook a URL names."""
    query = select(WebhookTrigger).where(
        WebhookTrigger.webhook_id == webhook_id,
        WebhookTrigger.enabled == True,  # noqa: E712
    )
    return session.exec(query).first()


def sync_webhook(session: Session, settings: Settings, app: App, plan: ExecutionPlan) -> None:
    """Bring the app's webhook in line with the newly published ``plan`` (see the module doc)."""
    del settings  # the URL's base is read when it is shown
    node_id = webhook_root(plan)
    row = app_webhook(session, app)
    if node_id is None:
        if row is not None and row.enabled:
            row.enabled = False
            session.add(row)
            session.commit()
        return
    if row is None:
        row = WebhookTrigger(
            tenant_id=app.tenant_id, app_id=app.id, node_id=node_id, webhook_id=new_webhook_id()
        )
    row.node_id, row.enabled = node_id, True
    session.add(row)
    session.commit()


def remove_webhook(session: Session, app: App) -> None:
    """The app is unpublished or deleted: its webhook stops answering (its URL is kept)."""
    row = app_webhook(session, app)
    if row is not None:
        row.enabled = False
        session.add(row)
        session.commit()


def new_webhook_id() -> str:
    """An unguessable URL id (24 URL-safe characters, 144 bits)."""
    return secrets.token_urlsafe(18)


def webhook_url(settings: Settings, row: WebhookTrigger) -> str:
    """The webhook's public URL."""
    return f"{settings.api_base_url.rstrip('/')}/triggers/webhook/{row.webhook_id}"


def rotate_secret(session: Session, settings: Settings, row: WebhookTrigger) -> str:
    """A new signing secret, stored encrypted; the clear value is returned (shown once)."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    row.encrypted_secret = encrypt_secret(secret, settings.secret_key)
    session.add(row)
    session.commit()
    return secret


def clear_secret(session: Session, row: WebhookTrigger) -> None:
    """Stop requiring signatures."""
    row.encrypted_secret = None
    session.add(row)
    session.commit()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Tideflow-Signature`` value for a body sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signature_problem(
    settings: Settings, row: WebhookTrigger, headers: Mapping[str, str], body: bytes
) -> str | None:
    """Why a request to a signed webhook is refused (None: it is signed correctly)."""
    if row.encrypted_secret is None:
        return None
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if not timestamp:
        return "the X-Tideflow-Timestamp header is missing"
    if not signature:
        return "the X-Tideflow-Signature header is missing"
    if not timestamp.isdigit():
        return "the X-Tideflow-Timestamp header is not unix seconds"
    if abs(time.time() - int(timestamp)) > SIGNATURE_TOLERANCE_S:
        return (
            f"the X-Tideflow-Timestamp header is more than {SIGNATURE_TOLERANCE_S} s away "
            "from now (a stale or replayed request)"
        )
    try:
        secret = decrypt_secret(row.encrypted_secret, settings.secret_key)
    except ValueError:  # set under another TIDEFLOW_SECRET_KEY: no request can be checked
        return "the webhook's signing secret cannot be read on this server; set a new one"
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return "the X-Tideflow-Signature header does not match the body and timestamp"
    return None


def delivery_id_of(headers: Mapping[str, str]) -> str | None:
    """The request's delivery id, if a sender gave one."""
    for name in DELIVERY_HEADERS:
        value = headers.get(name)
        if value and value.strip():
            return value.strip()
    return None


def delivery_key(row: WebhookTrigger, delivery_id: str) -> str:
    """The run's idempotency key for one delivery: a redelivery maps to the same run."""
    return f"webhook:{row.webhook_id}:{delivery_id}"


def earlier_delivery(session: Session, row: WebhookTrigger, delivery_id: str) -> str | None:
    """The run id an earlier delivery with this id started."""
    query = select(WebhookDelivery.run_id).where(
        WebhookDelivery.webhook_id == row.webhook_id, WebhookDelivery.delivery_id == delivery_id
    )
    return session.exec(query).first()


def record_delivery(session: Session, row: WebhookTrigger, delivery_id: str, run_id: str) -> None:
    """Remember that ``delivery_id`` started ``run_id`` (a concurrent record is kept)."""
    session.add(WebhookDelivery(webhook_id=row.webhook_id, delivery_id=delivery_id, run_id=run_id))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
