"""The batch scheduler's policy, on BatchQueue alone with a model stand-in that holds its thread:
TF Serving's shared_batch_scheduler.h, where a batch timeout makes the open batch eligible to run
but does not close it, so requests that trickle in while every thread is busy share one batch."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from embedded_tfserving.batching import BatchOptions, BatchQueue
from embedded_tfserving.errors import ServingError
from embedded_tfserving.metrics import ServingMetrics

HOLD_SECONDS = 0.15  # how long the stand-in model holds its thread per batch


def _queue(sizes: list[int], **options: Any) -> BatchQueue:
    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sizes.append(len(inputs["x"]))
        time.sleep(HOLD_SECONDS)
        return {"y": inputs["x"] * 2}

    return BatchQueue(BatchOptions(**options), run, ThreadPoolExecutor(4), ServingMetrics())


def _rows(*values: float) -> dict[str, np.ndarray]:
    return {"x": np.array(values, dtype=np.float32)}


async def _trickle(queue: BatchQueue, count: int, gap: float) -> list[dict[str, np.ndarray]]:
    """`count` one-row tasks, one every `gap` seconds, each waiting for its own result."""
    tasks = []
    for i in range(count):
        tasks.append(asyncio.ensure_future(queue.submit(_rows(float(i)))))
        await asyncio.sleep(gap)
    return list(await asyncio.gather(*tasks))


def test_tasks_arriving_while_the_thread_is_busy_share_one_batch_past_the_timeout() -> None:
    sizes: list[int] = []
    queue = _queue(sizes, max_batch_size=8, batch_timeout_micros=1000, num_batch_threads=1)

    async def scenario() -> list[dict[str, np.ndarray]]:
        first = asyncio.ensure_future(queue.submit(_rows(100.0)))
        await asyncio.sleep(0.02)  # the first batch (one row) now holds the only thread
        # Six tasks, 10 ms apart: each gap is ten timeouts, yet no thread is free to take a batch.
        results = await _trickle(queue, 6, 0.01)
        return [await first, *results]

    results = asyncio.run(scenario())
    assert sizes == [1, 6]
    assert [r["y"].tolist() for r in results] == [[200.0], *[[2.0 * i] for i in range(6)]]


def test_a_full_open_batch_closes_and_the_next_task_opens_another() -> None:
    sizes: list[int] = []
    queue = _queue(sizes, max_batch_size=4, batch_timeout_micros=1000, num_batch_threads=1)

    async def scenario() -> None:
        first = asyncio.ensure_future(queue.submit(_rows(0.0)))
        await asyncio.sleep(0.02)
        await asyncio.gather(first, _trickle(queue, 6, 0.005))

    asyncio.run(scenario())
    assert sizes == [1, 4, 2]


def test_a_batch_runs_once_its_timeout_is_up_when_a_thread_is_free() -> None:
    sizes: list[int] = []
    queue = _queue(sizes, max_batch_size=8, batch_timeout_micros=50_000, num_batch_threads=1)

    async def scenario() -> float:
        started = time.perf_counter()
        await queue.submit(_rows(1.0))
        return time.perf_counter() - started

    waited = asyncio.run(scenario())
    assert sizes == [1]
    assert 0.05 <= waited < 0.05 + HOLD_SECONDS + 1.0  # it waited out the timeout, then ran


def test_more_waiting_batches_than_max_enqueued_batches_is_unavailable() -> None:
    sizes: list[int] = []
    queue = _queue(sizes, max_batch_size=2, batch_timeout_micros=0, num_batch_threads=1, max_enqueued_batches=2)

    async def scenario() -> None:
        running = asyncio.ensure_future(queue.submit(_rows(0.0, 1.0)))
        await asyncio.sleep(0.02)  # running: the thread is busy; now fill two batches of two rows
        waiting = [asyncio.ensure_future(queue.submit(_rows(float(i), float(i)))) for i in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(ServingError) as refused:
            await queue.submit(_rows(9.0, 9.0))
        assert refused.value.code == "UNAVAILABLE"
        await asyncio.gather(running, *waiting)

    asyncio.run(scenario())
    assert sizes == [2, 2, 2]
