"""Batching off vs on: the same model, flags and load, at several concurrency levels, and the
capacity at a p99 objective of each.

The server runs twice (batching off, then on), each started by `start_server(batching, log)`: a
`--server-command` (server_command.py), or a project's own. Each level is its own short closed-loop Locust
run, so its numbers come straight from that run's CSV. Server-side figures (batch size, CPU) are
deltas of the server's metrics and of its process's CPU time over the level. Then an open-loop
capacity search (the toolkit's capacity_search.py) on the same server gives the headline: requests/s within the SLO.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import capacity_search, locust_run, plots, preflight, report, run_dirs, server_metrics
from ..report import say
from ..resources import CpuMeter, GpuSampler
from ..server_command import Server
from .capacity import check_objective

CAPACITY_COLUMNS = ("batching", "capacity_rps", "p99_at_capacity_ms", "first_failing_rps", "probes", "note")
COLUMNS = ("batching", "users", "rows", "requests", "failures", "rps", "rows_per_s", "p50_ms", "p95_ms", "p99_ms",
           "avg_batch_size", "server_cpu_cores", "requests_per_cpu_s", "gpu_util", "generator_cpu_peak_percent")
RATIO_COLUMNS = ("users", "throughput_on_off", "p99_on_off")


@dataclass
class BatchingOptions:
    start_server: Callable[[bool, Path], Server] = field(repr=False)  # (batching on, log file) -> a server
    model_name: str
    requests: str  # sources.parse
    levels: tuple[int, ...] = (1, 16, 64)
    level_seconds: float = 10.0
    protocol: str = "rest"
    rows: int = 1
    workers: int = 1
    metrics_port: int = 0
    reports_dir: Path = Path("reports")
    slo_ms: float | None = None  # None: no capacity search
    max_error_rate: float = 0.001  # of a probe that meets the objective
    probe_seconds: float = 5.0
    max_probes: int = 10
    precision: float = 0.1


def run(options: BatchingOptions) -> dict[str, Any]:
    run_dir = run_dirs.new_run_dir(options.reports_dir, "batching")
    rows: list[dict[str, Any]] = []
    histograms: dict[str, dict[float, float]] = {}
    capacities: dict[str, capacity_search.Capacity] = {}
    start_rate = 0.0
    interrupted = False
    say(f"batching off vs on at {list(options.levels)} users, {options.level_seconds:.0f}s each -> {run_dir}")
    try:
        for mode in ("off", "on"):
            say(f"starting the model server with batching {mode}")
            server = options.start_server(mode == "on", run_dir / f"server-batching-{mode}.log")
            try:
                preflight.check_rest(server.rest_url, options.model_name)
                target = capacity_search.Target(host=server.rest_url, grpc_target=server.grpc_target,
                                                model_name=options.model_name, protocol=options.protocol,
                                                rows=options.rows, workers=options.workers,
                                                probe_seconds=options.probe_seconds, requests=options.requests)
                if options.slo_ms and not start_rate:  # before any load: can the objective be met at all?
                    _, start_rate = check_objective(target, options.slo_ms, 0.0, capacity_search.MAX_RATE)
                for users in options.levels:
                    say(f"batching {mode}, {users} users: {options.level_seconds:.0f}s")
                    row, histogram = _level(options, server, mode, users, run_dir)
                    rows.append(row)
                    if mode == "on" and histogram:
                        histograms[f"{users} users"] = histogram
                if options.slo_ms:
                    say(f"batching {mode}: capacity at p99 <= {options.slo_ms:g} ms")
                    spec = capacity_search.SearchSpec(start_rate, precision=options.precision,
                                                      max_probes=options.max_probes)
                    objective = capacity_search.Objective(options.slo_ms, options.max_error_rate)
                    capacities[mode] = capacity_search.measure(target, spec, objective, run_dir, f"capacity-{mode}")
            finally:
                server.stop()
    except locust_run.Interrupted as stop:
        interrupted = True
        rows.append(report.run_row(stop.result, batching="interrupted"))
        say("interrupted: writing what was measured")
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: writing what was measured")
    return _write(options, run_dir, rows, histograms, capacities, interrupted)


def _level(options: BatchingOptions, server: Server, mode: str, users: int,
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
            metrics_port=options.metrics_port, requests=options.requests,
        ), progress=say)
    finally:
        cpu.stop()
        reading = gpu.stop()
    batching = server_metrics.batching_delta(before, server_metrics.scrape(server.rest_url), options.model_name, options.rows)
    # The server idles while Locust starts, so its CPU is divided by the loaded seconds only.
    cores = cpu.cpu_seconds / options.level_seconds
    rps = result.stats.get("Requests/s")
    row = report.run_row(
        result, batching=mode, protocol=options.protocol, rows=options.rows,
        rows_per_s=round(float(rps) * options.rows, 1) if rps is not None else None,
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
           histograms: dict[str, dict[float, float]], capacities: dict[str, capacity_search.Capacity],
           interrupted: bool) -> dict[str, Any]:
    ratio_rows = ratios(rows)
    capacity_rows = [{"batching": mode, **found.summary()} for mode, found in capacities.items()]
    found_rps = {mode: found.passed for mode, found in capacities.items()}
    capacity_ratio = _ratio(found_rps.get("on"), found_rps.get("off"))
    warning = report.generator_warning(rows)
    warnings = [warning] if warning else []
    summary: dict[str, Any] = {
        "scenario": "batching", "interrupted": interrupted,
        "config": {k: str(v) for k, v in vars(options).items() if k != "start_server"},
        "runs": rows, "ratios": ratio_rows, "slo_ms": options.slo_ms, "capacity": capacity_rows,
        "capacity_probes": {mode: found.probes for mode, found in capacities.items()},
        "metrics": {"capacity_off_rps": found_rps.get("off"), "capacity_on_rps": found_rps.get("on"),
                    "capacity_on_off": capacity_ratio},
        "batch_size_histograms": {k: {str(le): n for le, n in h.items()} for k, h in histograms.items()},
        "generator_bottleneck": bool(warning), "warnings": warnings,
    }
    images = []
    measured = [r for r in rows if r.get("batching") in ("off", "on")]
    if measured:
        images.append(plots.batching_curves(measured, run_dir / "throughput_latency_vs_concurrency.png"))
        images.append(plots.batch_sizes(histograms, run_dir / "batch_size_distribution.png"))
    if capacities and options.slo_ms:
        images.insert(0, plots.capacity_curves({f"batching {m}": f.probes for m, f in capacities.items()},
                                               {f"batching {m}": f.passed for m, f in capacities.items()},
                                               options.slo_ms, run_dir / "capacity_latency_vs_throughput.png"))
    notes = [*warnings, "Single runs on a shared machine are noisy: read the ratios, not the digits."]
    sections: list[tuple[str, Any, Any]] = []
    if capacity_rows:
        sections.append((f"Capacity at p99 <= {options.slo_ms:g} ms (open loop): on/off x{capacity_ratio}",
                         capacity_rows, CAPACITY_COLUMNS))
    sections += [("Closed loop: on/off ratios", ratio_rows, RATIO_COLUMNS), ("Closed loop: per level", rows, COLUMNS)]
    terminal = [report.table(rows, COLUMNS), "\non/off ratios (throughput: >1 is better with batching; p99: <1 is better)",
                report.table(ratio_rows, RATIO_COLUMNS)]
    if capacity_rows:
        terminal += [f"\ncapacity at p99 <= {options.slo_ms:g} ms (open loop; on/off x{capacity_ratio})",
                     report.table(capacity_rows, CAPACITY_COLUMNS)]
    return report.publish(run_dir, summary, report.Page("Batching off vs on", sections, images, notes=notes,
                                                        terminal=[*terminal, *report.warnings(warnings)]))
