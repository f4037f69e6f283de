"""Pre-started sandbox processes, so a code node does not wait for an interpreter to start.

A waiting process is already sandboxed and limited (``SandboxProcess.start`` forks it from
the warm Python fork server, or spawns it, in its own session, temp dir and network namespace
with its rlimits) and blocks on stdin for its one request. Each process serves EXACTLY ONE
execution and is then killed and its temp dir deleted, exactly as without a pool: nothing a
run leaves behind (files, modules, globals) can reach another. The pool only moves the start
(a fork and the confinement for Python, about a millisecond; spawn, ``unshare`` and the
interpreter's start-up for Node, tens) off the code node's critical path.

- ``code_pool_size`` processes wait per language (and per limits); 0 turns the pool off.
- After each run that got a reply the pool is topped up in the background; an empty pool is
  never waited for: the run starts its own process, as it would without a pool.
- One pool per event loop, because asyncio subprocesses belong to the loop that started them;
  it is created on first use. All of it runs on the loop's thread, so concurrent activities
  never see a half-updated pool.
- The worker closes the pool when it shuts down (``sandbox_pool``). Elsewhere (``tideflow
  run``, tests, benchmarks) an atexit hook kills what is left, and a waiting runner exits by
  itself when the worker dies, because its stdin then reaches end of file.
- New limits (settings reloaded) retire the processes started with the old ones.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
from collections import deque
from collections.abc import AsyncGenerator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from tideflow.activities.code_forkserver import shutdown_forkserver
from tideflow.activities.code_sandbox import (
    Language,
    SandboxLimits,
    SandboxLost,
    SandboxProcess,
    SandboxReply,
    landlock_status,
)
from tideflow.platform.settings import Settings

log = logging.getLogger(__name__)

PoolKey = tuple[Language, SandboxLimits]
REFILL_DELAY_S = 0.005


def sandbox_limits(settings: Settings) -> SandboxLimits:
    """The per-run limits the settings ask for."""
    return SandboxLimits(
        timeout_s=settings.code_timeout_s,
        memory_mb=settings.code_memory_mb,
        max_output_bytes=settings.code_max_output_bytes,
    )


class SandboxPool:
    """Started sandbox processes waiting for work, on the running event loop."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.loop = asyncio.get_running_loop()
        self._ready: dict[PoolKey, deque[SandboxProcess]] = {}
        self._starting: dict[PoolKey, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def take(self, language: Language, limits: SandboxLimits) -> SandboxProcess | None:
        """A waiting process started with ``limits``, or None when none is ready."""
        key = (language, limits)
        self._retire_other_limits(key)
        ready = self._ready.setdefault(key, deque())
        while ready:
            process = ready.popleft()
            if process.alive:
                return process
            self.close_later(process)
        return None

    def fill(self, language: Language, limits: SandboxLimits) -> None:
        """Start processes in the background until ``size`` are waiting or starting."""
        key = (language, limits)
        if self._closed:
            return
        self._retire_other_limits(key)
        ready = self._ready.setdefault(key, deque())
        for _ in range(self.size - len(ready) - self._starting.get(key, 0)):
            self._starting[key] = self._starting.get(key, 0) + 1
            self._track(self._start(key))

    def fill_soon(self, language: Language, limits: SandboxLimits) -> None:
        """``fill`` after ``REFILL_DELAY_S``."""
        self._track(self._fill_later(language, limits))

    async def _fill_later(self, language: Language, limits: SandboxLimits) -> None:
        await asyncio.sleep(REFILL_DELAY_S)
        self.fill(language, limits)

    def idle_pids(self) -> set[int]:
        """Process ids of the waiting processes."""
        return {process.pid for ready in self._ready.values() for process in ready}

    async def settled(self) -> None:
        """Wait until the processes being started are ready (or failed)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Stop refilling, let starts finish, then kill and reap every waiting process."""
        self._closed = True
        # Not cancelled: a start cancelled mid-way could leave its process behind.
        await self.settled()
        processes = [process for ready in self._ready.values() for process in ready]
        self._ready.clear()
        await asyncio.gather(*(p.close() for p in processes), return_exceptions=True)

    def kill_now(self) -> None:
        """Kill every waiting process without the event loop (which may be closed)."""
        self._closed = True
        for ready in self._ready.values():
            for process in ready:
                process.discard()
        self._ready.clear()

    async def _start(self, key: PoolKey) -> None:
        language, limits = key
        try:
            process = await SandboxProcess.start(language, limits)
        except Exception as exc:  # e.g. no `node`: a run then starts its own and says why
            log.debug("could not pre-start a %s sandbox: %s", language, exc)
            return
        finally:
            self._starting[key] -= 1
        ready = self._ready.get(key)
        if self._closed or ready is None:
            await process.close()
        else:
            ready.append(process)

    def _retire_other_limits(self, key: PoolKey) -> None:
        for other in [k for k in self._ready if k[0] == key[0] and k != key]:
            for process in self._ready.pop(other):
                self.close_later(process)

    def close_later(self, process: SandboxProcess) -> None:
        """Kill, reap and clean up ``process`` in the background."""
        self._track(process.close())

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        # Kept until done: the loop holds tasks weakly, and ``settled`` waits for them.
        task = self.loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


_pool: SandboxPool | None = None


def current_pool(size: int) -> SandboxPool | None:
    """The running loop's pool (created on first use), or None when ``size`` is 0."""
    global _pool
    if size <= 0:
        return None
    loop = asyncio.get_running_loop()
    if _pool is not None and _pool.loop is not loop:
        _pool.kill_now()  # left over from a loop that has finished (tests, repeated runs)
        _pool = None
    if _pool is None:
        _pool = SandboxPool(size)
    _pool.size = size
    return _pool


async def shutdown_code_pool() -> None:
    """Kill and reap every waiting process of this process's pool, then stop the fork server
    (which takes any child still running along)."""
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        if pool.loop is asyncio.get_running_loop():
            await pool.close()
        else:
            pool.kill_now()
    await shutdown_forkserver()


@atexit.register
def _kill_at_exit() -> None:
    if _pool is not None:
        _pool.kill_now()


@asynccontextmanager
async def sandbox_pool(settings: Settings) -> AsyncGenerator[SandboxPool | None]:
    """Keep Python sandboxes pre-started while the body runs (a worker's lifetime); on exit,
    kill them all. Other languages fill on their first use."""
    log.info("%s", landlock_status())
    pool = current_pool(settings.code_pool_size)
    if pool is not None:
        pool.fill("python3", sandbox_limits(settings))
    try:
        yield pool
    finally:
        await shutdown_code_pool()


async def run_in_sandbox(
    language: Language,
    code: str,
    inputs: dict[str, Any],
    limits: SandboxLimits,
    *,
    pool_size: int,
) -> SandboxReply:
    """Run ``code`` in a waiting sandbox process, or in a fresh one when none is ready."""
    pool = current_pool(pool_size)
    sandbox = pool.take(language, limits) if pool is not None else None
    if sandbox is None:
        sandbox = await SandboxProcess.start(language, limits)
    try:
        try:
            reply = await sandbox.run(code, inputs)
        except SandboxLost:  # its fork server died under it: once more, in a fresh process
            await sandbox.close()
            sandbox = await SandboxProcess.start(language, limits)
            reply = await sandbox.run(code, inputs)
    except BaseException:
        await sandbox.close()
        raise
    if pool is None:
        await sandbox.close()
        return reply
    # The process is already killed and its reply read; reaping it and deleting its temp dir
    # need not delay the node (the pool's shutdown waits for these).
    pool.close_later(sandbox)
    # Shortly after the run, not before it: spawning blocks the event loop for a few
    # milliseconds, which should not delay this node's result on its way out. Not after a
    # failed or cancelled run (a stopping worker should not start more): the next run tops up.
    pool.fill_soon(language, limits)
    return reply
