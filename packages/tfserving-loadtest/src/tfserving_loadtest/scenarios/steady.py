"""Steady (or step / spike) load against a server that already runs: closed loop, or open loop at
a fixed arrival rate (arrivals.py); the report has the timeline of every request and the windows
in which requests failed (a restart, say)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import arrivals, locust_run, plots, preflight, report, run_dirs, sources
from ..errors import LoadTestError
from ..report import say
from ..stats import failure_windows

COLUMNS = ("label", "users", "workers", "requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms",
           "generator_cpu_peak_percent", "requests_per_worker")
OPEN_LOOP_COLUMNS = ("label", "users", "target_rps", "requests", "failures", "rps", "missed_sends", "max_send_lag_ms",
                     "p50_ms", "p95_ms", "p99_ms", "generator_cpu_peak_percent")


@dataclass
class SteadyOptions:
    host: str
    grpc_target: str
    model_name: str
    protocol: str = "rest"
    users: int = 8
    spawn_rate: float = 0.0
    duration: float = 30.0
    rows: int = 1
    workers: int = 1
    metrics_port: int = 0
    shape: list[str] = field(default_factory=list)  # Locust shape options
    reports_dir: Path = Path("reports")
    rate: float = 0.0  # above 0: open loop at this many requests/s
    arrivals: str = "poisson"
    requests: str = ""  # sources.parse; "": the locustfile's default (open loop then needs one for its check)


def run(options: SteadyOptions) -> dict[str, Any]:
    preflight.check_rest(options.host, options.model_name)
    if options.protocol in ("grpc", "both"):
        preflight.check_grpc(options.grpc_target)
    if options.rate:
        bodies = sources.parse(options.requests).rest_bodies(options.model_name, options.rows, 22, 0)
        floor = preflight.floor_ms(options.host, options.model_name, bodies)
        try:
            arrivals.check_feasible(options.rate, options.users, options.workers, floor)
        except ValueError as error:
            raise LoadTestError(f"--rate: {error}") from None
    run_dir = run_dirs.new_run_dir(options.reports_dir, "steady")
    loop = f"open loop at {options.rate:g} requests/s ({options.arrivals}), at most" if options.rate else ""
    say(f"steady load: {loop} {options.users} {options.protocol} users for {options.duration:.0f}s -> {run_dir}")
    spec = locust_run.LocustRun(
        label="steady", out_dir=run_dir, host=options.host, model_name=options.model_name,
        protocol=options.protocol, users=options.users, spawn_rate=options.spawn_rate, seconds=options.duration,
        rows=options.rows, workers=options.workers, grpc_target=options.grpc_target,
        metrics_port=options.metrics_port, shape_options=options.shape, request_log=True,
        arrival_rate=options.rate, arrivals=options.arrivals, requests=options.requests,
    )
    interrupted = False
    try:
        result = locust_run.run(spec, progress=say)
    except locust_run.Interrupted as stop:
        result, interrupted = stop.result, True
    if not result.stats:
        raise LoadTestError(f"Locust wrote no statistics (exit code {result.returncode}); see its log {result.log}")
    row = report.run_row(result, protocol=options.protocol)
    requests = locust_run.read_requests(result.request_logs)
    start = requests[0][0] if requests else 0.0
    # When requests failed: a server restart, say, shows as one window of failures.
    windows = failure_windows(requests, start)
    warning = report.generator_warning([row])
    warnings = [w for w in (warning, row.get("rate_warning")) if w]
    columns = OPEN_LOOP_COLUMNS if options.rate else COLUMNS
    summary = {
        "scenario": "steady", "interrupted": interrupted,
        "config": {k: str(v) for k, v in vars(options).items()},
        "runs": [row], "failure_windows": windows, "generator_bottleneck": bool(warning), "warnings": warnings,
    }
    markers = [(w["start_s"], f"{w['failures']} failed until {w['end_s']:g} s", "red") for w in windows]
    images = [plots.history_timeline(run_dir / "steady_stats_history.csv", run_dir / "timeline.png"),
              plots.latency_timeline([(t - start, ms, ok, v) for t, ms, ok, v in requests], markers,
                                     run_dir / "latency_timeline.png", "Every request's latency (red: failed)")]
    sections: list[tuple[str, Sequence[dict[str, Any]], Sequence[str]]] = [("Result", [row], columns)]
    if windows:
        sections.append(("Failed windows", windows, ("start_s", "end_s", "failures")))
    lines = [f"failed requests from {w['start_s']:g} s to {w['end_s']:g} s: {w['failures']}" for w in windows]
    return report.publish(run_dir, summary, report.Page(
        "Steady load", sections, images, notes=warnings,
        terminal=[report.table([row], columns), *lines, *report.warnings(warnings)]))
