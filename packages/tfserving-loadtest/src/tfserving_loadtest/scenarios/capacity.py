"""Capacity of a running server at a p99 objective: open-loop probes, doubling then bisecting
(capacity_search.py), with the latency-throughput curve and its knee."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import arrivals, capacity_search, plots, preflight, report, run_dirs, sources
from ..errors import LoadTestError
from ..report import say


@dataclass
class CapacityOptions:
    target: capacity_search.Target
    slo_ms: float
    max_error_rate: float = 0.001
    start_rate: float = 0.0  # 0: from the unloaded latency
    max_rate: float = 5000.0
    precision: float = 0.1
    max_probes: int = 12
    reports_dir: Path = Path("reports")


def check_objective(target: capacity_search.Target, slo_ms: float, start_rate: float, max_rate: float) -> tuple[float, float]:
    """Before any load: (the unloaded latency, the start rate); LoadTestError when the SLO is below
    that latency or a rate cannot be sent."""
    host, workers = target.host, target.workers
    bodies = sources.parse(target.requests).rest_bodies(target.model_name, target.rows, 22, 0)
    floor = preflight.floor_ms(host, target.model_name, bodies)
    if slo_ms <= floor:
        raise LoadTestError(
            f"an SLO of p99 <= {slo_ms:g} ms cannot be met: one request with no other load takes {floor:.1f} ms "
            f"(median of 20 sent one by one to {host}); choose --slo-ms above {floor:.1f}, "
            "several times it to leave room for queueing")
    start = start_rate or min(capacity_search.start_rate(floor), max_rate)
    if start > max_rate:
        raise LoadTestError(f"--start-rate {start:g} is above --max-rate {max_rate:g}")
    try:
        arrivals.check_feasible(max_rate, arrivals.users_for(max_rate, slo_ms / 1000), workers, floor)
    except ValueError as error:
        raise LoadTestError(f"--max-rate: {error}") from None
    return floor, start


def run(options: CapacityOptions) -> dict[str, Any]:
    target = options.target
    preflight.check_rest(target.host, target.model_name)
    if target.protocol in ("grpc", "both"):
        preflight.check_grpc(target.grpc_target)
    floor, start = check_objective(target, options.slo_ms, options.start_rate, options.max_rate)
    run_dir = run_dirs.new_run_dir(options.reports_dir, "capacity")
    say(f"capacity at p99 <= {options.slo_ms:g} ms and errors <= {options.max_error_rate:g}, from "
        f"{start:g} requests/s (unloaded: {floor:.1f} ms) -> {run_dir}")
    spec = capacity_search.SearchSpec(start_rate=start, max_rate=options.max_rate, precision=options.precision,
                               max_probes=options.max_probes)
    objective = capacity_search.Objective(options.slo_ms, options.max_error_rate)
    interrupted = False
    try:
        found = capacity_search.measure(target, spec, objective, run_dir, "capacity")
    except KeyboardInterrupt:  # nothing half-measured is worth a report here
        interrupted = True
        found = capacity_search.Capacity(objective)
    result = found.summary()
    summary: dict[str, Any] = {
        "scenario": "capacity", "interrupted": interrupted, "config": {k: str(v) for k, v in vars(options).items()},
        "unloaded_ms": round(floor, 2), "capacity": result, "runs": found.probes,
        "metrics": {"capacity_rps": result["capacity_rps"]},
    }
    images = [plots.capacity_curves({"server": found.probes}, {"server": found.passed}, options.slo_ms,
                                    run_dir / "latency_vs_throughput.png")] if found.probes else []
    headline = [{"slo_ms": options.slo_ms, "capacity_rps": found.passed, "note": result["note"]}]
    return report.publish(run_dir, summary, report.Page(
        f"Capacity at p99 <= {options.slo_ms:g} ms",
        [("Capacity", headline, ("slo_ms", "capacity_rps", "note")),
         ("Probes, in the order run", found.probes, capacity_search.PROBE_COLUMNS)], images,
        terminal=[report.table(found.probes, capacity_search.PROBE_COLUMNS),
                  f"capacity at p99 <= {options.slo_ms:g} ms: {found.passed} requests/s ({result['note']})"]))
