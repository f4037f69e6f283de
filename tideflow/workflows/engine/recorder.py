"""Records a run's events, node runs and streamed answer in order."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from tideflow.workflows.engine.models import NodeRun, RunEvent, RunStatus

# Temporal refuses a payload over 2 MiB (the workflow task then fails and is retried forever),
# so what the run keeps for its records is bounded. The variable pool keeps full values.
# Each inputs / outputs / process_data (or variable value) of a record or event, in JSON bytes:
VALUE_BUDGET = 64 * 1024
# Event fields bounded to VALUE_BUDGET; each gets a ``<field>_truncated`` flag when cut.
BOUNDED_FIELDS = ("inputs", "outputs", "process_data", "value", "execution_metadata")
# What one ``events`` query answers at most (at least one event; the caller asks again).
EVENTS_PAGE_BUDGET = 1024 * 1024


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (non-JSON values as their ``str``)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode())


def _cut_text(text: str, budget: int) -> str:
    return text.encode()[: max(0, budget)].decode(errors="ignore")


def preview(value: Any, budget: int) -> Any:
    """``value`` cut down to about ``budget`` JSON bytes, keeping its shape (a pure function).

    Strings keep their beginning, lists their first items, objects their first keys; each part
    gets what is left of the budget.
    """
    if json_size(value) <= budget:
        return value
    if isinstance(value, str):
        return _cut_text(value, budget - 2)
    if isinstance(value, (list, tuple)):
        items: list[Any] = []
        left = budget - 2
        for item in cast(Sequence[Any], value):
            if left <= 16:
                break
            cut = preview(item, left - 1)
            items.append(cut)
            left -= json_size(cut) + 1
        return items
    if isinstance(value, dict):
        kept: dict[str, Any] = {}
        left = budget - 2
        entries = list(cast(dict[Any, Any], value).items())
        for position, (key, item) in enumerate(entries):
            name = str(key)
            overhead = json_size(name) + 2
            if left - overhead <= 16:
                break
            # Share what is left among the remaining keys, so one big value does not starve
            # the others (a small one leaves its unused share to the next).
            share = max((left - overhead) // (len(entries) - position), 16)
            cut = preview(item, share)
            kept[name] = cut
            left -= overhead + json_size(cut)
        return kept
    return _cut_text(str(value), budget - 2)  # a large number or an unknown object


def bound(value: dict[str, Any], budget: int = VALUE_BUDGET) -> tuple[dict[str, Any], bool]:
    """(``value`` or its preview within ``budget`` JSON bytes, whether it was cut)."""
    if json_size(value) <= max(budget, 2):
        return value, False
    return preview(value, budget), True


def bound_node_run(run: NodeRun, budget: int = VALUE_BUDGET) -> None:
    """Cut the record's inputs, outputs, process_data (flags set) and execution_metadata."""
    run.inputs, cut = bound(run.inputs, budget)
    run.inputs_truncated = run.inputs_truncated or cut
    run.outputs, cut = bound(run.outputs, budget)
    run.outputs_truncated = run.outputs_truncated or cut
    run.process_data, cut = bound(run.process_data, budget)
    run.process_data_truncated = run.process_data_truncated or cut
    # Usage entries are small; retriever resources can be long (a preview, unflagged).
    run.execution_metadata = bound(run.execution_metadata, budget)[0]


# LLMUsage fields a run sums over its model calls.
_TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
_PRICE_FIELDS = ("prompt_price", "completion_price", "total_price")


def _price(value: Any) -> Decimal:
    """A price as Dify writes it (a decimal string); anything else counts as 0."""
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def epoch(moment: datetime) -> int:
    """Whole epoch seconds (Dify's ``created_at`` / ``finished_at``)."""
    return int(moment.timestamp())


class RunRecorder:
    """Append-only log of a run; ``events_since`` feeds the SSE stream.

    ``start`` gives it the run id and the executor's clock; until then events carry time 0.
    """

    def __init__(self) -> None:
        self.events: list[RunEvent] = []
        self.node_runs: list[NodeRun] = []
        self.answer_parts: list[str] = []
        self.exceptions_count = 0
        self.run_id = ""
        self.clock: Callable[[], datetime] | None = None
        self.started_at: datetime | None = None
        self.node_count = 0
        # The top-level End nodes' outputs, merged in the order they finished (full values:
        # they are the run's product).
        self.outputs: dict[str, Any] = {}
        # Tokens the run's model calls used (Dify's workflow ``total_tokens``), and the sum of
        # their usage by field (see ``usage``).
        self.total_tokens = 0
        self._usage: dict[str, Decimal | int] = {}
        self._currency = "USD"
        self._sizes: list[int] = []

    def start(self, run_id: str, clock: Callable[[], datetime]) -> datetime:
        """The run begins: remember its id and clock; returns the start time."""
        self.run_id, self.clock = run_id, clock
        self.started_at = clock()
        return self.started_at

    def now(self) -> int:
        """The executor clock in epoch seconds (0 before ``start``)."""
        return epoch(self.clock()) if self.clock else 0

    def next_node_index(self) -> int:
        """Execution order of the node starting now (from 1, over the whole run)."""
        self.node_count += 1
        return self.node_count

    def emit(self, event: str, node_id: str | None = None, **data: Any) -> None:
        """Append one event; its inputs, outputs, process_data and value are bounded (a cut
        one gets ``<field>_truncated: True``; the flag is absent otherwise).

        ``workflow_finished`` keeps its outputs (the run checks their size before it ends).
        """
        if event != "workflow_finished":
            for field in BOUNDED_FIELDS:
                if field not in data:
                    continue
                value = data[field]
                if json_size(value) > VALUE_BUDGET:
                    data[field] = preview(value, VALUE_BUDGET)
                    data[f"{field}_truncated"] = True
        record = RunEvent(
            index=len(self.events),
            event=event,
            node_id=node_id,
            data=data,
            created_at=self.now(),
        )
        self.events.append(record)
        self._sizes.append(json_size(data))

    def add_usage(self, run: NodeRun, usage: dict[str, Any]) -> None:
        """A model call of ``run`` with Dify's LLMUsage fields: its tokens and price join the
        node's execution_metadata (``total_tokens``, ``total_price``, ``currency``) and the
        run's sums (``total_tokens``, ``usage``)."""
        tokens = int(usage.get("total_tokens") or 0)
        meta = run.execution_metadata
        node_price = _price(meta.get("total_price")) + _price(usage.get("total_price"))
        meta["total_tokens"] = int(meta.get("total_tokens") or 0) + tokens
        meta["total_price"] = str(node_price)
        meta["currency"] = self._currency = str(usage.get("currency") or "USD")
        self.total_tokens += tokens
        for key in _TOKEN_FIELDS:
            self._usage[key] = int(self._usage.get(key, 0)) + int(usage.get(key) or 0)
        for key in _PRICE_FIELDS:
            self._usage[key] = _price(self._usage.get(key)) + _price(usage.get(key))

    @property
    def usage(self) -> dict[str, Any]:
        """The run's model usage so far: token counts and prices (decimal strings) summed over
        its calls, with their currency; empty when no model was called."""
        if not self._usage:
            return {}
        summed = {
            key: value if isinstance(value, int) else str(value)
            for key, value in self._usage.items()
        }
        return {**summed, "currency": self._currency}

    def node_started(self, node_id: str, fields: dict[str, Any], inputs: dict[str, Any]) -> None:
        """The ``node_started`` event (``inputs`` bounded like every record's)."""
        self.emit("node_started", node_id, **fields, inputs=inputs)

    def node_finished(self, run: NodeRun, fields: dict[str, Any]) -> None:
        """Keep the node's record, its values bounded, and emit ``node_finished``.

        A top-level End node that succeeded adds its full outputs to the run's ``outputs``.
        """
        if run.node_type == "end" and run.status == "succeeded" and run.container_id is None:
            self.outputs.update(run.outputs)
        bound_node_run(run)
        self.node_runs.append(run)
        flags = {
            f"{name}_truncated": True
            for name, cut in (
                ("inputs", run.inputs_truncated),
                ("process_data", run.process_data_truncated),
                ("outputs", run.outputs_truncated),
            )
            if cut
        }
        self.emit(
            "node_finished",
            run.node_id,
            **fields,
            **flags,
            inputs=run.inputs,
            process_data=run.process_data,
            outputs=run.outputs,
            execution_metadata=run.execution_metadata,
            status=run.status,
            error=run.error,
            error_type=run.error_type,
            elapsed=run.elapsed,
            attempts=run.attempts,
            pinned=run.pinned,
            started_at=run.created_at,
            finished_at=run.finished_at,
        )

    def node_retry(
        self, node_id: str, retry_index: int, error: str | None, error_type: str | None
    ) -> None:
        """Attempt ``retry_index`` (from 1) failed and the node runs again (Dify ``node_retry``).

        ``error`` is None when the attempt's error is not known to the run (Temporal only hands
        the workflow an activity's final failure; the others are in the workflow history).
        """
        self.emit(
            "node_retry", node_id, retry_index=retry_index, error=error, error_type=error_type
        )

    def events_since(self, index: int) -> list[RunEvent]:
        """Events with ``event.index >= index``: as many as fit in one query's answer.

        At least one event when there is any; the caller asks again from the next index.
        """
        start = max(0, index)
        end, total = start, 0
        while end < len(self.events):
            total += self._sizes[end] + 256  # the event's own fields
            if end > start and total > EVENTS_PAGE_BUDGET:
                break
            end += 1
        return self.events[start:end]

    def stream_chunk(self, event: str, node_id: str, text: str, selector: Sequence[str]) -> None:
        """A piece of a response node's text reaches the client, in Dify's streaming order.

        ``event`` is ``message`` (chatflows; the text is in ``answer``) or ``text_chunk``
        (workflows; the text is in ``text``); ``node_id`` is the Answer / End node streaming and
        ``selector`` where the piece comes from (Dify's ``from_variable_selector``).
        """
        if not text:
            return
        key = "answer" if event == "message" else "text"
        # A large piece goes out in several events, so that no event is too big to query.
        step = VALUE_BUDGET // 4  # characters: at most 4 bytes each in UTF-8
        pieces = (
            [text] if len(text) <= step else [text[i : i + step] for i in range(0, len(text), step)]
        )
        for piece in pieces:
            self.emit(event, node_id, **{key: piece, "from_variable_selector": list(selector)})

    def finish_run(
        self, status: RunStatus, outputs: dict[str, Any], error: str | None
    ) -> tuple[float, int]:
        """The final ``workflow_finished`` event; returns (elapsed seconds, total steps)."""
        ended = self.clock() if self.clock else None
        started = self.started_at or ended
        elapsed = (ended - started).total_seconds() if ended and started else 0.0
        total_steps = len(self.node_runs)
        self.emit(
            "workflow_finished",
            None,
            id=self.run_id,
            status=status,
            outputs=outputs,
            error=error,
            elapsed=elapsed,
            total_steps=total_steps,
            total_tokens=self.total_tokens,
            exceptions_count=self.exceptions_count,
            started_at=epoch(started) if started else 0,
            finished_at=epoch(ended) if ended else 0,
        )
        return elapsed, total_steps

    def answer_finished(self, text: str) -> None:
        """An Answer node finished with ``text``."""
        self.answer_parts.append(text)

    @property
    def answer(self) -> str:
        """The Answer nodes' texts in the order they finished (Dify's ``outputs.answer``).

        The streamed ``message`` events follow Dify's streaming order instead, which can differ
        when a later Answer node's session opened first (see engine/stream.py).
        """
        return "".join(self.answer_parts)
