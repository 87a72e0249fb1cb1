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
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click

LEVELS = (1, 16, 64)


@dataclass
class Cell:
    target: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(target: str, concurrency: int, latencies: list[float], errors: int, seconds: float) -> Cell:
    return Cell(target, concurrency, len(latencies), errors, seconds,
                percentile(latencies, 0.50) * 1e3, percentile(latencies, 0.99) * 1e3)


# --- payloads ---------------------------------------------------------------------------------

def payload_rows(rows: int, seed: int = 7) -> tuple[list[list[float]], list[list[str]]]:
    from ..data.schema import load_schema
    from ..data.synthetic import generate

    features = generate(load_schema(), rows, seed)
    return features.dense.astype(float).tolist(), [list(map(str, r)) for r in features.categorical]


def rest_bodies(pool: int) -> list[bytes]:
    dense, categorical = payload_rows(pool)
    return [json.dumps({"instances": [{"dense": d, "categorical": c}]}).encode() for d, c in zip(dense, categorical)]


def grpc_requests(model_name: str, pool: int) -> list:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    dense, categorical = payload_rows(pool)
    requests = []
    for d, c in zip(dense, categorical):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = "serving_default"
        request.inputs["dense"].CopyFrom(tf.make_tensor_proto([d], dtype=tf.float32))
        request.inputs["categorical"].CopyFrom(tf.make_tensor_proto([c], dtype=tf.string))
        requests.append(request)
    return requests


# --- closed-loop clients: each of `concurrency` workers sends its next request when the last returns

async def drive(send, bodies: list, concurrency: int, seconds: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal errors
        i = offset
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            ok = await send(bodies[i % len(bodies)])
            if ok:
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1
            i += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


async def drive_rest(url: str, bodies: list[bytes], concurrency: int, seconds: float) -> tuple[list[float], int, float]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def send(body: bytes) -> bool:
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                await response.read()
                return response.status == 200

        await drive(send, bodies[:concurrency], concurrency, 0.5)  # open the connections first
        return await drive(send, bodies, concurrency, seconds)


async def drive_grpc(target: str, requests: list, concurrency: int, seconds: float) -> tuple[list[float], int, float]:
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    async with grpc.aio.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        async def send(request) -> bool:
            try:
                await stub.Predict(request, timeout=30)
                return True
            except grpc.aio.AioRpcError:
                return False

        await drive(send, requests[:concurrency], concurrency, 0.5)
        return await drive(send, requests, concurrency, seconds)


# --- the parts being compared -------------------------------------------------------------------

def in_process_cells(version_dir: Path, seconds: float) -> list[Cell]:
    """The ceiling: no HTTP, no JSON, one caller; batch 1 and the best of a few batch sizes."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    dense, categorical = payload_rows(256)
    cells = []
    for batch in (1, 16, 64, 256):
        inputs = {"dense": tf.constant(dense[:batch], tf.float32), "categorical": tf.constant(categorical[:batch])}
        signature(**inputs)
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds / 2
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            signature(**inputs)
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        cell = summarize(f"in-process batch {batch}", 1, latencies, 0, elapsed)
        cell.requests *= batch  # rows served: the batch-1-request equivalent
        cells.append(cell)
    best = max(cells[1:], key=lambda c: c.rps)
    return [cells[0], best]


def server_flags(models_dir: Path, model_name: str, grpc_port: int, rest_port: int, batching_file: Path | None) -> list[str]:
    flags = [f"--port={grpc_port}", f"--rest_api_port={rest_port}", f"--model_name={model_name}",
             f"--model_base_path={(models_dir / model_name).resolve()}"]
    if batching_file is not None:
        flags += ["--enable_batching", f"--batching_parameters_file={batching_file.resolve()}"]
    return flags


def embedded_cells(models_dir: Path, model_name: str, batching_file: Path | None, seconds: float, log_dir: Path) -> list[Cell]:
    from .process import EmbeddedServer, free_port

    label = "batching on" if batching_file else "batching off"
    grpc_port, rest_port = free_port(), free_port()
    cells = []
    with EmbeddedServer(server_flags(models_dir, model_name, grpc_port, rest_port, batching_file),
                        log_path=log_dir / f"server-{label.replace(' ', '-')}.log") as server:
        server.start()
        url = f"{server.rest_url}/v1/models/{model_name}:predict"
        bodies, requests = rest_bodies(512), grpc_requests(model_name, 512)
        for level in LEVELS:
            click.echo(f"  embedded {label}: REST and gRPC at {level} clients ...", err=True)
            cells.append(summarize(f"REST {label}", level, *asyncio.run(drive_rest(url, bodies, level, seconds))))
            cells.append(summarize(f"gRPC {label}", level, *asyncio.run(drive_grpc(server.grpc_target, requests, level, seconds))))
    return cells


def naive_cells(keras_model: Path, seconds: float, log_dir: Path) -> list[Cell]:
    """Flask + Keras `model.predict()` per request: what many first deployments look like."""
    from .process import free_port

    port = free_port()
    log = (log_dir / "naive-server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", f"{__package__}.naive_app", str(keras_model), str(port)],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/predict"
        deadline = time.time() + 120
        while True:
            if process.poll() is not None:
                raise click.ClickException(f"the naive baseline server exited; see {log.name}")
            try:
                import urllib.request
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1)
                break
            except OSError:
                if time.time() > deadline:
                    raise click.ClickException("the naive baseline server did not start within 120 s")
                time.sleep(0.5)
        bodies = rest_bodies(512)
        cells = []
        for level in LEVELS:
            click.echo(f"  naive baseline at {level} clients ...", err=True)
            cells.append(summarize("naive Flask+predict()", level, *asyncio.run(drive_rest(url, bodies, level, seconds))))
        return cells
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


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
        if cell_a and cell_b and getattr(cell_b, attribute):
            found.append((f"{title} at {top} clients", getattr(cell_a, attribute) / getattr(cell_b, attribute)))
    return found


def table(cells: list[Cell]) -> str:
    lines = [f"{'target':<30} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"]
    lines += [f"{c.target:<30} {c.concurrency:>7} {c.rps:>9.1f} {c.p50_ms:>8.2f} {c.p99_ms:>8.2f} {c.errors:>6}" for c in cells]
    return "\n".join(lines)


@click.command("bench")
@click.option("--model-name", envvar="MODEL_NAME", default="ctr", show_default=True)
@click.option("--models-dir", type=click.Path(path_type=Path), default=Path("models"), show_default=True)
@click.option("--artifacts-dir", type=click.Path(path_type=Path), default=Path("artifacts"), show_default=True,
              help="Where train wrote model.keras (the naive baseline serves it).")
@click.option("--batching-file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=Path("compose/batching.conf"), show_default=True)
@click.option("--seconds", type=float, default=5.0, show_default=True, help="Measurement time per cell.")
@click.option("--skip-naive", is_flag=True, help="Leave out the naive baseline.")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Write the cells and ratios as JSON here (default: reports/<time>-bench/bench.json).")
def bench_command(model_name: str, models_dir: Path, artifacts_dir: Path, batching_file: Path,
                  seconds: float, skip_naive: bool, output: Path | None) -> None:
    """Benchmark in-process, embedded REST/gRPC (batching off/on) and a naive server side by side."""
    from ..export.publish import existing_versions

    versions = existing_versions(models_dir / model_name)
    if not versions:
        raise click.ClickException(f"no published version under {models_dir / model_name}; run `make train export` first")
    version_dir = versions[max(versions)]
    keras_model = artifacts_dir / "model.keras"
    if not skip_naive and not keras_model.is_file():
        raise click.ClickException(f"{keras_model} not found; run `make train` or pass --skip-naive")
    output = output or Path("reports") / f"{time.strftime('%Y%m%d-%H%M%S')}-bench" / "bench.json"
    output.parent.mkdir(parents=True, exist_ok=True)

    click.echo(f"benchmarking {model_name} version {version_dir.name}, {seconds:g} s per cell", err=True)
    cells = in_process_cells(version_dir, seconds)
    cells += embedded_cells(models_dir, model_name, None, seconds, output.parent)
    cells += embedded_cells(models_dir, model_name, batching_file, seconds, output.parent)
    if not skip_naive:
        cells += naive_cells(keras_model, seconds, output.parent)

    found = ratios(cells)
    click.echo(table(cells))
    click.echo("\nratios (same run, same machine):")
    for title, value in found:
        click.echo(f"  {title:<58} {value:6.2f}x")
    output.write_text(json.dumps({"cells": [asdict(c) | {"rps": c.rps} for c in cells],
                                  "ratios": dict(found), "seconds_per_cell": seconds}, indent=2))
    click.echo(f"\nwritten: {output}")
