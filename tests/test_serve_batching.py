"""The micro-batcher: one call for many callers, each gets its own answer back."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from release.errors import UsageError
from release.serve.batching import MicroBatcher


def test_concurrent_callers_share_calls_and_get_their_own_results():
    calls: list[list[int]] = []
    sizes: list[int] = []

    def run(payloads: list[int]) -> list[int]:
        calls.append(list(payloads))
        time.sleep(0.005)  # a prediction's fixed cost
        return [p * 10 for p in payloads]

    async def main() -> list[int]:
        batcher = MicroBatcher(run, max_batch_size=16, max_wait_ms=5, on_batch=sizes.append)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(i) for i in range(100)))
        finally:
            await batcher.stop()

    results = asyncio.run(main())
    assert results == [i * 10 for i in range(100)]
    assert sum(len(c) for c in calls) == 100
    assert len(calls) < 20  # batched, not one call per request
    assert max(len(c) for c in calls) <= 16
    assert sum(sizes) == 100


def test_rows_not_payloads_bound_the_batch():
    calls: list[list[int]] = []

    def run(payloads: list[int]) -> list[int]:
        calls.append(list(payloads))
        return payloads

    async def main() -> None:
        batcher = MicroBatcher(run, max_batch_size=10, max_wait_ms=20)
        await batcher.start()
        try:
            await asyncio.gather(*(batcher.submit(i, rows=4) for i in range(6)))
            # one payload larger than the limit still runs, alone
            assert await batcher.submit(99, rows=50) == 99
        finally:
            await batcher.stop()

    asyncio.run(main())
    assert all(len(c) <= 2 for c in calls[:-1])  # 2 x 4 rows fit in 10, 3 x 4 do not
    assert calls[-1] == [99]


def test_one_bad_payload_fails_alone_and_a_crash_fails_its_batch():
    def run(payloads: list[int]) -> list[int | BaseException]:
        if 13 in payloads and 14 in payloads:
            raise RuntimeError("model crashed")
        return [ValueError(f"bad {p}") if p < 0 else p for p in payloads]

    async def main() -> None:
        batcher = MicroBatcher(run, max_batch_size=8, max_wait_ms=20)
        await batcher.start()
        try:
            results = await asyncio.gather(
                batcher.submit(1), batcher.submit(-2), batcher.submit(3), return_exceptions=True
            )
            assert results[0] == 1 and results[2] == 3
            assert isinstance(results[1], ValueError)
            crashed = await asyncio.gather(
                batcher.submit(13), batcher.submit(14), return_exceptions=True
            )
            assert all(isinstance(r, RuntimeError) for r in crashed)
            assert await batcher.submit(5) == 5  # the batcher survives
        finally:
            await batcher.stop()

    asyncio.run(main())


def test_runs_on_one_worker_thread_and_keeps_gathering_while_busy():
    threads: set[str] = set()
    calls: list[int] = []

    def run(payloads: list[int]) -> list[int]:
        threads.add(threading.current_thread().name)
        calls.append(len(payloads))
        time.sleep(0.03)
        return payloads

    async def main() -> None:
        batcher = MicroBatcher(run, max_batch_size=64, max_wait_ms=0)
        await batcher.start()
        try:
            first = asyncio.ensure_future(batcher.submit(0))
            await asyncio.sleep(0.01)  # the worker is now busy with [0]
            rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 21)]
            await asyncio.gather(first, *rest)
        finally:
            await batcher.stop()

    asyncio.run(main())
    assert len(threads) == 1 and next(iter(threads)).startswith("predict")
    assert calls == [1, 20]  # no wait configured, yet the busy period gathered the rest


def test_stop_fails_queued_work_and_submit_after_stop_raises():
    gate = threading.Event()

    def run(payloads: list[int]) -> list[int]:
        gate.wait(5)
        return payloads

    async def main() -> None:
        batcher = MicroBatcher(run, max_batch_size=2, max_wait_ms=0)
        await batcher.start()
        running = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.02)
        gathering = asyncio.ensure_future(batcher.submit(2))  # held while the worker is busy
        await asyncio.sleep(0.01)
        queued = asyncio.ensure_future(batcher.submit(3, rows=2))  # does not fit: queued
        await asyncio.sleep(0.01)
        stopping = asyncio.ensure_future(batcher.stop())
        await asyncio.sleep(0.01)
        gate.set()
        await stopping
        assert running.result() == 1  # the running batch finishes and answers
        for future in (gathering, queued):
            with pytest.raises(RuntimeError, match="shutting down"):
                future.result()
        with pytest.raises(RuntimeError):
            await batcher.submit(4)

    asyncio.run(main())


def test_invalid_settings_name_the_parameter():
    with pytest.raises(UsageError, match="max_batch_size"):
        MicroBatcher(lambda p: p, max_batch_size=0)
    with pytest.raises(UsageError, match="max_wait_ms"):
        MicroBatcher(lambda p: p, max_wait_ms=-1)


def test_two_threads_run_two_batches_at_once():
    active = 0
    peak = 0
    lock = threading.Lock()

    def run(payloads: list[int]) -> list[int]:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return payloads

    async def main() -> list[int]:
        batcher = MicroBatcher(run, max_batch_size=2, max_wait_ms=0, threads=2)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(i) for i in range(8)))
        finally:
            await batcher.stop()

    assert asyncio.run(main()) == list(range(8))
    assert peak == 2
