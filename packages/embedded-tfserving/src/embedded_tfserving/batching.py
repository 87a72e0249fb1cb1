"""TF Serving's request batching, one queue per model version and signature.

A task (one request, possibly several rows) joins the open batch if it fits, else the open batch
closes and a new one opens. As in TF Serving's shared_batch_scheduler.h, a free batch thread takes
the oldest closed batch, or else the open one once it is full or its first task has waited
batch_timeout_micros; the timeout only makes the open batch eligible, it does not close it. So
while every thread is busy, the open batch keeps filling up to max_batch_size instead of queueing
as many small batches: this is what lets requests that arrive spread out (as gRPC's do) batch as
well as ones that arrive in bursts. At most num_batch_threads batches run at once. More than
max_enqueued_batches waiting batches: the task is refused with UNAVAILABLE. Inputs are
concatenated along dim 0 (padded with copies of the first row up to the next allowed batch size)
and each caller gets back its own slice of every output.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ServingError, invalid
from .metrics import ServingMetrics

RunBatch = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class BatchOptions:
    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = os.cpu_count() or 1
    thread_pool_name: str = "batch_threads"
    allowed_batch_sizes: tuple[int, ...] = ()
    enable_large_batch_splitting: bool = False
    max_execution_batch_size: int = 0

    @classmethod
    def from_proto(cls, params: Any) -> BatchOptions:
        def value(name: str, default: Any) -> Any:
            return getattr(params, name).value if params.HasField(name) else default

        max_batch = value("max_batch_size", cls.max_batch_size)
        return cls(max_batch_size=max_batch,
                   batch_timeout_micros=value("batch_timeout_micros", cls.batch_timeout_micros),
                   max_enqueued_batches=value("max_enqueued_batches", cls.max_enqueued_batches),
                   num_batch_threads=value("num_batch_threads", cls.num_batch_threads),
                   thread_pool_name=value("thread_pool_name", cls.thread_pool_name),
                   allowed_batch_sizes=tuple(params.allowed_batch_sizes),
                   enable_large_batch_splitting=value("enable_large_batch_splitting", False),
                   max_execution_batch_size=value("max_execution_batch_size", max_batch))


@dataclass
class _Task:
    inputs: dict[str, np.ndarray]
    size: int
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass
class _Batch:
    tasks: list[_Task] = field(default_factory=list)
    size: int = 0
    opened: float = 0.0  # when its first task joined (perf_counter)


def task_size(inputs: dict[str, np.ndarray]) -> int:
    sizes = {a.shape[0] if a.ndim else -1 for a in inputs.values()}
    if -1 in sizes:
        raise invalid("Batching session Run() input tensors must have at least one dimension")
    if len(sizes) != 1:
        raise invalid("Batching session Run() input tensors must have equal 0th-dimension size")
    return sizes.pop()


class BatchQueue:
    """Batches tasks for one (version, signature); `submit` returns this task's outputs."""

    def __init__(self, options: BatchOptions, run: RunBatch, executor: Executor, metrics: ServingMetrics) -> None:
        self.options = options
        self._run = run
        self._executor = executor
        self._metrics = metrics
        self._batches: deque[_Batch] = deque([_Batch()])  # closed batches in order, then the open one
        self._timer: asyncio.TimerHandle | None = None
        self._running = 0
        self._tasks: set[asyncio.Future[None]] = set()
        self._execution_limit = (options.max_execution_batch_size or options.max_batch_size
                                 if options.enable_large_batch_splitting else options.max_batch_size)

    async def submit(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        size = task_size(inputs)
        if size > self.options.max_batch_size:
            raise invalid(f"Task size {size} is larger than maximum input batch size {self.options.max_batch_size}")
        if size > self._execution_limit:  # large batch splitting: run pieces, stitch them back
            pieces = [{n: a[i:i + self._execution_limit] for n, a in inputs.items()}
                      for i in range(0, size, self._execution_limit)]
            results = await asyncio.gather(*(self.submit(p) for p in pieces))
            return {n: np.concatenate([r[n] for r in results]) for n in results[0]}
        batch = self._batches[-1]  # the open batch: always the last one
        if batch.size + size > self._execution_limit:
            if len(self._batches) >= self.options.max_enqueued_batches:
                raise ServingError("UNAVAILABLE", "The batch scheduling queue to which this task was submitted is full")
            batch = self._open_new_batch()
        task = _Task(inputs, size, asyncio.get_running_loop().create_future())
        if not batch.tasks:
            batch.opened = task.enqueued
        batch.tasks.append(task)
        batch.size += size
        self._dispatch()
        return await task.future

    def _open_new_batch(self) -> _Batch:
        """Close the open batch (it waits for a thread, first in line) and open an empty one."""
        batch = _Batch()
        self._batches.append(batch)
        return batch

    def _open_batch_ready(self) -> bool:
        """IsOpenBatchSchedulable: not empty, and full or waited out its timeout."""
        batch = self._batches[-1]
        return bool(batch.tasks) and (
            batch.size >= self._execution_limit
            or time.perf_counter() >= batch.opened + self.options.batch_timeout_micros / 1e6)

    def _dispatch(self) -> None:
        """ScheduleBatch for every free thread: the oldest closed batch, else the open one if ready.
        An open batch that is not ready yet gets a timer that tries again when its timeout is up."""
        while self._running < self.options.num_batch_threads:
            if len(self._batches) == 1:
                if not self._open_batch_ready():
                    self._arm_timer()
                    return
                self._open_new_batch()
            batch = self._batches.popleft()
            self._running += 1
            task = asyncio.ensure_future(self._process(batch))
            self._tasks.add(task)  # the loop keeps only a weak reference to running tasks
            task.add_done_callback(self._tasks.discard)

    def _arm_timer(self) -> None:
        batch = self._batches[-1]
        if batch.tasks and self._timer is None:
            delay = max(0.0, batch.opened + self.options.batch_timeout_micros / 1e6 - time.perf_counter())
            self._timer = asyncio.get_running_loop().call_later(delay, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self._dispatch()

    async def _process(self, batch: _Batch) -> None:
        started = time.perf_counter()
        pool = self.options.thread_pool_name
        for task in batch.tasks:
            self._metrics.observe_queuing(pool, (started - task.enqueued) * 1e6)
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(self._executor, self._run_batch, batch)
        except Exception as error:
            for task in batch.tasks:
                if not task.future.done():
                    task.future.set_exception(error)
        else:
            offset = 0
            for task in batch.tasks:
                if not task.future.done():
                    task.future.set_result({n: a[offset:offset + task.size] for n, a in outputs.items()})
                offset += task.size
        finally:
            self._running -= 1
            self._dispatch()

    def _run_batch(self, batch: _Batch) -> dict[str, np.ndarray]:
        names = batch.tasks[0].inputs.keys()
        try:
            merged = {n: np.concatenate([t.inputs[n] for t in batch.tasks]) for n in names}
        except (KeyError, ValueError):
            raise invalid("Tensors with the same name from different tasks have different shapes and padding is "
                          "turned off. Set pad_variable_length_inputs to true, or ensure that all tensors with "
                          "the same name have equal dimensions starting with the first dim.") from None
        padded_size = next((s for s in self.options.allowed_batch_sizes if s >= batch.size), batch.size)
        if padded_size > batch.size:  # TF Serving pads with copies of the first row
            merged = {n: np.concatenate([a, np.repeat(a[:1], padded_size - batch.size, axis=0)])
                      for n, a in merged.items()}
        self._metrics.input_batch_size.observe(batch.size)
        self._metrics.processed_batch_size.observe(padded_size)
        self._metrics.wrapped_run_count.inc()
        outputs = self._run(merged)
        for name, array in outputs.items():
            if array.ndim == 0 or array.shape[0] != padded_size:
                raise invalid(f"Batched output tensor's 0th dimension does not equal the sum of the 0th dimension "
                              f"sizes of the input tensors (output {name})")
        return outputs
