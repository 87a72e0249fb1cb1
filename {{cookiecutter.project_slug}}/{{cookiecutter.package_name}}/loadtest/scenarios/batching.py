"""Batching off vs on: the same model, flags and load, at several concurrency levels.

The server runs twice (batching off, then on); each level is its own short Locust run, so its
numbers come straight from that run's CSV. Server-side figures (batch size, CPU) are deltas of
the server's metrics and of its process's CPU time over the level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedded_tfserving.process import ServerProcess

from .. import locust_run, plots, preflight, report, server_metrics
from ..report import say
from ..resources import CpuMeter, GpuSampler
from .common import models_root, server_flags, start_server

COLUMNS = ("batching", "users", "requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms",
           "avg_batch_size", "server_cpu_cores", "requests_per_cpu_s", "gpu_util", "generator_cpu_peak_percent")
RATIO_COLUMNS = ("users", "throughput_on_off", "p99_on_off")


@dataclass
class BatchingOptions:
    models_dir: Path
    model_name: str
    levels: tuple[int, ...] = (1, 16, 64)
    level_seconds: float = 10.0
    protocol: str = "rest"
    rows: int = 1
    workers: int = 1
    metrics_port: int = 0
    in_place: bool = False
    reports_dir: Path = Path("reports")


def run(options: BatchingOptions) -> dict[str, Any]:
    preflight.newest_version(options.models_dir, options.model_name)  # fail before creating a report folder
    run_dir = report.new_run_dir(options.reports_dir, "batching")
    rows: list[dict[str, Any]] = []
    histograms: dict[str, dict[float, float]] = {}
    interrupted = False
    say(f"batching off vs on at {list(options.levels)} users, {options.level_seconds:.0f}s each -> {run_dir}")
    with models_root(options.models_dir, options.model_name, options.in_place) as models:
        try:
            for mode in ("off", "on"):
                say(f"starting the embedded server with batching {mode}")
                server = start_server(server_flags(models, batching=mode == "on"), run_dir / f"server-batching-{mode}.log")
                try:
                    preflight.check_rest(server.rest_url, options.model_name)
                    for users in options.levels:
                        say(f"batching {mode}, {users} users: {options.level_seconds:.0f}s")
                        row, histogram = _level(options, server, mode, users, run_dir)
                        rows.append(row)
                        if mode == "on" and histogram:
                            histograms[f"{users} users"] = histogram
                finally:
                    server.stop()
        except locust_run.Interrupted as stop:
            interrupted = True
            rows.append(report.run_row(stop.result, batching="interrupted"))
            say("interrupted: writing what was measured")
        except KeyboardInterrupt:
            interrupted = True
            say("interrupted: writing what was measured")
    return _write(options, run_dir, rows, histograms, interrupted)


def _level(options: BatchingOptions, server: ServerProcess, mode: str, users: int,
           run_dir: Path) -> tuple[dict[str, Any], dict[float, float]]:
    before = server_metrics.scrape(server.rest_url)
    assert server.pid is not None, "the server was started"
    cpu, gpu = CpuMeter(server.pid).start(), GpuSampler()
    gpu.start()
    try:
        result = locust_run.run(locust_run.LocustRun(
            label=f"batching-{mode}-{users}users", out_dir=run_dir, host=server.rest_url,
            model_name=options.model_name, protocol=options.protocol, users=users, seconds=options.level_seconds,
            rows=options.rows, workers=options.workers, grpc_target=server.grpc_target,
            metrics_port=options.metrics_port,
        ), progress=say)
    finally:
        cpu.stop()
        reading = gpu.stop()
    batching = server_metrics.batching_delta(before, server_metrics.scrape(server.rest_url), options.model_name, options.rows)
    # The server idles while Locust starts, so its CPU is divided by the loaded seconds only.
    cores = cpu.cpu_seconds / options.level_seconds
    row = report.run_row(
        result, batching=mode, protocol=options.protocol,
        avg_batch_size=None if batching.average_batch_size is None else round(batching.average_batch_size, 2),
        server_batches=batching.batches, server_cpu_seconds=round(cpu.cpu_seconds, 2),
        server_cpu_cores=round(cores, 2),
        requests_per_cpu_s=round(result.requests / cpu.cpu_seconds, 1) if cpu.cpu_seconds > 0 else None,
        gpu_util=f"{reading.utilisation:.0f}% ({reading.name})" if reading else "no GPU",
    )
    return row, batching.batch_size_histogram if mode == "on" else {}


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """On/off ratios per level: throughput (higher is better) and p99 (lower is better)."""
    by_key = {(r.get("batching"), r["users"]): r for r in rows}
    result = []
    for users in sorted({r["users"] for r in rows}):
        off, on = by_key.get(("off", users)), by_key.get(("on", users))
        if off and on:
            result.append({"users": users, "throughput_on_off": _ratio(on["rps"], off["rps"]),
                           "p99_on_off": _ratio(on["p99_ms"], off["p99_ms"])})
    return result


def _ratio(a: Any, b: Any) -> float | None:
    try:
        return round(float(a) / float(b), 2) if float(b) and not math.isnan(float(a) / float(b)) else None
    except (TypeError, ValueError):
        return None


def _write(options: BatchingOptions, run_dir: Path, rows: list[dict[str, Any]],
           histograms: dict[str, dict[float, float]], interrupted: bool) -> dict[str, Any]:
    ratio_rows = ratios(rows)
    warning = report.generator_warning(rows)
    warnings = [warning] if warning else []
    summary: dict[str, Any] = {
        "scenario": "batching", "interrupted": interrupted,
        "config": {k: str(v) for k, v in vars(options).items()},
        "runs": rows, "ratios": ratio_rows,
        "batch_size_histograms": {k: {str(le): n for le, n in h.items()} for k, h in histograms.items()},
        "generator_bottleneck": bool(warning), "warnings": warnings,
    }
    images = []
    measured = [r for r in rows if r.get("batching") in ("off", "on")]
    if measured:
        images.append(plots.batching_curves(measured, run_dir / "throughput_latency_vs_concurrency.png"))
        images.append(plots.batch_sizes(histograms, run_dir / "batch_size_distribution.png"))
    report.write_summary(run_dir, summary)
    notes = [*warnings, "Single runs on a shared machine are noisy: read the ratios, not the digits."]
    report.write_html(run_dir, "Batching off vs on", [("On/off ratios", ratio_rows, RATIO_COLUMNS),
                                                       ("Per level", rows, COLUMNS)], images, notes=notes)
    say(report.table(rows, COLUMNS))
    say("\non/off ratios (throughput: >1 is better with batching; p99: <1 is better)")
    say(report.table(ratio_rows, RATIO_COLUMNS))
    for note in warnings:
        say(f"WARNING: {note}")
    say(f"report: {run_dir / 'report.html'}")
    summary["run_dir"] = str(run_dir)
    return summary
