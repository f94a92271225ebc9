"""Adaptive micro-batching: many small requests, one prediction call.

One single-row ``predict_proba`` of a scikit-learn pipeline costs a few milliseconds,
almost all of it per-call overhead, so throughput comes from calling it once for many
rows. Requests are queued on the event loop; a collector gathers those that arrive within
``max_wait_ms`` of the first one (or until ``max_batch_size`` rows), and keeps gathering
while every worker is still busy, since waiting then costs nothing. The batch runs on a
small thread pool (one thread by default: the model is pinned to one BLAS/OpenMP thread
and the event loop keeps the other core) and each caller gets its own answer back, or
its own exception.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from release.errors import UsageError

P = TypeVar("P")
R = TypeVar("R")

# The batch function returns one entry per payload: a result, or the exception for that
# payload alone (a bad request must not fail its neighbours).
BatchFunction = Callable[[list[P]], Sequence["R | BaseException"]]


@dataclass
class _Item(Generic[P]):
    payload: P
    rows: int
    future: asyncio.Future[Any] = field(repr=False)


class MicroBatcher(Generic[P, R]):
    """Queue payloads from many coroutines and run them through ``run`` in batches."""

    def __init__(
        self,
        run: BatchFunction[P, R],
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 2.0,
        threads: int = 1,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise UsageError(f"max_batch_size = {max_batch_size} is invalid", "use an integer >= 1")
        if max_wait_ms < 0:
            raise UsageError(f"max_wait_ms = {max_wait_ms} is invalid", "use a number >= 0")
        if threads < 1:
            raise UsageError(f"threads = {threads} is invalid", "use an integer >= 1")
        self._run = run
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.threads = threads
        self._on_batch = on_batch
        self._pending: collections.deque[_Item[P]] = collections.deque()
        self._signal: asyncio.Future[None] | None = None
        self._busy = 0
        self._gathering: list[_Item[P]] = []  # taken from the queue, not yet dispatched
        self._inflight: set[asyncio.Future[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the worker threads and the collector on the running event loop."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.threads, thread_name_prefix="predict"
        )
        self._task = self._loop.create_task(self._collect(), name="micro-batcher")

    async def stop(self) -> None:
        """Stop collecting, finish the running batches, fail what is still queued."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        unsent = [*self._gathering, *self._pending]
        self._gathering = []
        self._pending.clear()
        for item in unsent:
            if not item.future.done():
                item.future.set_exception(RuntimeError("server is shutting down"))
        if self._inflight:  # let running batches finish and answer their callers
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)

    @property
    def running(self) -> bool:
        """True while the collector accepts work."""
        return self._task is not None and not self._task.done()

    # --------------------------------------------------------------------- submit
    async def submit(self, payload: P, rows: int = 1) -> R:
        """Queue one payload of ``rows`` rows and wait for its own result."""
        if self._loop is None or not self.running:
            raise RuntimeError("the batcher is not running")
        future: asyncio.Future[R] = self._loop.create_future()
        self._pending.append(_Item(payload, rows, future))
        self._wake()
        return await future

    # ------------------------------------------------------------------ internals
    def _wake(self) -> None:
        signal = self._signal
        if signal is not None and not signal.done():
            signal.set_result(None)

    async def _wait(self, timeout: float | None) -> None:
        """Sleep until a new item arrives, a worker frees up, or ``timeout`` passes."""
        assert self._loop is not None
        signal = self._loop.create_future()
        self._signal = signal
        handle = None
        if timeout is not None:
            handle = self._loop.call_later(timeout, _resolve, signal)
        try:
            await signal
        finally:
            self._signal = None
            if handle is not None:
                handle.cancel()

    def _take(self, batch: list[_Item[P]], rows: int) -> int:
        """Move queued items into ``batch`` while they fit; return the new row count."""
        pending = self._pending
        while pending and (not batch or rows + pending[0].rows <= self.max_batch_size):
            item = pending.popleft()
            if item.future.done():  # the caller went away
                continue
            batch.append(item)
            rows += item.rows
        return rows

    async def _collect(self) -> None:
        assert self._loop is not None
        loop = self._loop
        while True:
            while not self._pending:
                await self._wait(None)
            batch: list[_Item[P]] = []
            self._gathering = batch
            rows = self._take(batch, 0)
            if not batch:
                continue
            deadline = loop.time() + self.max_wait
            while rows < self.max_batch_size and not (
                self._pending and rows + self._pending[0].rows > self.max_batch_size
            ):
                remaining = deadline - loop.time()
                if remaining <= 0 and self._busy < self.threads:
                    break
                # Past the deadline with every worker busy: keep gathering until one frees.
                await self._wait(remaining if remaining > 0 else None)
                rows = self._take(batch, rows)
            while self._busy >= self.threads:  # full batch, no free worker: hold it here
                await self._wait(None)
            self._gathering = []
            self._dispatch(batch, rows)

    def _dispatch(self, batch: list[_Item[P]], rows: int) -> None:
        assert self._loop is not None and self._executor is not None
        self._busy += 1
        running = self._loop.run_in_executor(self._executor, self._run_batch, batch, rows)
        self._inflight.add(running)
        running.add_done_callback(lambda fut: self._deliver(batch, fut))

    def _run_batch(self, batch: list[_Item[P]], rows: int) -> Sequence[R | BaseException]:
        if self._on_batch is not None:
            self._on_batch(rows)
        results = self._run([item.payload for item in batch])
        if len(results) != len(batch):
            raise RuntimeError(f"batch function returned {len(results)} results for {len(batch)}")
        return results

    def _deliver(self, batch: list[_Item[P]], done: asyncio.Future[Any]) -> None:
        self._busy -= 1
        self._inflight.discard(done)
        self._wake()
        error = done.exception() if not done.cancelled() else asyncio.CancelledError()
        results = None if error is not None else done.result()
        for index, item in enumerate(batch):
            if item.future.done():
                continue
            if error is not None:
                item.future.set_exception(error)
                continue
            assert results is not None
            result = results[index]
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
