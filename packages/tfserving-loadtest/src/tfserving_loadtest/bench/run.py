"""Side-by-side serving benchmark: what batching and the serving stack buy on this machine.

It measures, on the same model and machine, requests/s, rows/s and p50/p99 latency of:
- the SavedModel called in-process through the server's Session path, at batch 1 and at the best
  batch size (the ceiling, in rows/s);
- CPU per model call of that Session path against the object-graph path (`tf.saved_model.load`),
  at batch 1, 16 and 256, with TensorFlow's thread flags at their defaults and at 1 (load_paths.py);
- the embedded server over REST and gRPC, batching off and on, at several client concurrencies,
  with one row per request, then with ranking-size requests (50 and 200 rows) and batching on;
- each protocol's floor: the same runtimes (grpc.aio, aiohttp) answering a canned reply, no model;
- a naive baseline, when given (`naive_command`): e.g. a web framework calling Keras
  `model.predict()` once per request.
Every cell also records the server's CPU per request (psutil on the server process, over the
measured seconds only) and the load generator's (this process), so where the time goes is
measured, not guessed: the server's own work is its CPU per request minus its protocol's floor. A
cell whose load generator used more than CLIENT_BOUND_CORES of a core is marked: there the
client, not the server, may have set the pace.

Machines are noisy (single runs here swing by +-30%), so every served cell is measured in
`repeats` runs (3 by default) on servers started once and kept up: each run measures every cell,
the two protocols' order alternating from cell to cell and run to run. The tables give each
figure's median over the runs and the spread of requests/s and server CPU; each ratio is computed
within each run, between two cells of that run, and the median of those is printed. After the
runs, py-spy records the batching-on server under each protocol's load alone (profile.py): the
share of its CPU in TensorFlow, transport, request code, batching and metrics, and its top frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from embedded_tfserving.process import PACKAGE_PARENT, ChildProcess, ServerProcess, free_port

from .. import sources, versions
from ..closed_loop import Load, Recorder
from ..errors import LoadTestError
from ..preflight import answers
from ..resources import CpuMeter
from ..stats import PERCENTILE_RULE, percentile
from .load_paths import PathCell, load_inputs, load_path_cells, path_ratios
from .profile import Profile, finish, record

LEVELS = (1, 16, 64)
CEILING_BATCHES = (1, 16, 64, 256, 1024)  # in-process batch sizes tried for the ceiling
RANKING_ROWS = (50, 200)  # rows per request of the ranking-size cells
POOL = 512  # distinct requests per client pool
CLIENT_BOUND_CORES = 0.9  # the load generator is one Python process: past this it may set the pace
WARMUP_SECONDS = 0.5  # per cell, unmeasured: connections open, the first batches run
RANKING_BATCH_REQUESTS = 8  # ranking cells: max_batch_size holds this many requests
REPEATS = 3  # runs of every served cell; the tables give their medians (machines here swing by +-30%)
PROFILE_SECONDS = 5.0  # py-spy's recording per protocol, at least
REST_FLOOR, GRPC_FLOOR, NAIVE = "REST floor (aiohttp)", "gRPC floor (grpc.aio)", "naive server"
BASELINE = "batching on, baseline"  # the --baseline server's cells: "REST batching on, baseline", ...
Say = Callable[[str], None]
Inputs = dict[str, np.ndarray]


@dataclass
class BenchOptions:
    model_name: str
    base_path: Path  # the model's versions: the newest is benchmarked
    requests: str  # sources.parse: the served cells' requests
    output: Path  # bench.json; the logs, inputs and profiles go beside it
    # batching parameters file (None: batching off) -> the embedded server's flags, free ports (0)
    server_flags: Callable[[Path | None], list[str]] = field(repr=False)
    batching_file: Path
    signature: str = "serving_default"
    # rows -> the in-process inputs (None: the first request's tensors, repeated to `rows` rows)
    inputs: Callable[[int], Inputs] | None = field(default=None, repr=False)
    # a server answering TF Serving's REST predict route, its port appended (None: no naive cells)
    naive_command: list[str] | None = None
    cwd: Path | None = None  # where the naive server runs (on its PYTHONPATH too)
    seconds: float = 5.0
    levels: tuple[int, ...] = LEVELS
    rows: int = 1
    ranking_rows: tuple[int, ...] = RANKING_ROWS
    load_paths: bool = True
    repeats: int = REPEATS
    profile: bool = True
    baseline: Path | None = None
    say: Say = field(default=print, repr=False)


def first_request_inputs(options: BenchOptions, version_dir: Path, rows: int) -> Inputs:
    """The source's first request as the server would read it (the embedded server's REST parser,
    with the signature's dtypes), its rows repeated to `rows`."""
    from embedded_tfserving.rest_requests import parse_body, predict_request_tensors
    from embedded_tfserving.servable import read_serve_meta_graph
    from tensorflow.core.framework import types_pb2

    signature = read_serve_meta_graph(version_dir).signature_def[options.signature]
    dtypes = {alias: types_pb2.DataType.Name(info.dtype) for alias, info in signature.inputs.items()}
    body = sources.parse(options.requests).rest_bodies(options.model_name, 1, 1, 7)[0]
    tensors, _ = predict_request_tensors(parse_body(body), dtypes)
    return {name: np.resize(value, (rows, *value.shape[1:])) if value.ndim else np.full(rows, value)
            for name, value in tensors.items()}


def save_inputs(options: BenchOptions, version_dir: Path) -> Path:
    """The in-process inputs for the largest batch, saved once for this process and the load-path
    children (which slice them)."""
    rows = max(CEILING_BATCHES)
    inputs = options.inputs(rows) if options.inputs else first_request_inputs(options, version_dir, rows)
    path = options.output.parent / "inputs.npz"
    np.savez(path, **inputs)  # type: ignore[arg-type]  # numpy's stubs take the first keyword for allow_pickle
    return path


@dataclass
class Cell:
    target: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float | None
    p99_ms: float | None
    rps: float = 0.0
    rows: int = 1  # rows per request
    server_cpu_us: float | None = None  # server CPU per request
    client_cpu_us: float | None = None  # load generator CPU per request
    client_cores: float | None = None  # load generator CPU / wall time
    runs: int = 1  # a median over this many runs
    rps_spread: float | None = None  # (highest - lowest) / median requests/s over the runs
    server_cpu_spread: float | None = None  # the same for server CPU per request

    @property
    def rows_per_s(self) -> float:
        return self.rps * self.rows

    @property
    def client_bound(self) -> bool:
        return self.client_cores is not None and self.client_cores > CLIENT_BOUND_CORES


def summarize(target: str, concurrency: int, latencies: list[float], errors: int, seconds: float) -> Cell:
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    return Cell(target, concurrency, len(latencies), errors, seconds,
                None if p50 is None else p50 * 1e3, None if p99 is None else p99 * 1e3,
                len(latencies) / seconds if seconds else 0.0)


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

def in_process_cells(version_dir: Path, signature: str, inputs_file: Path, seconds: float) -> list[Cell]:
    """The ceiling: the server's own Session path with no HTTP, no JSON, one caller; batch 1 and the
    best of a few batch sizes."""
    from embedded_tfserving.servable import Servable

    servable = Servable("bench", 1, version_dir)
    features = load_inputs(inputs_file)
    cells = []
    for batch in CEILING_BATCHES:
        inputs = {name: values[:batch] for name, values in features.items()}
        servable.run(signature, inputs)
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds / 2
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            servable.run(signature, inputs)
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


def ranking_batching_file(batching_file: Path, rows: int, out_dir: Path) -> Path:
    """The batching file with max_batch_size raised to hold RANKING_BATCH_REQUESTS requests of `rows`
    rows (compose's 64 rows hold one 50-row request and refuse a 200-row one: a task larger than
    max_batch_size is an error)."""
    from embedded_tfserving.config import read_batching_parameters
    from google.protobuf import text_format

    params = read_batching_parameters(batching_file)
    params.max_batch_size.value = max(params.max_batch_size.value, rows * RANKING_BATCH_REQUESTS)
    if params.HasField("max_execution_batch_size"):
        params.max_execution_batch_size.value = max(params.max_execution_batch_size.value, params.max_batch_size.value)
    path = out_dir / f"batching-{rows}rows.conf"
    path.write_text(text_format.MessageToString(params))
    return path


@dataclass(frozen=True)
class Measurement:
    """One cell of a run on a running server: a target name per protocol, at `level` clients."""

    targets: tuple[tuple[str, str], ...]  # (protocol, target name), in the order of even runs
    level: int
    rows: int
    rest_url: str
    grpc_target: str
    model: str
    pid: int | None


def start_servers(stack: contextlib.ExitStack, options: BenchOptions, pools: Pools) -> tuple[list[Measurement], ServerProcess]:
    """Every server of the bench, started once and kept up through the runs, and what each run
    measures on them; also the batching-on server, which the profile reads. `options.baseline`: a
    folder holding another release's embedded_tfserving, started with the same flags and measured
    batching on at the top concurrency, beside this one in every run."""
    top, rows, log_dir, say = max(options.levels), options.rows, options.output.parent, options.say
    plan: list[Measurement] = []
    both = (("rest", "REST"), ("grpc", "gRPC"))

    def child(command: list[str], name: str, what: str) -> tuple[ChildProcess, str]:
        """A server of the comparison (the floor, the naive one), up once its /ready answers."""
        rest_port = free_port()
        url = f"http://127.0.0.1:{rest_port}"
        cwd = options.cwd
        started = stack.enter_context(ChildProcess([*command, str(rest_port)], log_dir / f"{name}-server.log", cwd=cwd,
                                                   python_path=[cwd] if cwd else []))
        say(f"  starting {what} ...")
        started.start()
        started.wait_until(lambda: answers(f"{url}/ready"), 120, what)
        return started, url

    def embedded(label: str, file: Path | None, size: int, cell_levels: tuple[int, ...],
                 package_parent: Path = PACKAGE_PARENT) -> ServerProcess:
        log_name = f"server-{label.replace(' ', '-').replace(',', '')}" + (f"-{size}rows" if size > 1 else "")
        say(f"  starting the embedded server, {label}, {size} row(s) per request ...")
        server = stack.enter_context(ServerProcess(options.server_flags(file), log_dir / f"{log_name}.log",
                                                   package_parent=package_parent)).start()
        for level in cell_levels:
            plan.append(Measurement(tuple((p, f"{name} {label}") for p, name in both), level, size, server.rest_url,
                                    server.grpc_target, options.model_name, server.pid))
        return server

    batching_off = embedded("batching off", None, rows, options.levels)
    main_batching = options.batching_file if rows == 1 else ranking_batching_file(options.batching_file, rows, log_dir)
    batching_on = embedded("batching on", main_batching, rows, options.levels)
    if options.baseline is not None:
        embedded(BASELINE, main_batching, rows, (top,), options.baseline.resolve())
    for size in (r for r in options.ranking_rows if r != rows):
        embedded("batching on", ranking_batching_file(options.batching_file, size, log_dir), size, (top,))
    # The floor answers with the real server's replies to the first request, read from files.
    rest_reply, grpc_reply = canned_replies(batching_off, options.model_name, pools.get(options.model_name, rows,
                                                                                        batching_off.rest_url))
    (log_dir / "floor-reply.json").write_bytes(rest_reply)
    (log_dir / "floor-reply.pb").write_bytes(grpc_reply)
    grpc_port = free_port()
    floor, floor_url = child([sys.executable, "-m", f"{__package__}.floor_server", str(log_dir / "floor-reply.json"),
                              str(log_dir / "floor-reply.pb"), str(grpc_port)], "floor", "the floor server (canned replies)")
    plan.insert(0, Measurement((("rest", REST_FLOOR), ("grpc", GRPC_FLOOR)), top, rows, floor_url,
                               f"127.0.0.1:{grpc_port}", options.model_name, floor.pid))
    if options.naive_command:
        naive, naive_url = child(options.naive_command, "naive", "the naive baseline server")
        plan += [Measurement((("rest", NAIVE),), level, rows, naive_url, "", "naive", naive.pid)
                 for level in options.levels]
    return plan, batching_on


def canned_replies(server: ServerProcess, model_name: str, pool: tuple[list[bytes], list[Any]]) -> tuple[bytes, bytes]:
    """The server's REST reply body and serialized PredictResponse to the pools' first requests."""
    import grpc
    import requests
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    bodies, predict_requests = pool
    reply = requests.post(f"{server.rest_url}/v1/models/{model_name}:predict", data=bodies[0], timeout=30)
    if not reply.ok:
        raise LoadTestError(f"the benchmark's first request failed on the server: HTTP {reply.status_code} {reply.text[:200]}")
    with grpc.insecure_channel(server.grpc_target) as channel:
        answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(predict_requests[0], timeout=30)
    return reply.content, answer.SerializeToString()


class Pools:
    """Request pools built once per (model name, rows per request) from the request source and shared
    by every run: REST bodies (which do not name the model) and gRPC PredictRequests (which do)."""

    def __init__(self, requests: str) -> None:
        self.source = sources.parse(requests)
        self._rest: dict[int, list[bytes]] = {}
        self._grpc: dict[tuple[str, int], list[Any]] = {}

    def get(self, model: str, rows: int, rest_url: str = "", grpc: bool = True) -> tuple[list[bytes], list[Any]]:
        """`rest_url`: a server serving the model, for a source that needs its signature's dtypes."""
        if rows not in self._rest:
            self._rest[rows] = self.source.rest_bodies(model, rows, POOL, 7)
        if grpc and (model, rows) not in self._grpc:
            self._grpc[model, rows] = self.source.grpc_requests(model, rows, POOL, 7, rest_url)
        return self._rest[rows], self._grpc.get((model, rows), [])


def run_once(plan: list[Measurement], pools: Pools, seconds: float, number: int, say: Say) -> list[Cell]:
    """Every measurement of the plan once; the protocols' order alternates from cell to cell and run
    to run, so that neither protocol is always measured first."""
    cells = []
    for index, measurement in enumerate(plan):
        targets = measurement.targets if (number + index) % 2 == 0 else tuple(reversed(measurement.targets))
        bodies, requests = pools.get(measurement.model, measurement.rows, measurement.rest_url,
                                     grpc=bool(measurement.grpc_target))
        for protocol, target in targets:
            driven = _drive(measurement.rest_url, measurement.grpc_target, measurement.model, protocol, bodies,
                            requests, measurement.level, seconds, measurement.pid)
            cells.append(measured(target, measurement.level, driven, measurement.rows))
    say(f"  run {number + 1} done")
    return cells


def _spread(values: list[float]) -> float | None:
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle if len(values) > 1 and middle else None


def median_cells(runs: list[list[Cell]], plan: list[Measurement]) -> list[Cell]:
    """One cell per (target, clients, rows), in the plan's order: the median of each figure over the
    runs, with the spread of requests/s and of server CPU per request."""
    groups: dict[tuple[str, int, int], list[Cell]] = {
        (target, m.level, m.rows): [] for m in plan for _, target in m.targets}
    for cells in runs:
        for cell in cells:
            groups.setdefault((cell.target, cell.concurrency, cell.rows), []).append(cell)

    def middle(values: Sequence[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.median(known) if known else None

    medians = []
    for (target, level, rows), cells in groups.items():
        rps = [c.rps for c in cells]
        cpu = [c.server_cpu_us for c in cells if c.server_cpu_us is not None]
        medians.append(Cell(target, level, round(statistics.median(c.requests for c in cells)),
                            sum(c.errors for c in cells), statistics.median(c.seconds for c in cells),
                            middle([c.p50_ms for c in cells]), middle([c.p99_ms for c in cells]),
                            statistics.median(rps), rows, middle(cpu), middle([c.client_cpu_us for c in cells]),
                            middle([c.client_cores for c in cells]), len(cells), _spread(rps),
                            _spread(cpu) if cpu else None))
    return medians


def median_ratios(per_run: list[list[tuple[str, float]]]) -> list[tuple[str, float, float, float]]:
    """(title, median, lowest, highest) of each ratio over the runs; each run's ratio compares two
    cells of that run."""
    values: dict[str, list[float]] = {}
    for found in per_run:
        for title, value in found:
            values.setdefault(title, []).append(value)
    return [(title, statistics.median(v), min(v), max(v)) for title, v in values.items()]


def profile_server(server: ServerProcess, pools: Pools, model_name: str, level: int, seconds: float, out_dir: Path,
                   say: Say) -> dict[str, Profile]:
    """py-spy on the batching-on server while each protocol alone loads it (a run of its own: the
    profiler's sampling would disturb the measured ones); raw stacks kept as profile-<protocol>.txt."""
    bodies, requests = pools.get(model_name, 1, server.rest_url)
    found = {}
    for protocol, name in (("rest", "REST batching on"), ("grpc", "gRPC batching on")):
        say(f"  profiling the server under {name} at {level} clients ...")
        output = out_dir / f"profile-{protocol}.txt"
        started = record(server.pid or 0, seconds, output)
        if not isinstance(started, str):
            rest, grpc = (level, 0) if protocol == "rest" else (0, level)
            load = Load(server.rest_url, server.grpc_target, model_name, bodies, list(requests), Recorder(),
                        rest_clients=rest, grpc_clients=grpc)
            asyncio.run(load.run(seconds=seconds + 1))  # py-spy attaches within the first second
        found[name] = finish(started, output)
    return found


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
        ("gRPC / REST floor, requests/s", GRPC_FLOOR, REST_FLOOR, "rps"),
        ("REST batching on / REST floor, server CPU per request", "REST batching on", REST_FLOOR, "server_cpu_us"),
        ("gRPC batching on / gRPC floor, server CPU per request", "gRPC batching on", GRPC_FLOOR, "server_cpu_us"),
        (f"REST {BASELINE} / REST floor, server CPU per request", f"REST {BASELINE}", REST_FLOOR, "server_cpu_us"),
        (f"gRPC {BASELINE} / gRPC floor, server CPU per request", f"gRPC {BASELINE}", GRPC_FLOOR, "server_cpu_us"),
        (f"REST batching on / {BASELINE}, server CPU per request", "REST batching on", f"REST {BASELINE}",
         "server_cpu_us"),
        (f"gRPC batching on / {BASELINE}, server CPU per request", "gRPC batching on", f"gRPC {BASELINE}",
         "server_cpu_us"),
        (f"REST batching on / {BASELINE}, requests/s", "REST batching on", f"REST {BASELINE}", "rps"),
        (f"gRPC batching on / {BASELINE}, requests/s", "gRPC batching on", f"gRPC {BASELINE}", "rps"),
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


def _percent(value: float | None) -> str:
    return f"{value:>6.0%}" if value is not None else f"{'-':>6}"


def table(cells: list[Cell]) -> str:
    """Every cell (medians over the runs, with the spread of req/s and of server CPU: highest - lowest,
    over the median); `*` after the client figures: the load generator may have set the pace."""
    lines = [f"{'target':<30} {'clients':>7} {'rows':>4} {'req/s':>9} {'+-':>6} {'rows/s':>9} {'p50 ms':>8} "
             f"{'p99 ms':>8} {'errors':>6} {'srv us/req':>10} {'+-':>6} {'cli us/req':>10} {'cli cores':>9}"]
    for c in cells:
        mark = "*" if c.client_bound else " "
        lines.append(f"{c.target:<30} {c.concurrency:>7} {c.rows:>4} {c.rps:>9.1f} {_percent(c.rps_spread)} "
                     f"{c.rows_per_s:>9.0f} {_number(c.p50_ms, 8, 2)} {_number(c.p99_ms, 8, 2)} {c.errors:>6} "
                     f"{_number(c.server_cpu_us, 10)} {_percent(c.server_cpu_spread)} {_number(c.client_cpu_us, 10)} "
                     f"{_number(c.client_cores, 8, 2)}{mark}")
    runs = max((c.runs for c in cells), default=1)
    lines.append(f"medians over {runs} run(s); +-: the spread (highest - lowest) / median of that column")
    if any(c.client_bound for c in cells):
        lines.append(f"* the load generator used more than {CLIENT_BOUND_CORES:g} of a core: it may have set the pace")
    return "\n".join(lines)


def cpu_table(cells: list[Cell], level: int, rows: int = 1) -> str:
    """Where each protocol's server time goes at `level` clients: total, the floor, our own work."""
    lines = [f"server CPU per request at {level} clients, {rows} row(s) per request "
             "(us; own work = server CPU - its protocol's floor)",
             f"{'target':<30} {'server':>8} {'floor':>8} {'own work':>9} {'client':>8}"]
    for target in ("REST batching off", "gRPC batching off", "REST batching on", "gRPC batching on", f"REST {BASELINE}",
                   f"gRPC {BASELINE}", REST_FLOOR, GRPC_FLOOR):
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
    cells: list[Cell]  # medians over the runs (the in-process and load-path figures: one run)
    ratios: list[tuple[str, float, float, float]]  # title, median, lowest, highest
    runs: list[list[Cell]]  # the served cells of each run
    load_paths: list[PathCell]
    load_path_ratios: list[tuple[str, float]]
    profiles: dict[str, Profile]


def run(options: BenchOptions) -> Bench:
    """Measure every cell `repeats` times, write the runs, their medians and spreads, the ratios, the
    load paths and the profile to `options.output` (JSON); return them."""
    version_dir = versions.newest(options.base_path)
    if options.repeats < 1:
        raise LoadTestError(f"--repeats must be at least 1, got {options.repeats}")
    options.output.parent.mkdir(parents=True, exist_ok=True)
    top, say = max(options.levels), options.say
    say(f"benchmarking {options.model_name} version {version_dir.name}, {options.seconds:g} s per cell, "
        f"{options.repeats} run(s)")
    inputs_file = save_inputs(options, version_dir)
    in_process = in_process_cells(version_dir, options.signature, inputs_file, options.seconds)
    paths = (load_path_cells(version_dir, options.seconds / 2, options.signature, inputs_file, say)
             if options.load_paths else [])
    pools = Pools(options.requests)
    with contextlib.ExitStack() as stack:
        plan, batching_on = start_servers(stack, options, pools)
        runs = [run_once(plan, pools, options.seconds, number, say) for number in range(options.repeats)]
        profiles = profile_server(batching_on, pools, options.model_name, top, max(options.seconds, PROFILE_SECONDS),
                                  options.output.parent, say) if options.profile else {}
    # Each run's ratios see the in-process cells too: the ceiling the ranking cells are compared with.
    bench = Bench(in_process + median_cells(runs, plan),
                  median_ratios([ratios(in_process + run, top, options.rows) for run in runs]),
                  runs, paths, path_ratios(paths), profiles)
    options.output.write_text(json.dumps({
        "cells": [asdict(c) | {"rows_per_s": c.rows_per_s, "client_bound": c.client_bound} for c in bench.cells],
        "ratios": {title: {"median": value, "lowest": low, "highest": high} for title, value, low, high in bench.ratios},
        "runs": [[asdict(c) for c in run] for run in runs], "repeats": options.repeats,
        "load_paths": [asdict(c) for c in paths], "load_path_ratios": dict(bench.load_path_ratios),
        "profile": {name: found.summary() for name, found in profiles.items()},
        "baseline": str(options.baseline) if options.baseline else None, "seconds_per_cell": options.seconds,
        "percentile_rule": PERCENTILE_RULE, "client_bound_cores": CLIENT_BOUND_CORES},
        indent=2))
    return bench


def text(bench: Bench, options: BenchOptions) -> str:
    """The report's text: every cell, where the server's CPU goes, the load paths, the profile, the ratios."""
    from .load_paths import path_table
    from .profile import profile_table

    sections = [table(bench.cells), f"({PERCENTILE_RULE})", "", cpu_table(bench.cells, max(options.levels), options.rows)]
    if bench.load_paths:
        sections += ["", path_table(bench.load_paths)]
    if bench.profiles:
        sections += ["", profile_table(bench.profiles)]
    sections += ["", f"ratios (each within one run, same machine; median over {options.repeats} run(s), lowest - highest):"]
    sections += [f"  {title:<58} {value:6.2f}x  ({low:.2f} - {high:.2f})" for title, value, low, high in bench.ratios]
    sections += [f"  {title:<58} {value:6.2f}x" for title, value in bench.load_path_ratios]
    return "\n".join(sections)
