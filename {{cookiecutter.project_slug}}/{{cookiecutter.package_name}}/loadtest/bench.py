"""Side-by-side serving benchmark: what batching and the serving stack buy on this machine.

One run measures, on the same model and machine, requests/s, rows/s and p50/p99 latency of:
- the SavedModel called in-process through the server's Session path, at batch 1 and at the best
  batch size (the ceiling, in rows/s);
- CPU per model call of that Session path against the object-graph path (`tf.saved_model.load`),
  at batch 1, 16 and 256, with TensorFlow's thread flags at their defaults and at 1 (load_paths.py);
- the embedded server over REST and gRPC, batching off and on, at several client concurrencies,
  with one row per request, then with ranking-size requests (50 and 200 rows) and batching on;
- each protocol's floor: the same runtimes (grpc.aio, aiohttp) answering a canned reply, no model;
- a naive baseline: a web framework calling Keras `model.predict()` once per request.
Every cell also records the server's CPU per request (psutil on the server process, over the
measured seconds only) and the load generator's (this process), so where the time goes is
measured, not guessed: the server's own work is its CPU per request minus its protocol's floor. A
cell whose load generator used more than CLIENT_BOUND_CORES of a core is marked: there the
client, not the server, may have set the pace. Machines are noisy, so the table's meaning is in
the ratios printed under it, not in single numbers.
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
from ..stack.prometheus import answers
from .closed_loop import Load, Recorder
from .load_paths import PathCell, load_path_cells, path_ratios
from .payloads import grpc_requests, rest_bodies
from .preflight import newest_version
from .resources import CpuMeter
from .scenarios.common import server_flags
from .stats import PERCENTILE_RULE, percentile

LEVELS = (1, 16, 64)
CEILING_BATCHES = (1, 16, 64, 256, 1024)  # in-process batch sizes tried for the ceiling
RANKING_ROWS = (50, 200)  # rows per request of the ranking-size cells
POOL = 512  # distinct requests per client pool
CLIENT_BOUND_CORES = 0.9  # the load generator is one Python process: past this it may set the pace
WARMUP_SECONDS = 0.5  # per cell, unmeasured: connections open, the first batches run
RANKING_BATCH_REQUESTS = 8  # ranking cells: max_batch_size holds this many requests
REST_FLOOR, GRPC_FLOOR, NAIVE = "REST floor (aiohttp)", "gRPC floor (grpc.aio)", "naive Flask+predict()"
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
    rows: int = 1  # rows per request
    server_cpu_us: float | None = None  # server CPU per request
    client_cpu_us: float | None = None  # load generator CPU per request
    client_cores: float | None = None  # load generator CPU / wall time

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rps * self.rows

    @property
    def client_bound(self) -> bool:
        return self.client_cores is not None and self.client_cores > CLIENT_BOUND_CORES


def summarize(target: str, concurrency: int, latencies: list[float], errors: int, seconds: float) -> Cell:
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    return Cell(target, concurrency, len(latencies), errors, seconds,
                None if p50 is None else p50 * 1e3, None if p99 is None else p99 * 1e3)


@dataclass
class Driven:
    """One measured load: what the clients saw, and the CPU both sides used meanwhile."""

    recorder: Recorder
    seconds: float
    server_cpu_seconds: float | None
    client_cpu_seconds: float


def measured(target: str, concurrency: int, driven: Driven, rows: int = 1) -> Cell:
    recorder = driven.recorder
    errors = sum(n for kind, n in recorder.total.items() if kind != "ok")
    cell = summarize(target, concurrency, recorder.current.latencies, errors, driven.seconds)
    answered = sum(recorder.total.values())
    cell.rows = rows
    if answered:
        if driven.server_cpu_seconds is not None:
            cell.server_cpu_us = driven.server_cpu_seconds / answered * 1e6
        cell.client_cpu_us = driven.client_cpu_seconds / answered * 1e6
    cell.client_cores = driven.client_cpu_seconds / driven.seconds if driven.seconds else None
    return cell


# --- the parts being compared -------------------------------------------------------------------

def in_process_cells(version_dir: Path, seconds: float) -> list[Cell]:
    """The ceiling: the server's own Session path with no HTTP, no JSON, one caller; batch 1 and the
    best of a few batch sizes."""
    from embedded_tfserving.servable import Servable

    from ..data.schema import load_schema
    from ..data.synthetic import generate

    servable = Servable("bench", 1, version_dir)
    features = generate(load_schema(), max(CEILING_BATCHES), seed=7)
    cells = []
    for batch in CEILING_BATCHES:
        inputs = {"dense": features.dense[:batch], "categorical": features.categorical[:batch].astype(object)}
        servable.run(SIGNATURE, inputs)
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds / 2
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            servable.run(SIGNATURE, inputs)
            latencies.append(time.perf_counter() - t0)
        cell = summarize(f"in-process batch {batch}", 1, latencies, 0, time.perf_counter() - started)
        cell.rows = batch  # one call serves `batch` rows: rows_per_s is the ceiling
        cells.append(cell)
    servable.release()
    best = max(cells[1:], key=lambda c: c.rows_per_s)
    return [cells[0], best]


def _drive(server_rest: str, server_grpc: str, model_name: str, protocol: str, bodies: list[bytes],
           requests: list[object], level: int, seconds: float, server_pid: int | None) -> Driven:
    """A warm-up, then `seconds` of `level` closed-loop clients; CPU is read around the second only."""
    rest, grpc = (level, 0) if protocol == "rest" else (0, level)

    def load(recorder: Recorder) -> Load:
        return Load(server_rest, server_grpc, model_name, bodies, list(requests), recorder, rest_clients=rest,
                    grpc_clients=grpc)

    asyncio.run(load(Recorder()).run(seconds=WARMUP_SECONDS))
    recorder = Recorder()
    server = CpuMeter(server_pid).start() if server_pid else None
    client_started = time.process_time()
    elapsed = asyncio.run(load(recorder).run(seconds=seconds))
    client_cpu = time.process_time() - client_started
    server_cpu = server.stop().cpu_seconds if server else None
    return Driven(recorder, elapsed, server_cpu, client_cpu)


def embedded_cells(models_dir: Path, model_name: str, batching_file: Path | None, seconds: float, log_dir: Path,
                   say: Say, levels: tuple[int, ...] = LEVELS, rows: int = 1) -> list[Cell]:
    label = "batching on" if batching_file else "batching off"
    # The flags `make serve` gives the server (compose's tfserving command), on this models folder.
    flags = server_flags(models_dir.resolve(), batching=batching_file is not None, batching_file=batching_file)
    cells = []
    log_name = f"server-{label.replace(' ', '-')}" + (f"-{rows}rows" if rows > 1 else "")
    with ServerProcess(flags, log_dir / f"{log_name}.log") as server:
        server.start()
        bodies = rest_bodies(rows=rows, pool=POOL, seed=7)
        requests = grpc_requests(model_name, rows=rows, pool=POOL, seed=7)
        for level in levels:
            say(f"  embedded {label}, {rows} row(s) per request: REST and gRPC at {level} clients ...")
            for protocol, name in (("rest", "REST"), ("grpc", "gRPC")):
                driven = _drive(server.rest_url, server.grpc_target, model_name, protocol, bodies, requests, level,
                                seconds, server.pid)
                cells.append(measured(f"{name} {label}", level, driven, rows))
    return cells


def floor_cells(seconds: float, log_dir: Path, say: Say, level: int, rows: int = 1) -> list[Cell]:
    """Each protocol's floor (floor_server.py), at the top concurrency."""
    grpc_port, rest_port = free_port(), free_port()
    url = f"http://127.0.0.1:{rest_port}"
    command = [sys.executable, "-m", f"{__package__}.floor_server", str(grpc_port), str(rest_port)]
    cells = []
    with ChildProcess(command, log_dir / "floor-server.log", cwd=PROJECT_ROOT, python_path=[PROJECT_ROOT]) as child:
        child.start()
        child.wait_until(lambda: answers(f"{url}/ready"), 120, "the floor server")
        bodies = rest_bodies(rows=rows, pool=POOL, seed=7)
        requests = grpc_requests("floor", rows=rows, pool=POOL, seed=7)
        say(f"  floors (canned replies) at {level} clients ...")
        for protocol, name in (("rest", REST_FLOOR), ("grpc", GRPC_FLOOR)):
            driven = _drive(url, f"127.0.0.1:{grpc_port}", "floor", protocol, bodies, requests, level, seconds, child.pid)
            cells.append(measured(name, level, driven, rows))
    return cells


def ranking_batching_file(batching_file: Path, rows: int, out_dir: Path) -> Path:
    """The batching file with max_batch_size raised to hold RANKING_BATCH_REQUESTS requests of `rows`
    rows (compose's 64 rows hold one 50-row request and refuse a 200-row one: a task larger than
    max_batch_size is an error)."""
    from google.protobuf import text_format

    from embedded_tfserving.config import read_batching_parameters

    params = read_batching_parameters(batching_file)
    params.max_batch_size.value = max(params.max_batch_size.value, rows * RANKING_BATCH_REQUESTS)
    if params.HasField("max_execution_batch_size"):
        params.max_execution_batch_size.value = max(params.max_execution_batch_size.value, params.max_batch_size.value)
    path = out_dir / f"batching-{rows}rows.conf"
    path.write_text(text_format.MessageToString(params))
    return path


def naive_cells(keras_model: Path, seconds: float, log_dir: Path, say: Say, levels: tuple[int, ...] = LEVELS,
                rows: int = 1) -> list[Cell]:
    """Flask + Keras `model.predict()` per request: what many first deployments look like."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", f"{__package__}.naive_app", str(keras_model.resolve()), str(port)]
    cells = []
    with ChildProcess(command, log_dir / "naive-server.log", cwd=PROJECT_ROOT, python_path=[PROJECT_ROOT]) as child:
        child.start()
        child.wait_until(lambda: answers(f"{url}/ready"), 120, "the naive baseline server")
        bodies = rest_bodies(rows=rows, pool=POOL, seed=7)
        for level in levels:
            say(f"  naive baseline at {level} clients ...")
            driven = _drive(url, "", "naive", "rest", bodies, [], level, seconds, child.pid)
            cells.append(measured(NAIVE, level, driven, rows))
    return cells


# --- report -------------------------------------------------------------------------------------

def find(cells: list[Cell], target: str, level: int, rows: int = 1) -> Cell | None:
    return next((c for c in cells if c.target == target and c.concurrency == level and c.rows == rows), None)


def ceiling(cells: list[Cell]) -> Cell | None:
    """The best in-process cell: the rows/s the model itself allows on this machine."""
    found = [c for c in cells if c.target.startswith("in-process")]
    return max(found, key=lambda c: c.rows_per_s) if found else None


def floor_of(cells: list[Cell], target: str, level: int, rows: int = 1) -> Cell | None:
    """The floor cell of `target`'s protocol (same run, concurrency and request size)."""
    return find(cells, GRPC_FLOOR if target.startswith("gRPC") else REST_FLOOR, level, rows)


def own_work_us(cells: list[Cell], target: str, level: int, rows: int = 1) -> float | None:
    """Server CPU per request above its protocol's floor."""
    cell, floor = find(cells, target, level, rows), floor_of(cells, target, level, rows)
    if cell is None or floor is None or cell.server_cpu_us is None or floor.server_cpu_us is None:
        return None
    return cell.server_cpu_us - floor.server_cpu_us


def ratios(cells: list[Cell], top: int = max(LEVELS), rows: int = 1) -> list[tuple[str, float]]:
    """The comparisons that carry the meaning, each between two cells of this run: at the top
    concurrency, with `rows` rows per request; then the ranking-size cells against the ceiling."""
    pairs = [
        ("REST batching on / off, requests/s", "REST batching on", "REST batching off", "rps"),
        ("gRPC batching on / off, requests/s", "gRPC batching on", "gRPC batching off", "rps"),
        ("REST batching off / on, p99 latency", "REST batching off", "REST batching on", "p99_ms"),
        ("gRPC batching off / on, p99 latency", "gRPC batching off", "gRPC batching on", "p99_ms"),
        ("embedded REST batching on / naive, requests/s", "REST batching on", NAIVE, "rps"),
        ("embedded gRPC batching on / naive, requests/s", "gRPC batching on", NAIVE, "rps"),
        ("gRPC / REST (batching on), requests/s", "gRPC batching on", "REST batching on", "rps"),
        ("gRPC / REST (batching on), server CPU per request", "gRPC batching on", "REST batching on", "server_cpu_us"),
        ("gRPC / REST floor, server CPU per request", GRPC_FLOOR, REST_FLOOR, "server_cpu_us"),
    ]
    found = []
    for title, a, b, attribute in pairs:
        value_a = getattr(find(cells, a, top, rows), attribute, None)
        value_b = getattr(find(cells, b, top, rows), attribute, None)
        if value_a is not None and value_b:
            found.append((f"{title} at {top} clients", value_a / value_b))
    for mode in ("on", "off"):
        grpc = own_work_us(cells, f"gRPC batching {mode}", top, rows)
        rest = own_work_us(cells, f"REST batching {mode}", top, rows)
        if grpc is not None and rest and rest > 0:
            found.append((f"gRPC / REST (batching {mode}), own work per request at {top} clients", grpc / rest))
    best = ceiling(cells)
    for size in sorted({c.rows for c in cells if not c.target.startswith("in-process")}):
        grpc_cell, rest_cell = find(cells, "gRPC batching on", top, size), find(cells, "REST batching on", top, size)
        if size != rows and grpc_cell and rest_cell and rest_cell.rps:
            found.append((f"gRPC / REST (batching on), {size} rows per request, rows/s at {top} clients",
                          grpc_cell.rows_per_s / rest_cell.rows_per_s))
        for cell in (rest_cell, grpc_cell):
            if cell and best and best.rows_per_s:
                found.append((f"{cell.target}, {size} rows per request / in-process ceiling, rows/s",
                              cell.rows_per_s / best.rows_per_s))
    return found


def _number(value: float | None, width: int, digits: int = 0) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def table(cells: list[Cell]) -> str:
    """Every cell; `*` after the client figures: the load generator may have set the pace."""
    lines = [f"{'target':<30} {'clients':>7} {'rows':>4} {'req/s':>9} {'rows/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'errors':>6} {'srv us/req':>10} {'cli us/req':>10} {'cli cores':>9}"]
    for c in cells:
        mark = "*" if c.client_bound else " "
        lines.append(f"{c.target:<30} {c.concurrency:>7} {c.rows:>4} {c.rps:>9.1f} {c.rows_per_s:>9.0f} "
                     f"{_number(c.p50_ms, 8, 2)} {_number(c.p99_ms, 8, 2)} {c.errors:>6} "
                     f"{_number(c.server_cpu_us, 10)} {_number(c.client_cpu_us, 10)} {_number(c.client_cores, 8, 2)}{mark}")
    if any(c.client_bound for c in cells):
        lines.append(f"* the load generator used more than {CLIENT_BOUND_CORES:g} of a core: it may have set the pace")
    return "\n".join(lines)


def cpu_table(cells: list[Cell], level: int, rows: int = 1) -> str:
    """Where each protocol's server time goes at `level` clients: total, the floor, our own work."""
    lines = [f"server CPU per request at {level} clients, {rows} row(s) per request "
             "(us; own work = server CPU - its protocol's floor)",
             f"{'target':<30} {'server':>8} {'floor':>8} {'own work':>9} {'client':>8}"]
    for target in ("REST batching off", "gRPC batching off", "REST batching on", "gRPC batching on", REST_FLOOR, GRPC_FLOOR):
        cell = find(cells, target, level, rows)
        if cell is None:
            continue
        floor = floor_of(cells, target, level, rows)
        lines.append(f"{target:<30} {_number(cell.server_cpu_us, 8)} "
                     f"{_number(floor.server_cpu_us if floor else None, 8)} "
                     f"{_number(own_work_us(cells, target, level, rows), 9)} {_number(cell.client_cpu_us, 8)}")
    return "\n".join(lines)


@dataclass
class Bench:
    cells: list[Cell]
    ratios: list[tuple[str, float]]
    load_paths: list[PathCell]
    load_path_ratios: list[tuple[str, float]]


def run_bench(model_name: str, models_dir: Path, artifacts_dir: Path, batching_file: Path, seconds: float,
              skip_naive: bool, output: Path, say: Say, levels: tuple[int, ...] = LEVELS, rows: int = 1,
              ranking_rows: tuple[int, ...] = RANKING_ROWS, load_paths: bool = True) -> Bench:
    """Measure every cell, write them and the ratios to `output` (JSON); return them."""
    version_dir = newest_version(models_dir, model_name)
    keras_model = artifacts_dir / "model.keras"
    if not skip_naive and not keras_model.is_file():
        raise LoadTestError(f"{keras_model} not found; run `make train` or pass --skip-naive")
    output.parent.mkdir(parents=True, exist_ok=True)
    top = max(levels)
    say(f"benchmarking {model_name} version {version_dir.name}, {seconds:g} s per cell")
    cells = in_process_cells(version_dir, seconds)
    paths = load_path_cells(version_dir, seconds / 2, say) if load_paths else []
    cells += floor_cells(seconds, output.parent, say, top, rows)
    cells += embedded_cells(models_dir, model_name, None, seconds, output.parent, say, levels, rows)
    main_batching = batching_file if rows == 1 else ranking_batching_file(batching_file, rows, output.parent)
    cells += embedded_cells(models_dir, model_name, main_batching, seconds, output.parent, say, levels, rows)
    for size in (r for r in ranking_rows if r != rows):
        cells += embedded_cells(models_dir, model_name, ranking_batching_file(batching_file, size, output.parent),
                                seconds, output.parent, say, (top,), size)
    if not skip_naive:
        cells += naive_cells(keras_model, seconds, output.parent, say, levels, rows)
    bench = Bench(cells, ratios(cells, top, rows), paths, path_ratios(paths))
    output.write_text(json.dumps({
        "cells": [asdict(c) | {"rps": c.rps, "rows_per_s": c.rows_per_s, "client_bound": c.client_bound} for c in cells],
        "ratios": dict(bench.ratios), "load_paths": [asdict(c) for c in paths],
        "load_path_ratios": dict(bench.load_path_ratios), "seconds_per_cell": seconds,
        "percentile_rule": PERCENTILE_RULE, "client_bound_cores": CLIENT_BOUND_CORES}, indent=2))
    return bench
