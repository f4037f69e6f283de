"""Run records: written when a run starts, projected from its result when it ends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from tideflow.platform.db.crud.conversations import finish_turn
from tideflow.platform.db.crud.forms import UNFINISHED_STATUSES, stop_forms
from tideflow.platform.db.model_models import StreamChunk
from tideflow.platform.db.models import App, EndUser, NodeExecution, WorkflowRun, utcnow
from tideflow.platform.stored_secrets import mask_run_result
from tideflow.workflows.engine.models import GraphRunResult

# Who a service request without ``user`` acts as (Dify's fallback).
DEFAULT_USER = "DEFAULT-USER"


def end_user(session: Session, app: App, session_id: str) -> EndUser:
    """The app's end user for a ``user`` string, created on first sight."""
    query = select(EndUser).where(EndUser.app_id == app.id, EndUser.session_id == session_id)
    found = session.exec(query).first()
    if found is not None:
        return found
    user = EndUser(tenant_id=app.tenant_id, app_id=app.id, session_id=session_id)
    session.add(user)
    try:
        session.commit()
    except IntegrityError:  # created meanwhile by a concurrent request
        session.rollback()
        return session.exec(query).one()
    session.refresh(user)
    return user


def claim_run(
    session: Session, run: WorkflowRun, companions: Sequence[SQLModel] = ()
) -> tuple[WorkflowRun, bool]:
    """Insert ``run`` (and rows that refer to it, e.g. a chat turn's message, in the same
    commit); with an idempotency key already used, the earlier run and False."""
    if run.idempotency_key is not None:
        earlier = idempotent_run(session, run.app_id, run.idempotency_key)
        if earlier is not None:
            return earlier, False
    session.add(run)
    try:
        if companions:
            session.flush()  # the run row first: the companions' foreign keys point at it
            session.add_all(companions)
        session.commit()
    except IntegrityError:  # a concurrent request with the same key inserted first
        session.rollback()
        earlier = idempotent_run(session, run.app_id, run.idempotency_key or "")
        if earlier is None:
            raise
        return earlier, False
    session.refresh(run)
    return run, True


def idempotent_run(session: Session, app_id: str, key: str) -> WorkflowRun | None:
    """The run an idempotency key started."""
    query = select(WorkflowRun).where(
        WorkflowRun.app_id == app_id, WorkflowRun.idempotency_key == key
    )
    return session.exec(query).first()


def get_run(session: Session, app: App, run_id: str) -> WorkflowRun | None:
    """One of the app's runs."""
    run = session.get(WorkflowRun, run_id)
    return run if run is not None and run.app_id == app.id else None


def node_executions(session: Session, run_id: str) -> list[NodeExecution]:
    """A run's node executions in completion order."""
    query = (
        select(NodeExecution)
        .where(NodeExecution.run_id == run_id)
        .order_by(col(NodeExecution.index))
    )
    return list(session.exec(query))


def retriever_resources(session: Session, run_ids: Sequence[str]) -> dict[str, list[Any]]:
    """The knowledge chunks each run's LLM nodes cited (their ``retriever_resources``), by
    run id, in the order the nodes finished: what a chat answer's metadata lists."""
    return _collected(
        session, run_ids, lambda e: (e.execution_metadata or {}).get("retriever_resources")
    )


def agent_logs(session: Session, run_ids: Sequence[str]) -> dict[str, list[Any]]:
    """The log (``json`` output) of each run's agent nodes, by run id, in the order the
    nodes finished: an Agent app's thoughts."""
    return _collected(session, run_ids, lambda e: (e.outputs or {}).get("json"), "agent")


def _collected(
    session: Session,
    run_ids: Sequence[str],
    pick: Callable[[NodeExecution], Any],
    node_type: str | None = None,
) -> dict[str, list[Any]]:
    """The lists ``pick`` finds in each run's node executions (of ``node_type``), joined in
    the order the nodes finished, by run id."""
    found: dict[str, list[Any]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return found
    query = select(NodeExecution).where(col(NodeExecution.run_id).in_(run_ids))
    if node_type is not None:
        query = query.where(NodeExecution.node_type == node_type)
    query = query.order_by(col(NodeExecution.run_id), col(NodeExecution.index))
    for execution in session.exec(query):
        items = pick(execution)
        if isinstance(items, list):
            found[execution.run_id].extend(items)  # pyright: ignore[reportUnknownArgumentType]
    return found


@dataclass(frozen=True)
class RunFilter:
    """``GET /workflows/logs`` filters."""

    status: str | None = None
    keyword: str | None = None
    before: datetime | None = None
    after: datetime | None = None
    end_user_session_id: str | None = None


def list_runs(
    session: Session, app: App, where: RunFilter, page: int, limit: int
) -> tuple[list[tuple[WorkflowRun, EndUser | None]], int]:
    """One page of the app's runs, newest first, with their end users; and the total."""
    conditions: list[ColumnElement[bool]] = [col(WorkflowRun.app_id) == app.id]
    if where.status:
        conditions.append(col(WorkflowRun.status) == where.status)
    if where.before:
        conditions.append(col(WorkflowRun.created_at) < where.before)
    if where.after:
        conditions.append(col(WorkflowRun.created_at) > where.after)
    if where.keyword:
        pattern = f"%{where.keyword}%"
        conditions.append(
            cast(WorkflowRun.inputs, Text).ilike(pattern)
            | cast(WorkflowRun.outputs, Text).ilike(pattern)
            | col(WorkflowRun.id).ilike(pattern)
        )
    if where.end_user_session_id:
        conditions.append(col(EndUser.session_id) == where.end_user_session_id)
    joined = select(WorkflowRun, EndUser).outerjoin(
        EndUser, col(EndUser.id) == col(WorkflowRun.end_user_id)
    )
    total = session.exec(
        select(func.count())
        .select_from(WorkflowRun)
        .outerjoin(EndUser, col(EndUser.id) == col(WorkflowRun.end_user_id))
        .where(*conditions)
    ).one()
    rows = session.exec(
        joined.where(*conditions)
        .order_by(col(WorkflowRun.created_at).desc())
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return [(run, user) for run, user in rows], int(total)


def unfinished_runs(session: Session) -> list[WorkflowRun]:
    """Runs still marked running or paused (for reconciliation at API start)."""
    query = select(WorkflowRun).where(col(WorkflowRun.status).in_(UNFINISHED_STATUSES))
    return list(session.exec(query))


def project_result(session: Session, run_id: str, result: GraphRunResult) -> WorkflowRun | None:
    """Write the run's end: status, outputs, counts and its node executions. Only once: a
    run already ended is left as it is (re-projecting would merge the turn's conversation
    variables over later turns' and rewrite its node executions)."""
    run = session.get(WorkflowRun, run_id)
    if run is None or run.status not in UNFINISHED_STATUSES:
        return run
    # Issue 10/3b: secret env values are masked before anything is stored.
    result = mask_run_result(session, run.app_id, result)
    run.status = result.status
    run.outputs = result.outputs
    run.error = result.error
    run.elapsed_s = result.elapsed
    run.total_steps = result.total_steps or len(result.node_runs)
    run.total_tokens = result.total_tokens
    run.usage = result.usage
    run.exceptions_count = result.exceptions_count
    run.finished_at = run.finished_at or utcnow()
    session.exec(delete(NodeExecution).where(col(NodeExecution.run_id) == run_id))
    for index, node in enumerate(result.node_runs, start=1):
        session.add(
            NodeExecution(
                run_id=run_id,
                index=index,
                node_id=node.node_id,
                node_type=node.node_type,
                title=node.title,
                status=node.status,
                inputs=node.inputs,
                outputs=node.outputs,
                process_data=node.process_data,
                error=node.error,
                elapsed_s=node.elapsed,
                attempts=node.attempts,
                execution_metadata=node.execution_metadata,
                container_id=node.container_id,
                container_index=node.container_index,
            )
        )
    session.add(run)
    stop_forms(session, run_id)
    finish_turn(session, run_id, result.status, result.error, result)
    _drop_chunks(session, run_id)
    session.commit()
    session.refresh(run)
    return run


def fail_run(session: Session, run_id: str, status: str, error: str) -> None:
    """Mark a run that produced no result (its workflow vanished, was terminated...)."""
    run = session.get(WorkflowRun, run_id)
    if run is None or run.status not in UNFINISHED_STATUSES:
        return
    run.status, run.error, run.finished_at = status, error, utcnow()
    session.add(run)
    stop_forms(session, run_id)
    finish_turn(session, run_id, status, error, None)
    _drop_chunks(session, run_id)
    session.commit()


def _drop_chunks(session: Session, run_id: str) -> None:
    """The run's token chunks go with its end: the result holds the final text."""
    session.exec(delete(StreamChunk).where(col(StreamChunk.run_id) == run_id))


def delete_stale_chunks(session: Session, max_age: timedelta = timedelta(days=1)) -> int:
    """Delete token chunks older than ``max_age`` (runs whose end was never projected);
    returns how many."""
    cutoff = utcnow() - max_age
    result = session.exec(delete(StreamChunk).where(col(StreamChunk.created_at) < cutoff))
    session.commit()
    return result.rowcount


def run_status(session: Session, run_id: str) -> str | None:
    """A run's stored status (None: no such run)."""
    run = session.get(WorkflowRun, run_id)
    return run.status if run is not None else None


def run_statuses(session: Session, run_ids: Sequence[str]) -> dict[str, str]:
    """The stored statuses of these runs (missing ones left out), in chunks of 500 ids."""
    statuses: dict[str, str] = {}
    for at in range(0, len(run_ids), 500):
        chunk = list(run_ids[at : at + 500])
        query = select(WorkflowRun.id, WorkflowRun.status).where(col(WorkflowRun.id).in_(chunk))
        statuses.update(dict(session.exec(query).all()))
    return statuses
