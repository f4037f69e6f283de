"""Runs on Temporal as the API sees them: start (idempotently), follow to the end and project
into the app DB, stream as Dify SSE, stop, and reconcile what was left running."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel
from starlette.concurrency import run_in_threadpool
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import CancelledError, TerminatedError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from tideflow.platform import streams
from tideflow.platform.db.crud import runs as crud
from tideflow.platform.db.crud.forms import UNFINISHED_STATUSES
from tideflow.platform.db.models import WorkflowRun
from tideflow.platform.db.session import get_engine
from tideflow.platform.runs.channel import EventChannel, TemporalQueryChannel
from tideflow.platform.runs.relay import Cursor, TokenRelay
from tideflow.platform.runs.sse import PING, DifyEventTranslator, sse_line
from tideflow.platform.runs.views import run_data
from tideflow.platform.settings import Settings
from tideflow.platform.streams import StoredChunk
from tideflow.platform.task_queues import activity_queues
from tideflow.platform.temporal_link import TemporalLink
from tideflow.workflows.engine.models import GraphRunInput, GraphRunResult, RunEvent

log = logging.getLogger("tideflow.api")
T = TypeVar("T")
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c2a8e-4b7d-4e0f-9a53-2d8c7b1e6a40")
TENANT_ID = SearchAttributeKey.for_keyword("TenantId")
APP_ID = SearchAttributeKey.for_keyword("AppId")
_FOLLOW_RETRY_FIRST_S = 0.5
_FOLLOW_RETRY_MAX_S = 30.0
# How often a blocking request looks whether its run has paused on a form.
_PAUSE_POLL_S = 0.25
# How often the followers' statuses are read (one query for all of them).
_STATUS_POLL_S = 1.0
# How often a paused run's workflow is looked at (it may have been ended from outside).
_PAUSED_CHECK_S = 300.0


def workflow_id_of(app_id: str, run_id: str) -> str:
    """The Temporal workflow id of a run: ``app-<app_id>-<run_id>``."""
    return f"app-{app_id}-{run_id}"


def run_id_for(app_id: str, idempotency_key: str | None) -> str:
    """A fresh run id, or the one an idempotency key always maps to for this app."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{app_id}\0{idempotency_key}"))


class _Paused(Exception):
    """The run paused while its end was awaited."""


@dataclass
class RunStart:
    """Everything needed to start (or find again) one run."""

    row: WorkflowRun
    run_input: GraphRunInput
    # Rows inserted with the run's (e.g. the chat turn's message, so its projection finds it).
    companions: list[SQLModel] = field(default_factory=list[SQLModel])


@dataclass
class RunService:
    """Owns the background watchers that project finished runs into the app DB."""

    settings: Settings
    link: TemporalLink
    _watchers: dict[str, asyncio.Task[None]] = field(
        default_factory=dict[str, "asyncio.Task[None]"]
    )
    # Followers waiting for their run's status to become (or leave) "paused": run id ->
    # (whether they wait for paused, the future to resolve). See ``_status_change``.
    _status_waiters: dict[str, tuple[bool, asyncio.Future[None]]] = field(
        default_factory=dict[str, "tuple[bool, asyncio.Future[None]]"]
    )
    _status_poller: asyncio.Task[None] | None = None
    # Runs stopped (or found closed) while paused: their end is awaited without the pause check.
    _closing: set[str] = field(default_factory=set[str])
    # Runs whose end is being awaited with a long poll on Temporal right now.
    long_polls: int = 0

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a crud function with a session of its own, off the event loop."""

        def call() -> T:
            with Session(get_engine(self.settings.db_url)) as session:
                return fn(session, *args)

        return await run_in_threadpool(call)

    def _client(self) -> Client:
        if self.link.client is None:
            raise RuntimeError("Temporal is not connected")
        return self.link.client

    async def start(self, start: RunStart) -> tuple[WorkflowRun, bool]:
        """Record and start the run; an idempotent resubmission returns the first run."""
        row, created = await self.db(crud.claim_run, start.row, start.companions)
        if created or row.status in UNFINISHED_STATUSES:
            await self._ensure_started(row, start.run_input)
            self.watch(row)
        return row, created

    async def _ensure_started(self, row: WorkflowRun, run_input: GraphRunInput) -> None:
        attributes = TypedSearchAttributes(
            [SearchAttributePair(TENANT_ID, row.tenant_id), SearchAttributePair(APP_ID, row.app_id)]
        )
        if not run_input.activity_queues:  # the worker pools' queues, as this API's settings say
            run_input = run_input.model_copy(
                update={"activity_queues": activity_queues(self.settings)}
            )
        with contextlib.suppress(WorkflowAlreadyStartedError):  # already ran to its end
            await self._client().start_workflow(
                "GraphWorkflow",
                run_input,
                id=row.temporal_workflow_id,
                task_queue=self.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=attributes,
            )

    def watch(self, row: WorkflowRun) -> asyncio.Future[None]:
        """The (one) background task that waits for the run's end and projects it; an
        already-done future for a run that has ended (it is projected once only)."""
        task = self._watchers.get(row.id)
        if task is None and row.status not in UNFINISHED_STATUSES:
            ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            ended.set_result(None)
            return ended
        if task is None:
            task = asyncio.create_task(self._follow(row.id, row.temporal_workflow_id))
            self._watchers[row.id] = task
            task.add_done_callback(lambda _t: self._forget(row.id))
        return task

    def _forget(self, run_id: str) -> None:
        self._watchers.pop(run_id, None)
        self._closing.discard(run_id)

    async def _follow(self, run_id: str, workflow_id: str) -> None:
        """Wait for the result and project it; transient RPC errors are retried (with a
        bounded backoff) until a result, a failure or NOT_FOUND, never left running.

        The wait is a long poll on Temporal, which allows about 1,200 at once per namespace:
        while the run is paused on a human-input form (for days, maybe), it holds none; the
        status is watched instead, with one query a second for all such runs.
        """
        delay = _FOLLOW_RETRY_FIRST_S
        while True:
            handle = self._client().get_workflow_handle(workflow_id, result_type=GraphRunResult)
            await self._while_paused(run_id, handle)
            try:
                if run_id in self._closing:
                    result = await handle.result()
                else:
                    result = await self._result_unless_paused(run_id, handle)
            except _Paused:
                continue
            except WorkflowFailureError as err:
                stopped = isinstance(err.cause, CancelledError | TerminatedError)
                message = str(err.cause or err)
                await self.db(crud.fail_run, run_id, "stopped" if stopped else "failed", message)
                return
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    error = "the run's workflow does not exist"
                    await self.db(crud.fail_run, run_id, "failed", error)
                    return
                log.warning("cannot follow run %s (retrying in %.1fs): %s", run_id, delay, err)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _FOLLOW_RETRY_MAX_S)
                continue
            await self.db(crud.project_result, run_id, result)
            return

    async def _while_paused(self, run_id: str, handle: Any) -> None:
        """Return once the run is not paused (at once if it is not), or its workflow closed
        (stopped from the Temporal UI, say: looked at every ``_PAUSED_CHECK_S``)."""
        while run_id not in self._closing:
            try:
                await asyncio.wait_for(
                    self._status_change(run_id, paused=False), timeout=_PAUSED_CHECK_S
                )
                return
            except TimeoutError:
                with contextlib.suppress(RPCError):
                    description = await handle.describe()
                    if description.status != WorkflowExecutionStatus.RUNNING:
                        self._closing.add(run_id)

    def _wake(self, run_id: str) -> None:
        """The run is being stopped: its follower awaits the end now, paused or not."""
        if run_id in self._watchers:
            self._closing.add(run_id)
        waiter = self._status_waiters.get(run_id)
        if waiter is not None and not waiter[1].done():
            waiter[1].set_result(None)

    async def _result_unless_paused(self, run_id: str, handle: Any) -> GraphRunResult:
        """The run's result; ``_Paused`` (the long poll released) when it pauses first."""
        self.long_polls += 1
        result = asyncio.ensure_future(handle.result())
        paused = asyncio.ensure_future(self._status_change(run_id, paused=True))
        try:
            await asyncio.wait({result, paused}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.long_polls -= 1
            for task in (result, paused):
                if not task.done():
                    task.cancel()
        if result.done():
            return result.result()
        raise _Paused

    async def _status_change(self, run_id: str, *, paused: bool) -> None:
        """Until the run's stored status is "paused" (``paused``) or anything else."""
        status = await self.db(crud.run_status, run_id)
        if (status == "paused") == paused:
            return
        future = asyncio.get_running_loop().create_future()
        self._status_waiters[run_id] = (paused, future)
        if self._status_poller is None or self._status_poller.done():
            self._status_poller = asyncio.create_task(self._poll_statuses())
        try:
            await future
        finally:
            if self._status_waiters.get(run_id, (False, None))[1] is future:
                del self._status_waiters[run_id]

    async def _poll_statuses(self) -> None:
        """Read the waiting followers' statuses together, once a second, while there are any."""
        while self._status_waiters:
            await asyncio.sleep(_STATUS_POLL_S)
            wanted = dict(self._status_waiters)
            try:
                statuses = await self.db(crud.run_statuses, list(wanted))
            except Exception as err:  # the database restarting: try again next time
                log.warning("cannot read run statuses: %s", err)
                continue
            for run_id, (paused, future) in wanted.items():
                status = statuses.get(run_id)
                # A run whose row is gone (its app deleted) is not paused: its end is awaited.
                changed = (status == "paused") == paused if status is not None else not paused
                if changed and not future.done():
                    future.set_result(None)

    async def wait_or_pause(self, row: WorkflowRun) -> WorkflowRun:
        """The run's record as soon as it waits on a human-input form, else once it ended."""
        watcher = self.watch(row)
        while not watcher.done():
            current = await self.db(Session.get, WorkflowRun, row.id)
            if current is not None and current.status == "paused":
                return current
            await asyncio.wait({watcher}, timeout=_PAUSE_POLL_S)
        return await self.wait(row)

    async def wait(self, row: WorkflowRun) -> WorkflowRun:
        """The run's record once it has ended and been projected."""
        await asyncio.shield(self.watch(row))
        ended = await self.db(Session.get, WorkflowRun, row.id)
        return ended or row

    async def stop(self, row: WorkflowRun) -> None:
        """Cancel the run's workflow (it ends ``stopped``); a finished run is left alone."""
        with contextlib.suppress(RPCError):
            await self._client().get_workflow_handle(row.temporal_workflow_id).cancel()
        self._wake(row.id)  # a paused run's follower long-polls again, for the stopped end

    async def reconcile(self) -> int:
        """Follow every run still marked running (after a restart); returns how many.

        Token chunks over a day old are deleted first (runs whose end was never projected).
        """
        await self.db(crud.delete_stale_chunks)
        while self.link.client is None:
            await asyncio.sleep(0.2)
        rows = await self.db(crud.unfinished_runs)
        for row in rows:
            self.watch(row)
        return len(rows)

    async def close(self) -> None:
        """Cancel the watchers (their runs are reconciled at the next start)."""
        tasks = list(self._watchers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def channel(self) -> EventChannel:
        """Where run events are read from."""
        return TemporalQueryChannel(self._client())

    async def stream(
        self,
        row: WorkflowRun,
        translator: DifyEventTranslator,
        since: int | Cursor = 0,
        *,
        continue_on_pause: bool = False,
    ) -> AsyncIterator[str]:
        """Dify SSE for the run to ``workflow_finished``: from event index ``since``, or after a
        client's cursor (its ``Last-Event-ID``, see ``relay``). Like Dify, the stream closes
        after ``workflow_paused`` while the run waits, unless ``continue_on_pause``."""
        after = since if isinstance(since, Cursor) else Cursor(since - 1)
        try:
            async for line in self._events(row, translator, after, continue_on_pause):
                yield line
        except Exception as exc:  # the stream is open: errors become an ``error`` event
            log.exception("stream of run %s failed", row.id)
            yield sse_line(
                {
                    "event": "error",
                    "status": 500,
                    "code": "internal_server_error",
                    "message": str(exc),
                }
            )

    async def _events(
        self,
        row: WorkflowRun,
        translator: DifyEventTranslator,
        after: Cursor,
        continue_on_pause: bool,
    ) -> AsyncIterator[str]:
        channel, watcher = self.channel(), self.watch(row)
        relay = TokenRelay(translator, self.read_chunks, row.id, after)
        loop = asyncio.get_running_loop()
        index, last_sent = 0, loop.time()
        finished: RunEvent | None = None
        while finished is None:
            ended = watcher.done()  # before the poll: an ended run has recorded all it will
            events = await _poll(channel, row.temporal_workflow_id, index)
            for event in events:
                index = event.index + 1
                if event.event == "workflow_finished":
                    finished = event
                    break
                for line in await relay.on_event(event):
                    yield line
                    last_sent = loop.time()
                # Paused and nothing recorded since: the run waits for a person.
                paused = event.event == "workflow_paused" and event is events[-1]
                if paused and not continue_on_pause:
                    return
            if finished is None and not events and ended:
                break  # the run ended without recording workflow_finished (it failed outright)
            if finished is None:
                if loop.time() - last_sent >= self.settings.sse_ping_interval_s:
                    yield PING
                    last_sent = loop.time()
                async for line in self._live(relay):
                    yield line
                    last_sent = loop.time()
        for line in relay.finish():
            yield line
        # workflow_finished has the recorded event's id, or the next one when it was not
        # recorded; a client that has seen it gets nothing more.
        event_id = finished.index if finished is not None else index
        if event_id > after.event:
            for line in await self._closing_lines(row, translator, finished, event_id):
                yield line

    async def _live(self, relay: TokenRelay) -> AsyncIterator[str]:
        """Until the next poll of the run's events: the streaming model's chunks, polled at
        their own (faster) cadence while there is one, else nothing."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.settings.event_poll_interval_s
        while relay.polling and loop.time() < until:
            for line in await relay.pull():
                yield line
            await asyncio.sleep(self.settings.stream_poll_interval_s)
        await asyncio.sleep(max(0.0, until - loop.time()))

    async def read_chunks(self, run_id: str, after_seq: int, node_id: str) -> list[StoredChunk]:
        """A node's chunks in the stream store (none while the store cannot be read: the
        node's value, streamed by the workflow, makes up for what is missed)."""
        try:
            return await run_in_threadpool(
                streams.read_chunks, self.settings.db_url, run_id, after_seq, node_id
            )
        except SQLAlchemyError as err:
            log.warning("cannot read the token stream of run %s: %s", run_id, err)
            return []

    async def _cited(self, run_id: str) -> list[Any]:
        """The knowledge chunks the run's LLM nodes cited (none while the database cannot
        be read: the answer stands without its citations)."""
        try:
            return (await self.db(crud.retriever_resources, [run_id]))[run_id]
        except SQLAlchemyError as err:
            log.warning("cannot read the citations of run %s: %s", run_id, err)
            return []

    async def _closing_lines(
        self,
        row: WorkflowRun,
        translator: DifyEventTranslator,
        finished: RunEvent | None,
        event_id: int,
    ) -> list[str]:
        """``workflow_finished`` (with the event id) and what the translator puts around it,
        once the run's end is projected (the record gives what the event does not)."""
        ended = await self.wait(row)
        if translator.cites_knowledge:
            translator.retriever_resources = await self._cited(ended.id)
        payload = translator.finished(finished, run_data(ended, translator.secrets).model_dump())
        lines: list[str] = []
        for item in translator.closing(payload, ended):
            is_finished = item["event"] == "workflow_finished"
            lines.append(sse_line(item, event_id if is_finished else None))
        return lines


async def _poll(channel: EventChannel, workflow_id: str, since: int) -> list[RunEvent]:
    """Events from ``since``; none while the workflow cannot answer yet (or any more)."""
    try:
        return await channel.events(workflow_id, since)
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as err:
        log.debug("events of %s not readable yet: %s", workflow_id, err)
        return []
