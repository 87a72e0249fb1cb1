"""Side-by-side serving benchmark: what batching and the serving stack buy on this machine.

One run measures, on the same model and machine, requests/s and p50/p99 latency of:
- the SavedModel called in-process, at batch 1 and at the best batch size (the ceiling);
- the embedded server over REST and gRPC, batching off and on, at several client concurrencies;
- a naive baseline: a web framework calling Keras `model.predict()` once per request.
Machines are noisy, so the table's meaning is in the ratios printed under it, not in single numbers.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from embedded_tfserving.process import ChildProcess, ServerProcess, free_port

from ..contract import SIGNATURE
from ..errors import LoadTestError
from ..settings import PROJECT_ROOT
from .closed_loop import Load, Recorder
from .payloads import grpc_requests, rest_bodies
from .preflight import newest_version
from .stats import PERCENTILE_RULE, percentile

LEVELS = (1, 16, 64)
POOL = 512  # distinct requests per client pool
Say = Callable[[str], None]


@dataclass
class Cell:
    target: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float | None
    p99_ms: float | None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def summarize(target: str, concurrency: int, latencies: list[float], errors: int, seconds: float) -> Cell:
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    return Cell(target, concurrency, len(latencies), errors, seconds,
                None if p50 is None else p50 * 1e3, None if p99 is None else p99 * 1e3)


def measured(target: str, concurrency: int, recorder: Recorder, seconds: float) -> Cell:
    errors = sum(n for kind, n in recorder.total.items() if kind != "ok")
    return summarize(target, concurrency, recorder.current.latencies, errors, seconds)


# --- the parts being compared -------------------------------------------------------------------

def in_process_cells(version_dir: Path, seconds: float) -> list[Cell]:
    """The ceiling: no HTTP, no JSON, one caller; batch 1 and the best of a few batch sizes."""
    import tensorflow as tf

    from ..data.schema import load_schema
    from ..data.synthetic import generate

    signature = tf.saved_model.load(str(version_dir)).signatures[SIGNATURE]
    features = generate(load_schema(), 256, seed=7)
    cells = []
    for batch in (1, 16, 64, 256):
        inputs = {"dense": tf.constant(features.dense[:batch]), "categorical": tf.constant(features.categorical[:batch])}
        signature(**inputs)
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds / 2
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            signature(**inputs)
            latencies.append(time.perf_counter() - t0)
        cell = summarize(f"in-process batch {batch}", 1, latencies, 0, time.perf_counter() - started)
        cell.requests *= batch  # rows served: the batch-1-request equivalent
        cells.append(cell)
    best = max(cells[1:], key=lambda c: c.rps)
    return [cells[0], best]


def _drive(server_rest: str, server_grpc: str, model_name: str, protocol: str, bodies: list[bytes],
           requests: list[object], level: int, seconds: float) -> tuple[Recorder, float]:
    recorder = Recorder()
    rest, grpc = (level, 0) if protocol == "rest" else (0, level)
    load = Load(server_rest, server_grpc, model_name, bodies, list(requests), recorder, rest_clients=rest, grpc_clients=grpc)
    elapsed = asyncio.run(load.run(seconds=seconds, warmup=0.5))  # the warm-up opens the connections
    return recorder, elapsed


def embedded_cells(models_dir: Path, model_name: str, batching_file: Path | None, seconds: float, log_dir: Path,
                   say: Say) -> list[Cell]:
    label = "batching on" if batching_file else "batching off"
    flags = [f"--model_name={model_name}", f"--model_base_path={(models_dir / model_name).resolve()}"]
    if batching_file is not None:
        flags += ["--enable_batching", f"--batching_parameters_file={batching_file.resolve()}"]
    cells = []
    with ServerProcess(flags, log_dir / f"server-{label.replace(' ', '-')}.log") as server:
        server.start()
        bodies, requests = rest_bodies(pool=POOL, seed=7), grpc_requests(model_name, pool=POOL, seed=7)
        for level in LEVELS:
            say(f"  embedded {label}: REST and gRPC at {level} clients ...")
            for protocol, name in (("rest", "REST"), ("grpc", "gRPC")):
                recorder, elapsed = _drive(server.rest_url, server.grpc_target, model_name, protocol, bodies,
                                           requests, level, seconds)
                cells.append(measured(f"{name} {label}", level, recorder, elapsed))
    return cells


def naive_cells(keras_model: Path, seconds: float, log_dir: Path, say: Say) -> list[Cell]:
    """Flask + Keras `model.predict()` per request: what many first deployments look like."""
    import requests

    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(f"{url}/ready", timeout=1).ok
        except requests.RequestException:
            return False

    command = [sys.executable, "-m", f"{__package__}.naive_app", str(keras_model.resolve()), str(port)]
    cells = []
    with ChildProcess(command, log_dir / "naive-server.log", cwd=PROJECT_ROOT, python_path=[PROJECT_ROOT]) as child:
        child.start()
        child.wait_until(ready, 120, "the naive baseline server")
        bodies = rest_bodies(pool=POOL, seed=7)
        for level in LEVELS:
            say(f"  naive baseline at {level} clients ...")
            recorder, elapsed = _drive(url, "", "naive", "rest", bodies, [], level, seconds)
            cells.append(measured("naive Flask+predict()", level, recorder, elapsed))
    return cells


# --- report -------------------------------------------------------------------------------------

def find(cells: list[Cell], target: str, level: int) -> Cell | None:
    return next((c for c in cells if c.target == target and c.concurrency == level), None)


def ratios(cells: list[Cell]) -> list[tuple[str, float]]:
    top = max(LEVELS)
    pairs = [
        ("REST batching on / off, requests/s", "REST batching on", "REST batching off", "rps"),
        ("gRPC batching on / off, requests/s", "gRPC batching on", "gRPC batching off", "rps"),
        ("REST batching off / on, p99 latency", "REST batching off", "REST batching on", "p99_ms"),
        ("gRPC batching off / on, p99 latency", "gRPC batching off", "gRPC batching on", "p99_ms"),
        ("embedded REST batching on / naive, requests/s", "REST batching on", "naive Flask+predict()", "rps"),
        ("embedded gRPC batching on / naive, requests/s", "gRPC batching on", "naive Flask+predict()", "rps"),
        ("gRPC / REST (batching on), requests/s", "gRPC batching on", "REST batching on", "rps"),
    ]
    found = []
    for title, a, b, attribute in pairs:
        cell_a, cell_b = find(cells, a, top), find(cells, b, top)
        value_a, value_b = getattr(cell_a, attribute, None), getattr(cell_b, attribute, None)
        if value_a is not None and value_b:
            found.append((f"{title} at {top} clients", value_a / value_b))
    return found


def table(cells: list[Cell]) -> str:
    def ms(value: float | None) -> str:
        return f"{value:>8.2f}" if value is not None else f"{'-':>8}"

    lines = [f"{'target':<30} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"]
    lines += [f"{c.target:<30} {c.concurrency:>7} {c.rps:>9.1f} {ms(c.p50_ms)} {ms(c.p99_ms)} {c.errors:>6}" for c in cells]
    return "\n".join(lines)


def run_bench(model_name: str, models_dir: Path, artifacts_dir: Path, batching_file: Path, seconds: float,
              skip_naive: bool, output: Path, say: Say) -> tuple[list[Cell], list[tuple[str, float]]]:
    """Measure every cell, write them and the ratios to `output` (JSON); return both."""
    version_dir = newest_version(models_dir, model_name)
    keras_model = artifacts_dir / "model.keras"
    if not skip_naive and not keras_model.is_file():
        raise LoadTestError(f"{keras_model} not found; run `make train` or pass --skip-naive")
    output.parent.mkdir(parents=True, exist_ok=True)
    say(f"benchmarking {model_name} version {version_dir.name}, {seconds:g} s per cell")
    cells = in_process_cells(version_dir, seconds)
    cells += embedded_cells(models_dir, model_name, None, seconds, output.parent, say)
    cells += embedded_cells(models_dir, model_name, batching_file, seconds, output.parent, say)
    if not skip_naive:
        cells += naive_cells(keras_model, seconds, output.parent, say)
    found = ratios(cells)
    output.write_text(json.dumps({"cells": [asdict(c) | {"rps": c.rps} for c in cells], "ratios": dict(found),
                                  "seconds_per_cell": seconds, "percentile_rule": PERCENTILE_RULE}, indent=2))
    return cells, found
