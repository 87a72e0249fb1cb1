"""Throughput and latency through the balancer at several replica counts, side by side in one run
(`make loadtest-scale`, on the scale-out stack). The same load at each count, the counts alternated
(1, 3, 1, 3 by default) so that a noisy machine's drift falls on all of them; the host's CPU use
during each level says whether cores, not replicas, were the limit. The stack is left with as many
replicas as it had.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from tfserving_loadtest import locust_run, plots, preflight, report, run_dirs
from tfserving_loadtest.errors import LoadTestError
from tfserving_loadtest.report import say

from . import rollout
from .balancer import Balancer
from .project import Project

COLUMNS = ("replicas", "round", "users", "requests", "failures", "rps", "p50_ms", "p99_ms", "host_cpu_percent",
           "generator_cpu_peak_percent")
RATIO_COLUMNS = ("replicas", "median_rps", "median_p99_ms", "rps_vs_fewest", "median_host_cpu_percent")


@dataclass
class ScaleOptions:
    host: str  # the balancer's REST URL
    grpc_target: str
    model_name: str
    counts: tuple[int, ...] = (1, 3)
    rounds: int = 2
    level_seconds: float = 20.0
    users: int = 16
    protocol: str = "both"
    rows: int = 1
    workers: int = 1
    metrics_port: int = 0
    reports_dir: Path = Path("reports")


def run(project: Project, options: ScaleOptions) -> dict[str, Any]:
    serving = rollout.running(project)
    if not serving:
        raise LoadTestError("no replicas run: start the scale-out stack with `REPLICAS=3 make serve` (compose)")
    preflight.check_rest(options.host, options.model_name)
    if options.protocol in ("grpc", "both"):
        preflight.check_grpc(options.grpc_target)
    # New replicas are made like the newest one: same pinned version, same image.
    model_config, image, original = serving[-1].model_config, serving[-1].image, len(serving)
    balancer = Balancer.of(project)
    run_dir = run_dirs.new_run_dir(options.reports_dir, "scale")
    levels = [(count, round_) for round_ in range(1, options.rounds + 1) for count in options.counts]
    say(f"{options.users} users ({options.protocol}) for {options.level_seconds:.0f}s at "
        f"{', '.join(str(c) for c, _ in levels)} replicas -> {run_dir}")
    rows: list[dict[str, Any]] = []
    interrupted = False
    try:
        for count, round_ in levels:
            _scale(project, balancer, count, model_config, image)
            psutil.cpu_percent()  # starts the host's CPU measurement of this level
            spec = locust_run.LocustRun(
                label=f"{count}replicas-round{round_}", out_dir=run_dir, host=options.host,
                model_name=options.model_name, protocol=options.protocol, users=options.users,
                seconds=options.level_seconds, rows=options.rows, workers=options.workers,
                grpc_target=options.grpc_target, metrics_port=options.metrics_port,
            )
            try:
                result = locust_run.run(spec, progress=say)
            except locust_run.Interrupted as stop:
                result, interrupted = stop.result, True
            rows.append(report.run_row(result, replicas=count, round=round_, host_cpu_percent=psutil.cpu_percent()))
            if interrupted:
                break
    finally:
        _scale(project, balancer, original, model_config, image)
    failures = [f"{row['failures']} requests failed at {row['replicas']} replicas (round {row['round']})"
                for row in rows if row["failures"]]
    return _write(options, run_dir, rows, failures, interrupted)


def _scale(project: Project, balancer: Balancer, count: int, model_config: str, image: str) -> None:
    rollout.scale_to(project, count, model_config, image, timeout=300)
    rollout.wait_until(lambda: len(balancer.ready_addresses()) == count, f"the balancer seeing {count} replicas", 60)
    say(f"  {count} replica{'s' if count > 1 else ''} ready")


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per replica count: medians over the rounds, and throughput relative to the fewest replicas."""
    counts = sorted({row["replicas"] for row in rows})
    found = []
    for count in counts:
        mine = [row for row in rows if row["replicas"] == count]
        found.append({"replicas": count,
                      "median_rps": round(statistics.median(row["rps"] or 0 for row in mine), 1),
                      "median_p99_ms": statistics.median(row["p99_ms"] or 0 for row in mine),
                      "median_host_cpu_percent": round(statistics.median(row["host_cpu_percent"] for row in mine), 1)})
    fewest = found[0]["median_rps"] if found else 0
    for row in found:
        row["rps_vs_fewest"] = round(row["median_rps"] / fewest, 2) if fewest else None
    return found


def _write(options: ScaleOptions, run_dir: Path, rows: list[dict[str, Any]], failures: list[str],
           interrupted: bool) -> dict[str, Any]:
    found = ratios(rows)
    cores = os.cpu_count() or 1
    notes = [f"this machine has {cores} cores, shared by the replicas, the balancer and Locust; where the host's CPU "
             "is near 100% already with the fewest replicas, more replicas cannot add throughput"]
    warning = report.generator_warning(rows)
    if warning:
        notes.append(warning)
    summary = {
        "scenario": "scale", "interrupted": interrupted, "passed": not failures and not interrupted,
        "failures_found": failures, "config": {k: str(v) for k, v in vars(options).items()}, "cores": cores,
        "runs": rows, "ratios": found, "generator_bottleneck": bool(warning), "warnings": notes,
    }
    images = [plots.scaling(found, run_dir / "scaling.png")]
    return report.publish(run_dir, summary, report.Page(
        "Replica counts side by side",
        [("Per replica count (medians over the rounds)", found, RATIO_COLUMNS), ("Every level", rows, COLUMNS)],
        images, notes=notes, failures=failures,
        terminal=[report.table(rows, COLUMNS), report.table(found, RATIO_COLUMNS), *report.warnings(notes, "NOTE")]))
